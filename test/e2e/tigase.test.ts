/**
 * The Tigase push extensions end to end (issue 14): the compiled daemon, real Prosody with the
 * bridge, slixmpp clients sending the enable stanzas Siskin/TigaseSwift send (raw XML, built after
 * TigaseSwift's PushNotificationsModule extensions), and an app service that DECRYPTS every
 * payload with the client's key (test/helpers/decrypting-app-service.ts, Node's crypto).
 */
import { expect, test } from "bun:test";
import { parse } from "ltx";

import { NS_DATA, NS_PUSH } from "../helpers/app-service.ts";
import { decryptingAppService, decryptNotification, newPushKey, notificationOf, openPayload } from "../helpers/decrypting-app-service.ts";
import {
  APP_DOMAIN,
  disableXml,
  eventually,
  history,
  PUBLISH_OPTIONS_FORM_TYPE,
  type PushStack,
  registrations,
  usePushStacks,
} from "../helpers/push-stack.ts";
import { describeProsody } from "../helpers/prosody-versions.ts";
import type { TestClient } from "../helpers/xmpp-client.ts";

const TIGASE_FEATURES = [
  "tigase:push:encrypt:0",
  "tigase:push:encrypt:aes-128-gcm",
  "tigase:push:jingle:0",
  "tigase:push:filter:ignore-unknown:0",
  "tigase:push:filter:muted:0",
  "tigase:push:filter:groupchat:0",
  "tigase:push:priority:0",
];

/** `<enable>` as TigaseSwift builds it: publish-options form, then Encryption, Priority, Jingle and the filters' apply(to:). */
function siskinEnable(id: string, node: string, key: string, extra = ""): string {
  return (
    `<iq type='set' id='${id}'><enable xmlns='${NS_PUSH}' jid='${APP_DOMAIN}' node='${node}'>` +
    `<x xmlns='${NS_DATA}' type='submit'><field var='FORM_TYPE'><value>${PUBLISH_OPTIONS_FORM_TYPE}</value></field></x>` +
    `<encrypt xmlns='tigase:push:encrypt:0' alg='aes-128-gcm' max-size='3072'>${key}</encrypt>` +
    `<priority xmlns='tigase:push:priority:0'/><jingle xmlns='tigase:push:jingle:0'/>${extra}</enable></iq>`
  );
}

async function enableSiskin(c: TestClient, node: string, key: string, extra = ""): Promise<void> {
  const reply = await c.iq(siskinEnable(`en-${node}`, node, key, extra), `en-${node}`);
  if (reply.type !== "result") throw new Error(`Cannot enable push for ${c.jid}: ${String(reply.xml)}`);
}

function raw(c: TestClient, xml: string): void {
  c.command({ cmd: "raw", xml });
}

const DAEMON_ENV = { CLOUD_NOTIFYD_PUSH_PRIORITY: "true", CLOUD_NOTIFYD_LOG_LEVEL: "debug" };

/** No key and no body in the daemon's log, the history or the admin API (D17, issue 14 item 3). */
async function expectNoSecrets(s: PushStack, secrets: string[]): Promise<void> {
  const api = [
    JSON.stringify(await history(s)),
    JSON.stringify((await s.admin("/users/alice")).body),
    JSON.stringify((await registrations(s)).regs),
  ].join("\n");
  const logs = s.daemon.logs();
  expect(logs.length).toBeGreaterThan(0);
  for (const secret of secrets) {
    expect(logs).not.toContain(secret);
    expect(api).not.toContain(secret);
  }
}

