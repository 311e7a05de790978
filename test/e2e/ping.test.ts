/**
 * Issue 11 item 6, B39: `cloud-notify-ping` fired by any other Prosody module reaches the daemon
 * as a bridge event and produces the publishes mod_cloud_notify would: to all the user's
 * registrations, or only to the endpoints in the event's push_services; a push without a
 * stanza (summary with message-count only, never important).
 * The firing module is test/fixtures/prosody/mod_test_ping.lua (on a special message to the host).
 */
import { expect, test } from "bun:test";
import { resolve } from "node:path";

import { describeProsody } from "../helpers/prosody-versions.ts";
import { APP_DOMAIN, enable, eventually, history, usePushStacks } from "../helpers/push-stack.ts";
import type { TestClient } from "../helpers/xmpp-client.ts";

const stack = usePushStacks();
const FIXTURES = resolve(import.meta.dir, "../fixtures/prosody");
const NS_TEST = "urn:cloud-notifyd:test";

function firePing(from: TestClient, user: string, endpoints: Array<{ jid: string; node: string }> | null): void {
  const children = (endpoints ?? []).map((e) => `<endpoint jid='${e.jid}' node='${e.node}'/>`).join("");
  from.command({
    cmd: "raw",
    xml: `<message to='localhost' id='ping-${Math.random()}'><ping-push xmlns='${NS_TEST}' user='${user}'>${children}</ping-push></message>`,
  });
}

describeProsody("B39 cloud-notify-ping from another Prosody module", (version) => {
  test("B39 without push_services: one publish per registration, no stanza in it (message-count only, never important); with push_services: only those endpoints; an unknown endpoint: none", async () => {
    const s = await stack({ users: ["alice", "bob"], prosody: { version, extraModules: ["test_ping"], pluginPaths: [FIXTURES] } });
    const phone = await s.client("alice", "phone");
    const tablet = await s.client("alice", "tablet");
    await enable(phone, "n1");
    await enable(tablet, "n2");
    await phone.quit();
    await tablet.quit();
    const bob = await s.client("bob", "pc");

    firePing(bob, "alice", null);
    const all = await s.app.waitForCount(2, 10000);
    expect(all.map((p) => p.node).sort()).toEqual(["n1", "n2"]);
    for (const p of all) {
      expect(p.iq.attrs.from).toBe("localhost");
      expect(p.summary.get("FORM_TYPE")).toBe("urn:xmpp:push:summary");
      expect(p.summary.has("message-count")).toBe(true);
      expect(p.summary.get("last-message-body") ?? "").toBe(""); // never important: no placeholder body
      expect(p.summary.get("last-message-sender") ?? "").toBe("");
    }

    firePing(bob, "alice", [{ jid: APP_DOMAIN, node: "n2" }]);
    await s.app.waitForCount(3, 10000);
    expect(s.app.publishes[2]?.node).toBe("n2");

    firePing(bob, "alice", [{ jid: APP_DOMAIN, node: "not-registered" }]);
    firePing(bob, "bob", null); // bob has no registration
    await Bun.sleep(1500);
    expect(s.app.publishes).toHaveLength(3);

    const rows = await eventually(async () => {
      const h = await history(s);
      return h.filter((r) => r.outcome === "ok").length === 3 ? h : undefined;
    });
    const pings = rows.filter((r) => r.outcome === "ok");
    expect(pings.every((r) => r.trigger === "ping" && !r.important)).toBe(true);
    expect(pings.map((r) => r.identifier).sort()).toEqual([`${APP_DOMAIN}<n1`, `${APP_DOMAIN}<n2`, `${APP_DOMAIN}<n2`]);
  });
});
