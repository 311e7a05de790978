/**
 * The Tigase group chat filter and the encrypted payload's `groupchat` and `subscribe` types end
 * to end (issue 14): compiled daemon, real Prosody with the bridge, slixmpp clients, the Siskin
 * enable and an app service that DECRYPTS every payload with the client's key.
 *
 * The rooms of the filter test are local accounts acting as rooms, not a MUC: a room message
 * reaches an offline user's bare JID (the bridge's `message/bare/groupchat` hook, B38) only with
 * mod_muc_offline_delivery, which neither Prosody here has (Debian 12's prosody-modules lacks it,
 * the Prosody 13 chroot has no prosody-modules). A `type='groupchat'` message from `room@localhost/nick`
 * to alice's bare JID fires the same hook with the same stanza shape (room bare JID, nick as resource).
 * A real MUC (Prosody's own mod_muc, both versions) is tested too, on the path that needs no
 * prosody-modules: alice is an occupant whose session hibernates, so room messages reach the daemon
 * through the smacks queue (B31/B30).
 */
import { expect, test } from "bun:test";

import { decryptingAppService, newPushKey } from "../helpers/decrypting-app-service.ts";
import { enableSiskin } from "../helpers/siskin-enable.ts";
import { eventually, history, type PushStack, usePushStacks } from "../helpers/push-stack.ts";
import { describeProsody } from "../helpers/prosody-versions.ts";
import type { TestClient } from "../helpers/xmpp-client.ts";

const DAEMON_ENV = { CLOUD_NOTIFYD_PUSH_PRIORITY: "true", CLOUD_NOTIFYD_LOG_LEVEL: "debug" };
const NS_REFERENCE = "urn:xmpp:reference:0";

function raw(c: TestClient, xml: string): void {
  c.command({ cmd: "raw", xml });
}

/** A room message to alice's bare JID, with optional extra children (a reference). */
function roomMessage(id: string, body: string, extra = ""): string {
  return `<message to='alice@localhost' type='groupchat' id='${id}'><body>${body}</body>${extra}</message>`;
}

function mention(uri: string): string {
  return `<reference xmlns='${NS_REFERENCE}' type='mention' begin='0' end='4' uri='${uri}'/>`;
}

/** Waits until the history holds `count` rows (one per push attempt of the single registration). */
async function historyRows(s: PushStack, count: number): Promise<void> {
  await eventually(async () => ((await history(s)).length >= count ? true : undefined), 8000, `${count} history rows`);
}

async function waitHibernating(s: PushStack): Promise<void> {
  await eventually(
    async () =>
      (await s.admin<{ sessions?: Array<{ hibernating: boolean }> }>("/users/alice")).body.sessions?.some((x) => x.hibernating)
        ? true
        : undefined,
    8000,
    "a hibernating session",
  );
}