describeProsody("Tigase push extensions end to end", (version) => {
  const stack = usePushStacks(version);

  test("B2 E1 E1.1 E1.6 E2 disco lists the Tigase features; offline messages arrive encrypted (real GCM tag), no summary form, fixed text for OMEMO; no key or body leaks", async () => {
    const s = await stack({ users: ["alice", "bob"], daemonEnv: DAEMON_ENV });
    const key = newPushKey();
    const opened = decryptingAppService(s.app, new Map([["siskin-1", key]]));
    const phone = await s.client("alice", "phone", { sm: false });
    const disco = await phone.iq(
      `<iq type='get' id='d1' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
      "d1",
    );
    const features = (parse(String(disco.xml)).getChild("query")?.getChildren("feature") ?? []).map((f) => f.attrs.var);
    for (const f of [NS_PUSH, ...TIGASE_FEATURES]) expect(features).toContain(f);
    // wrong algorithm / wrong key: errors as mod_cloud_notify_encrypted answers, nothing stored
    const badAlg = await phone.iq(siskinEnable("b1", "bad", key).replace("alg='aes-128-gcm'", "alg='aes-256-gcm'"), "b1");
    expect(badAlg.type).toBe("error");
    expect(String(badAlg.xml)).toContain("feature-not-implemented");
    const badKey = await phone.iq(siskinEnable("b2", "bad", Buffer.alloc(8).toString("base64")), "b2");
    expect(String(badKey.xml)).toContain("bad-request");
    await enableSiskin(phone, "siskin-1", key);
    expect((await registrations(s)).regs.map((r) => r.node)).toEqual(["siskin-1"]);
    await phone.quit();

    const bob = await s.client("bob", "pc");
    const body = "meet me at the old mill 4b1e";
    bob.command({ cmd: "message", to: "alice@localhost", body, id: "m1" });
    await s.app.waitForCount(1);
    raw(
      bob,
      `<message to='alice@localhost' type='chat' id='m2'><encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><iv>SUZJVg==</iv></header><payload>T01FTUFDSVBIRVJURVhU</payload></encrypted><body>I sent you an OMEMO encrypted message but your client doesn’t seem to support that.</body><store xmlns='urn:xmpp:hints'/></message>`,
    );
    const long = `${"ü".repeat(140)}TAIL-9f2`;
    bob.command({ cmd: "message", to: "alice@localhost", body: long, id: "m3" });
    await s.app.waitForCount(3);

    expect(opened.failures).toEqual([]);
    expect(opened.opened.map((o) => o.json)).toEqual([
      { unread: 1, sender: "bob@localhost", message: body, type: "chat" },
      { unread: 2, sender: "bob@localhost", message: "You have received an encrypted message", type: "chat" },
      { unread: 3, sender: "bob@localhost", message: "ü".repeat(127), type: "chat" },
    ]);
    for (const o of opened.opened) {
      expect(o.hasSummaryForm).toBe(false);
      expect(o.type).toBeNull();
      expect(String(o.element.getText()).length).toBeLessThanOrEqual(3072);
    }
    // E2: important pushes also carry the priority; the app service sees only ciphertext
    const first = s.app.publishes[0];
    if (first === undefined) throw new Error("no publish");
    expect(notificationOf(first)?.getChild("priority", "tigase:push:priority:0")?.getText()).toBe("high");
    expect(first.iq.toString()).not.toContain("old mill");
    // a tampered payload does not open (the tag is verified)
    const el = decryptNotification(first, key)?.element;
    const data = Buffer.from(String(el?.getText()), "base64");
    data[data.length - 1] = (data[data.length - 1] ?? 0) ^ 0x80;
    expect(() => openPayload(key, String(el?.attrs.iv), data.toString("base64"))).toThrow();
    await expectNoSecrets(s, [key, body, "old mill", "T01FTUFDSVBIRVJURVhU", "TAIL-9f2"]);
  });

  test("E1.4 a call proposal rings at once: a type='voip' push to every registration, the hibernating device's and the online one's", async () => {
    const s = await stack({ users: ["alice", "bob"], daemonEnv: DAEMON_ENV });
    const k1 = newPushKey();
    const k2 = newPushKey();
    const opened = decryptingAppService(
      s.app,
      new Map([
        ["phone-a", k1],
        ["phone-b", k2],
      ]),
    );
    const a = await s.client("alice", "a");
    await enableSiskin(a, "phone-a", k1);
    const b = await s.client("alice", "b");
    await enableSiskin(b, "phone-b", k2);
    a.command({ cmd: "drop" }); // hibernates (stream management)
    await eventually(
      async () =>
        (await s.admin<{ sessions: Array<{ hibernating: boolean }> }>("/users/alice")).body.sessions?.some((x) => x.hibernating)
          ? true
          : undefined,
      8000,
      "a hibernating session",
    );
    const bob = await s.client("bob", "pc");
    const sentAt = Date.now();
    raw(
      bob,
      `<message to='alice@localhost' type='chat' id='call-1'><propose xmlns='urn:xmpp:jingle-message:0' id='sid-77'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose><store xmlns='urn:xmpp:hints'/></message>`,
    );
    await eventually(async () => (opened.opened.length >= 2 ? true : undefined), 5000, "two call pushes");
    const took = Math.max(...s.app.publishes.slice(0, 2).map((p) => p.wallAt)) - sentAt;
    expect(took).toBeLessThan(900); // the session batch waits 1000 ms (B30); a call does not
    expect(opened.failures).toEqual([]);
    expect(opened.opened.map((o) => o.node).sort()).toEqual(["phone-a", "phone-b"]);
    for (const o of opened.opened) {
      expect(o.type).toBe("voip");
      expect(o.json).toEqual({ unread: 1, sender: "bob@localhost/pc", type: "call", sid: "sid-77", media: ["audio"] });
    }
    await Bun.sleep(1500);
    expect(s.app.publishes.length).toBe(2); // once per registration (D8)
  });

  test("E3 E3.1 ignore-unknown with the server's roster: a stranger is not pushed, a subscribed contact is; a muted contact is not", async () => {
    const s = await stack({ users: ["alice", "bob", "carol", "dave"], daemonEnv: DAEMON_ENV });
    const key = newPushKey();
    const opened = decryptingAppService(s.app, new Map([["siskin-f", key]]));
    const phone = await s.client("alice", "phone", { sm: false });
    const bob = await s.client("bob", "pc");
    const carol = await s.client("carol", "pc");
    // a real subscription handshake: bob and carol ask, alice's client approves (slixmpp auto-authorises)
    raw(bob, `<presence to='alice@localhost' type='subscribe'/>`);
    raw(carol, `<presence to='alice@localhost' type='subscribe'/>`);
    await eventually(
      async () => {
        const roster = await phone.iq(
          `<iq type='get' id='r${Date.now()}'><query xmlns='jabber:iq:roster'/></iq>`.replace(/r\d+/, "r1"),
          "r1",
        );
        const items = parse(String(roster.xml)).getChild("query")?.getChildren("item") ?? [];
        const subscribed = items.filter((i) => i.attrs.subscription === "from" || i.attrs.subscription === "both").map((i) => i.attrs.jid);
        return subscribed.includes("bob@localhost") && subscribed.includes("carol@localhost") ? true : undefined;
      },
      8000,
      "bob and carol subscribed to alice",
    );
    const filters = `<ignore-unknown xmlns='tigase:push:filter:ignore-unknown:0'/><muted xmlns='tigase:push:filter:muted:0'><item jid='carol@localhost'/></muted>`;
    await enableSiskin(phone, "siskin-f", key, filters);
    await phone.quit();

    const dave = await s.client("dave", "pc");
    dave.command({ cmd: "message", to: "alice@localhost", body: "hello stranger", id: "d1" });
    carol.command({ cmd: "message", to: "alice@localhost", body: "muted hello", id: "c1" });
    await eventually(
      async () => ((await history(s)).filter((h) => h.outcome === "vetoed").length >= 2 ? true : undefined),
      8000,
      "two vetoes",
    );
    bob.command({ cmd: "message", to: "alice@localhost", body: "hello friend", id: "b1" });
    await s.app.waitForCount(1);
    await Bun.sleep(500);
    expect(s.app.publishes.length).toBe(1);
    expect(opened.opened.map((o) => o.json)).toEqual([{ unread: 3, sender: "bob@localhost", message: "hello friend", type: "chat" }]);
    const vetoes = (await history(s))
      .filter((h) => h.outcome === "vetoed")
      .map((h) => h.error)
      .sort();
    expect(vetoes).toEqual(["filters: muted", "filters: unknown sender"]);
  });

  test("E1 the key survives kill -9 of the daemon and a restart, and goes with the registration on disable", async () => {
    const s = await stack({ users: ["alice", "bob"], daemonEnv: DAEMON_ENV });
    const key = newPushKey();
    const opened = decryptingAppService(s.app, new Map([["siskin-k", key]]));
    const phone = await s.client("alice", "phone", { sm: false });
    await enableSiskin(phone, "siskin-k", key);
    await s.daemon.kill9();
    await (await s.startDaemonAgain()).waitReady();
    await phone.quit();
    const bob = await s.client("bob", "pc");
    bob.command({ cmd: "message", to: "alice@localhost", body: "after the crash", id: "k1" });
    await s.app.waitForCount(1);
    expect(opened.failures).toEqual([]);
    expect(opened.opened[0]?.json).toMatchObject({ sender: "bob@localhost", message: "after the crash" });
    const again = await s.client("alice", "phone2", { sm: false });
    const off = await again.iq(disableXml("x1", "siskin-k"), "x1");
    expect(off.type).toBe("result");
    expect((await registrations(s)).status).toBe(404);
    await again.quit();
    bob.command({ cmd: "message", to: "alice@localhost", body: "after disable", id: "k2" });
    await Bun.sleep(1500);
    expect(s.app.publishes.length).toBe(1);
  });
});
