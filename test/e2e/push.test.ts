/**
 * Real end-to-end pushes: the compiled daemon, the Debian Prosody with the bridge, slixmpp
 * clients and a separate app push service component (app.localhost) that records publishes.
 * Each test builds its own stack (test/helpers/push-stack.ts), so they do not share state.
 * More scenarios (errors, restarts, deletion): push-lifecycle.test.ts.
 */
import { expect, test } from "bun:test";
import { parse } from "ltx";

import { NS_DATA, NS_PUSH } from "../helpers/app-service.ts";
import {
  APP_DOMAIN,
  disableXml,
  enable,
  enableXml,
  eventually,
  history,
  type HistoryJson,
  PUBLISH_OPTIONS_FORM_TYPE,
  registrations,
  usePushStacks,
} from "../helpers/push-stack.ts";
import { describeProsody } from "../helpers/prosody-versions.ts";

describeProsody("push end to end (compiled daemon, real Prosody, app component)", (version) => {
  const stack = usePushStacks(version);

  test("B1 B10 B14 enable/disable round trip: result, visible in the admin API, gone after disable; account disco lists urn:xmpp:push:0", async () => {
    const s = await stack({ users: ["alice"] });
    const phone = await s.client("alice", "phone");

    const disco = await phone.iq(
      `<iq type='get' id='d1' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
      "d1",
    );
    expect(disco.type).toBe("result");
    const features = (parse(String(disco.xml)).getChild("query")?.getChildren("feature") ?? []).map((f) => f.attrs.var);
    expect(features).toContain(NS_PUSH);

    expect((await registrations(s)).status).toBe(404);
    const on = await phone.iq(enableXml("e1", "phone-node"), "e1");
    expect(on.type).toBe("result");
    const { status, regs } = await registrations(s);
    expect(status).toBe(200);
    expect(regs.map((r) => r.identifier)).toEqual([`${APP_DOMAIN}<phone-node`]);
    expect(regs[0]?.jid).toBe(APP_DOMAIN);
    expect(regs[0]?.node).toBe("phone-node");
    expect(regs[0]?.errorCount).toBe(0);
    expect(regs[0]?.boundSessions.length).toBe(1);

    const off = await phone.iq(disableXml("x1", "phone-node"), "x1");
    expect(off.type).toBe("result");
    expect((await registrations(s)).status).toBe(404);
    expect(s.app.publishes.length).toBe(0);
  });

  test("B37 B26 D15 D17 message to a user whose only device is offline: exactly one publish with the placeholder and the client's publish-options; the message is still delivered later", async () => {
    const s = await stack({ users: ["alice", "bob"] });
    const phone = await s.client("alice", "phone");
    await enable(phone, "n-off");
    await phone.quit();
    const bob = await s.client("bob", "pc");

    const body = "the secret body 7c1f";
    bob.command({ cmd: "message", to: "alice@localhost", body, id: "m-off-1" });
    const [p] = await s.app.waitForCount(1);
    await Bun.sleep(1500); // no second publish (no archive path: alice has no session)
    expect(s.app.publishes.length).toBe(1);
    if (p === undefined) throw new Error("no publish");

    expect(p.iq.attrs.from).toBe("localhost"); // D15: from the host domain
    expect(p.iq.attrs.to).toBe(APP_DOMAIN);
    expect(p.node).toBe("n-off");
    expect(p.summary.get("FORM_TYPE")).toBe("urn:xmpp:push:summary");
    expect(p.summary.get("last-message-body")).toBe("New Message!");
    expect(p.summary.get("last-message-sender")).toBe("");
    // publish-options exactly as the client sent them
    const form = p.publishOptions;
    expect(form?.attrs.type).toBe("submit");
    const fields = (form?.getChildren("field") ?? []).map((f) => [f.attrs.var, f.getChildText("value")]);
    expect(fields).toEqual([
      ["FORM_TYPE", PUBLISH_OPTIONS_FORM_TYPE],
      ["secret", "secret-n-off"],
    ]);
    expect(form?.attrs.xmlns).toBe(NS_DATA);
    // D17: nothing of the real message leaves the server
    const wire = p.iq.toString();
    expect(wire).not.toContain(body);
    expect(wire).not.toContain("bob@");
    expect(s.daemon.logs()).not.toContain(body);

    const hist = await eventually(async () => {
      const h = await history(s);
      return h.some((r) => r.outcome === "ok") ? h : undefined;
    });
    expect(hist.find((r) => r.outcome === "ok")).toMatchObject({ trigger: "offline", important: true, identifier: `${APP_DOMAIN}<n-off` });

    // offline storage untouched: alice gets the message when she comes back
    const back = await s.client("alice", "phone2");
    const got = await back.waitFor((e) => e.event === "message" && e.id === "m-off-1", 8000, "offline message");
    expect(got.body).toBe(body);
    expect(bob.events.some((e) => e.event === "message" && e.type === "error")).toBe(false);
  });

  test("B30 B33 B34 D12 cut phone session: coalesced pushes, hibernation outlives smacks_hibernation_time until the first important push, then ends on the normal timeout", async () => {
    const s = await stack({
      users: ["alice", "bob"],
      prosody: { smacksHibernationTime: 3 },
      daemonEnv: { CLOUD_NOTIFYD_SMACKS_HIBERNATION_TIME: "3", CLOUD_NOTIFYD_PUSH_MAX_HIBERNATION_TIMEOUT: "20" },
    });
    const bob = await s.client("bob", "pc");
    const phone = await s.client("alice", "phone");
    await enable(phone, "n-hib");
    const sid = (await registrations(s)).regs[0]?.boundSessions[0] ?? "";
    expect(sid).not.toBe("");
    const destroyed = (log: string) =>
      log.split("\n").some((l) => l.includes(sid) && l.includes("Destroying session for hibernating too long"));

    phone.command({ cmd: "drop" });
    const hibernating = (log: string) => log.split("\n").some((l) => l.includes(sid) && l.includes("Session going into hibernation"));
    const hibernated = await eventually(async () => (hibernating(await s.prosody.log()) ? Date.now() : undefined), 5000, "hibernation");
    // well past smacks_hibernation_time (3 s + up to 2 s watchdog slack): still there
    await Bun.sleep(6000);
    expect(destroyed(await s.prosody.log())).toBe(false);
    expect((await registrations(s)).regs[0]?.boundSessions).toEqual([sid]);
    expect(s.app.publishes.length).toBe(0); // nothing queued yet

    const n = 5;
    for (let i = 1; i <= n; i += 1) bob.command({ cmd: "message", to: "alice@localhost", body: `queued ${i}`, id: `m-hib-${i}` });
    const [first] = await s.app.waitForCount(1);
    const firstAt = Date.now();
    await Bun.sleep(1500);
    const pushes = s.app.publishes.length;
    expect(pushes).toBeGreaterThanOrEqual(1);
    expect(pushes).toBeLessThan(n);
    expect(s.app.publishes.some((p) => p.summary.get("last-message-body") === "New Message!")).toBe(true);
    expect(first?.node).toBe("n-hib");
    const h = await eventually(async () => {
      const rows = await history(s);
      return rows.some((r) => r.outcome === "ok") ? rows : undefined;
    });
    expect(h.filter((r) => r.outcome === "ok").every((r) => r.trigger === "session-queue")).toBe(true);

    // after the first important push the server's own 3 s timeout runs again
    await eventually(async () => (destroyed(await s.prosody.log()) ? true : undefined), 9000, "the session's destruction");
    const endedAfterPush = Date.now() - firstAt;
    expect(endedAfterPush).toBeGreaterThan(2000);
    expect(endedAfterPush).toBeLessThan(7000);
    expect(Date.now() - hibernated).toBeLessThan(20000); // not the extended 20 s timer
    await eventually(
      async () => ((await registrations(s)).regs[0]?.boundSessions.length === 0 ? true : undefined),
      5000,
      "session-ended at the daemon",
    );
    // a resume attempt now fails: the session is gone
    phone.command({ cmd: "connect" });
    await phone.waitFor((e) => e.event === "session_start", 8000, "a fresh session instead of a resumption");
    expect(phone.events.some((e) => e.event === "resumed")).toBe(false);
    // the unacked messages went to the archive/offline store: not pushed a second time (D8)
    await Bun.sleep(500);
    expect(s.app.publishes.length).toBe(pushes);
  });

  test("B36 desktop online, phone offline: the phone's registration is pushed through the archive path, the desktop's own is not", async () => {
    const s = await stack({ users: ["alice", "bob"] });
    const phone = await s.client("alice", "phone");
    await enable(phone, "n-phone");
    await phone.quit();
    const desktop = await s.client("alice", "desktop");
    await enable(desktop, "n-desktop");
    const bob = await s.client("bob", "pc");

    bob.command({ cmd: "message", to: "alice@localhost", body: "hello desktop", id: "m-arc-1" });
    await desktop.waitFor((e) => e.event === "message" && e.id === "m-arc-1", 8000, "message on the desktop");
    const [p] = await s.app.waitForCount(1);
    await Bun.sleep(1500);
    expect(s.app.publishes.map((x) => x.node)).toEqual(["n-phone"]);
    expect(p?.summary.get("last-message-body")).toBe("New Message!");

    const rows = await eventually(async () => {
      const h = await history(s);
      return h.some((r) => r.outcome === "ok") ? h : undefined;
    });
    expect(rows.every((r) => r.identifier === `${APP_DOMAIN}<n-phone`)).toBe(true);
    expect(rows.find((r) => r.outcome === "ok")).toMatchObject({ trigger: "archive", important: true });
    const desktopRows = await s.admin<{ history: HistoryJson[] }>(
      `/users/alice/history?identifier=${encodeURIComponent(`${APP_DOMAIN}<n-desktop`)}`,
    );
    expect(desktopRows.body.history).toEqual([]);
  });

  test("D23 at a pace of one message every 300 ms the daemon's acknowledgements ride on its publishes: none of their own until the stream goes quiet", async () => {
    const s = await stack({ users: ["alice", "bob"] });
    const phone = await s.client("alice", "phone");
    await enable(phone, "n-ride");
    await phone.quit();
    const bob = await s.client("bob", "pc");
    const acks = async () => {
      const text = await (await fetch(s.daemon.url("/metrics"))).text();
      const count = (how: string) => Number(text.match(new RegExp(`cloud_notifyd_bridge_acks_total\\{how="${how}"\\} (\\d+)`))?.[1] ?? 0);
      return { own: count("own"), carried: count("carried") };
    };
    await Bun.sleep(1500); // the enable's events acknowledged by the idle timer
    const before = await acks();
    for (let i = 1; i <= 10; i++) {
      bob.command({ cmd: "message", to: "alice@localhost", body: `ride ${i}`, id: `m-ride-${i}` });
      await s.app.waitForCount(i);
      await Bun.sleep(300);
    }
    const during = await acks();
    expect(during.carried - before.carried).toBeGreaterThanOrEqual(9);
    expect(during.own - before.own).toBeLessThanOrEqual(1);
    // Quiet now: the last events' ack goes alone after 1 s.
    const quiet = await eventually(
      async () => {
        const a = await acks();
        return a.own > during.own ? a : undefined;
      },
      5000,
      "an ack of its own once the stream is quiet",
    );
    expect(quiet.own - during.own).toBe(1);
  });
});