describeProsody("Tigase group chat filter and payload types end to end", (version) => {
  const stack = usePushStacks(version);

  test("E3 E3.2 E1 B38 groupchat filter: always pushes (type groupchat, nickname), never vetoes, mentioned pushes only on a mention (reference to the JID or room/nick, or the nick in the body), a room not listed pushes", async () => {
    const s = await stack({ users: ["alice", "lounge", "quiet", "team", "other"], daemonEnv: DAEMON_ENV });
    const key = newPushKey();
    const opened = decryptingAppService(s.app, new Map([["siskin-g", key]]));
    const phone = await s.client("alice", "phone", { sm: false });
    const filter =
      `<groupchat xmlns='tigase:push:filter:groupchat:0'>` +
      `<room jid='lounge@localhost' allow='always'/>` +
      `<room jid='quiet@localhost' allow='never'/>` +
      `<room jid='team@localhost' allow='mentioned' nick='Ally'/>` +
      `</groupchat>`;
    await enableSiskin(phone, "siskin-g", key, filter);
    await phone.quit();

    const lounge = await s.client("lounge", "bob");
    const quiet = await s.client("quiet", "bob");
    const teamBob = await s.client("team", "bob");
    const teamCarol = await s.client("team", "carol");
    const other = await s.client("other", "dave");
    // one at a time, each waited for, so the pushes and vetoes come in this order
    const steps: Array<[TestClient, string]> = [
      [lounge, roomMessage("g1", "lounge talk")],
      [quiet, roomMessage("g2", "quiet talk")],
      [teamBob, roomMessage("g3", "nobody in particular")],
      [teamBob, roomMessage("g4", "bob is mentioned", mention("xmpp:bob@localhost"))],
      [teamBob, roomMessage("g5", "alice look", mention("xmpp:alice@localhost"))],
      [teamCarol, roomMessage("g6", "hey ALLY, lunch?")],
      [teamBob, roomMessage("g7", "Ally: by occupant JID", mention("xmpp:team@localhost/Ally"))],
      [other, roomMessage("g8", "unlisted room talk")],
    ];
    for (const [i, [client, xml]] of steps.entries()) {
      raw(client, xml);
      await historyRows(s, i + 1);
    }
    await Bun.sleep(500);

    expect(opened.failures).toEqual([]);
    expect(opened.opened.map((o) => o.json)).toEqual([
      { unread: 1, sender: "lounge@localhost", message: "lounge talk", type: "groupchat", nickname: "bob" },
      // unread counts every message since alice left, the vetoed ones too
      { unread: 5, sender: "team@localhost", message: "alice look", type: "groupchat", nickname: "bob" },
      { unread: 6, sender: "team@localhost", message: "hey ALLY, lunch?", type: "groupchat", nickname: "carol" },
      { unread: 7, sender: "team@localhost", message: "Ally: by occupant JID", type: "groupchat", nickname: "bob" },
      { unread: 8, sender: "other@localhost", message: "unlisted room talk", type: "groupchat", nickname: "dave" },
    ]);
    for (const o of opened.opened) {
      expect(o.type).toBeNull();
      expect(o.hasSummaryForm).toBe(false);
    }
    expect(s.app.publishes.length).toBe(5);
    const rows = (await history(s)).reverse(); // oldest first
    expect(rows.map((r) => [r.trigger, r.outcome, r.error])).toEqual([
      ["groupchat-bare", "ok", null],
      ["groupchat-bare", "vetoed", "filters: muted group chat"],
      ["groupchat-bare", "vetoed", "filters: not mentioned"],
      ["groupchat-bare", "vetoed", "filters: not mentioned"],
      ["groupchat-bare", "ok", null],
      ["groupchat-bare", "ok", null],
      ["groupchat-bare", "ok", null],
      ["groupchat-bare", "ok", null],
    ]);
  });

  test("E3.2 E1 B31 B30 a real MUC (mod_muc): an occupant's hibernating session gets room messages in its smacks queue; mentioned vetoes the plain one and pushes the one naming her nick, type groupchat with the speaker's nick", async () => {
    const s = await stack({
      users: ["alice", "bob"],
      daemonEnv: DAEMON_ENV,
      prosody: { extraConfig: `Component "conference.localhost" "muc"\n  muc_room_locking = false\n  muc_room_default_public = true` },
    });
    const key = newPushKey();
    const opened = decryptingAppService(s.app, new Map([["siskin-m", key]]));
    const join = (c: TestClient, nick: string) =>
      raw(c, `<presence to='team@conference.localhost/${nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    const bob = await s.client("bob", "pc");
    join(bob, "bob");
    await Bun.sleep(500);
    const phone = await s.client("alice", "phone");
    join(phone, "Ally");
    await Bun.sleep(300);
    raw(bob, `<message to='team@conference.localhost' type='groupchat' id='r0'><body>welcome</body></message>`);
    await phone.waitFor((e) => e.event === "message" && e.type === "groupchat" && e.body === "welcome", 8000, "alice in the room");
    const filter = `<groupchat xmlns='tigase:push:filter:groupchat:0'><room jid='team@conference.localhost' allow='mentioned' nick='Ally'/></groupchat>`;
    await enableSiskin(phone, "siskin-m", key, filter);
    await Bun.sleep(500);
    phone.command({ cmd: "drop" });
    await waitHibernating(s);
    await Bun.sleep(1500); // whatever was unacked at the cut has been handled (B33)
    const before = (await history(s)).length;

    raw(bob, `<message to='team@conference.localhost' type='groupchat' id='r1'><body>plain room talk</body></message>`);
    await historyRows(s, before + 1);
    await Bun.sleep(1200); // the next message in a batch of its own (B30: one important push per batch)
    raw(bob, `<message to='team@conference.localhost' type='groupchat' id='r2'><body>ally, are you there?</body></message>`);
    await eventually(async () => (opened.opened.some((o) => o.json.type === "groupchat") ? true : undefined), 8000, "the mention's push");
    await Bun.sleep(1500);

    expect(opened.failures).toEqual([]);
    expect(opened.opened.filter((o) => o.json.type === "groupchat").map((o) => o.json)).toMatchObject([
      { sender: "team@conference.localhost", message: "ally, are you there?", type: "groupchat", nickname: "bob" },
    ]);
    const all = await history(s); // newest first
    const rows = all.slice(0, all.length - before).reverse();
    expect(rows.map((r) => [r.trigger, r.outcome, r.error])).toEqual([
      ["session-queue", "vetoed", "filters: not mentioned"],
      ["session-queue", "ok", null],
    ]);
  });

  test("E1 a presence subscription request queued on a hibernating session is an encrypted push of type subscribe from the requester", async () => {
    const s = await stack({ users: ["alice", "bob"], daemonEnv: DAEMON_ENV });
    const key = newPushKey();
    const opened = decryptingAppService(s.app, new Map([["siskin-s", key]]));
    const phone = await s.client("alice", "phone");
    await enableSiskin(phone, "siskin-s", key);
    phone.command({ cmd: "drop" }); // hibernates: presence reaches the daemon only through the smacks queue
    await waitHibernating(s);
    const bob = await s.client("bob", "pc");
    raw(bob, `<presence to='alice@localhost' type='subscribe'/>`);
    await eventually(async () => (opened.opened.length >= 1 ? true : undefined), 8000, "a subscribe push");
    await Bun.sleep(1500);
    expect(opened.failures).toEqual([]);
    expect(opened.opened.map((o) => o.json)).toEqual([{ unread: 1, sender: "bob@localhost", type: "subscribe" }]);
    expect(opened.opened[0]?.type).toBeNull();
    expect(opened.opened[0]?.hasSummaryForm).toBe(false);
  });
});
