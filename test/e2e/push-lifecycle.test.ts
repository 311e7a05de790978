/**
 * Real end-to-end pushes, second part: app service errors, daemon restarts and crashes, and
 * account deletion. Same stack as push.test.ts (compiled daemon, Debian Prosody with the bridge,
 * slixmpp clients, the app.localhost component that records publishes).
 */
import { expect, test } from "bun:test";

import type { AppAnswer } from "../helpers/app-service.ts";
import { APP_DOMAIN, enable, enableXml, eventually, history, registrations, removals, usePushStacks } from "../helpers/push-stack.ts";
import { describeProsody } from "../helpers/prosody-versions.ts";

const IDENT = `${APP_DOMAIN}<n1`;

describeProsody("push lifecycle end to end (compiled daemon, real Prosody, app component)", (version) => {
  const stack = usePushStacks(version);

  test("B41 B42 B43 D13 D18 app service errors: counted (not wait), persisted across a restart, removal at push_max_errors visible in /removals", async () => {
    // the reference's policy (B41–B44): D19 retries and D20 removal at once off (test/fault/app-service-policy.test.ts has the defaults)
    const s = await stack({
      users: ["alice", "bob"],
      daemonEnv: { CLOUD_NOTIFYD_PUSH_MAX_ERRORS: "3", CLOUD_NOTIFYD_PUSH_RETRY_DELAYS: "", CLOUD_NOTIFYD_PUSH_REMOVE_CONDITIONS: "" },
    });
    const phone = await s.client("alice", "phone");
    await enable(phone, "n1");
    await phone.quit();
    const bob = await s.client("bob", "pc");

    let next: AppAnswer = { kind: "result" };
    s.app.setAnswer(() => next);
    let sent = 0;
    /** One offline message → one publish, answered with `answer`; waits until the outcome is in the history. */
    async function pushAnswered(answer: AppAnswer): Promise<void> {
      next = answer;
      sent += 1;
      bob.command({ cmd: "message", to: "alice@localhost", body: `m ${sent}`, id: `m-err-${sent}` });
      await s.app.waitForCount(sent);
      await eventually(
        async () => ((await history(s)).filter((r) => r.outcome !== "sent").length >= sent ? true : undefined),
        5000,
        `outcome of push ${sent}`,
      );
    }
    const errorCount = async () => (await registrations(s)).regs.find((r) => r.identifier === IDENT)?.errorCount;

    await pushAnswered({ kind: "error", type: "cancel", condition: "item-not-found" });
    expect(await errorCount()).toBe(1);
    await pushAnswered({ kind: "error", type: "wait", condition: "resource-constraint" });
    expect(await errorCount()).toBe(1); // B42: wait never counts
    await pushAnswered({ kind: "error", type: "auth", condition: "not-authorized", text: "token expired" });
    expect(await errorCount()).toBe(2);
    const regs = (await registrations(s)).regs;
    expect(regs[0]?.lastError).toBe("auth/not-authorized");

    const h = await history(s);
    const outcomes = h.filter((r) => r.outcome !== "sent").map((r) => [r.outcome, r.error]);
    expect(outcomes).toEqual([
      ["error", "auth/not-authorized"],
      ["error", "wait/resource-constraint"],
      ["error", "cancel/item-not-found"],
    ]);

    // D13: the count survives a restart
    expect(await s.daemon.stop()).toBe(0);
    const d2 = await s.startDaemonAgain();
    await d2.waitReady();
    expect(await errorCount()).toBe(2);

    await pushAnswered({ kind: "error", type: "modify", condition: "bad-request" });
    const gone = await registrations(s);
    expect(gone.status).toBe(404);
    const rm = await removals(s, "alice");
    expect(rm.length).toBe(1);
    expect(rm[0]).toMatchObject({ user: "alice@localhost", identifier: IDENT, reason: "max-errors" });
    expect(rm[0]?.detail).toContain("modify/bad-request");

    // D18: no further publishes to it
    bob.command({ cmd: "message", to: "alice@localhost", body: "after removal", id: "m-err-after" });
    await Bun.sleep(1200);
    expect(s.app.publishes.length).toBe(sent);
  });

  test("B43 a result resets the consecutive error count", async () => {
    // the reference's policy (B41–B44): D19 retries and D20 removal at once off (test/fault/app-service-policy.test.ts has the defaults)
    const s = await stack({
      users: ["alice", "bob"],
      daemonEnv: { CLOUD_NOTIFYD_PUSH_MAX_ERRORS: "3", CLOUD_NOTIFYD_PUSH_RETRY_DELAYS: "", CLOUD_NOTIFYD_PUSH_REMOVE_CONDITIONS: "" },
    });
    const phone = await s.client("alice", "phone");
    await enable(phone, "n1");
    await phone.quit();
    const bob = await s.client("bob", "pc");
    const answers: AppAnswer[] = [
      { kind: "error", type: "cancel", condition: "item-not-found" },
      { kind: "error", type: "cancel", condition: "item-not-found" },
      { kind: "result" },
    ];
    s.app.setAnswer(() => answers.shift() ?? { kind: "result" });
    for (let i = 1; i <= 3; i += 1) {
      bob.command({ cmd: "message", to: "alice@localhost", body: `m ${i}`, id: `m-rst-${i}` });
      await s.app.waitForCount(i);
      await eventually(
        async () => ((await history(s)).filter((r) => r.outcome !== "sent").length >= i ? true : undefined),
        5000,
        `outcome ${i}`,
      );
      const count = (await registrations(s)).regs[0]?.errorCount;
      expect(count).toBe(i < 3 ? i : 0);
    }
  });

  test("D11 daemon stopped (SIGTERM) while messages arrive: alice gets every message, the sender no error, each message pushed exactly once after restart", async () => {
    const s = await stack({ users: ["alice", "bob"] });
    const phone = await s.client("alice", "phone");
    await enable(phone, "n1");
    await phone.quit();
    const bob = await s.client("bob", "pc");

    // a steady stream of messages; SIGTERM lands in the middle of it
    const n = 16;
    let stopped: Promise<number> | null = null;
    for (let i = 1; i <= n; i += 1) {
      bob.command({ cmd: "message", to: "alice@localhost", body: `stream ${i}`, id: `m-down-${i}` });
      if (i === 6) stopped = s.daemon.stop();
      await Bun.sleep(40);
    }
    expect(await stopped).toBe(0);
    await Bun.sleep(300);
    const before = s.app.publishes.length;
    expect(before).toBeLessThan(n); // some arrived while the daemon was away

    const d2 = await s.startDaemonAgain();
    await d2.waitReady();
    await s.app.waitForCount(n);
    await Bun.sleep(1500);
    expect(s.app.publishes.length).toBe(n);
    expect(s.app.publishes.every((p) => p.node === "n1" && p.summary.get("last-message-body") === "New Message!")).toBe(true);

    // a second restart replays nothing: every handled event was acknowledged
    expect(await d2.stop()).toBe(0);
    const d3 = await s.startDaemonAgain();
    await d3.waitReady();
    await Bun.sleep(1000);
    expect(s.app.publishes.length).toBe(n);
    // every publish has its outcome recorded, also those in flight when SIGTERM came (D11)
    const ok = await eventually(
      async () => {
        const rows = (await history(s)).filter((r) => r.outcome === "ok");
        return rows.length >= n ? rows : undefined;
      },
      3000,
      "an ok outcome for every publish",
    );
    expect(ok.map((r) => r.publishId).sort()).toEqual(s.app.publishes.map((p) => p.iq.attrs.id ?? "").sort());
    expect(ok.every((r) => r.trigger === "offline")).toBe(true);

    const back = await s.client("alice", "phone2");
    for (let i = 1; i <= n; i += 1) {
      const got = await back.waitFor((e) => e.event === "message" && e.id === `m-down-${i}`, 8000, `message ${i}`);
      expect(got.body).toBe(`stream ${i}`);
    }
    expect(bob.events.some((e) => e.event === "message" && e.type === "error")).toBe(false);
  });

  test("D14 user deleted: registrations and history gone, a removal with reason user-deleted", async () => {
    // Deleted inside the running server (admin shell), which fires Prosody's user-deleted event.
    // `prosodyctl deluser` on 0.12 deletes the account from a separate process, where no module runs.
    const s = await stack({ users: ["alice", "bob"], prosody: { extraModules: ["admin_shell", "admin_socket"] } });
    const phone = await s.client("alice", "phone");
    await enable(phone, "n1");
    await phone.quit();
    const bob = await s.client("bob", "pc");
    bob.command({ cmd: "message", to: "alice@localhost", body: "before deletion", id: "m-del-1" });
    await s.app.waitForCount(1);
    expect((await registrations(s)).status).toBe(200);

    expect(await s.prosody.prosodyctl("shell", "user", "delete", "alice@localhost")).toContain("User deleted");
    const rm = await eventually(
      async () => {
        const rows = await removals(s, "alice");
        return rows.length > 0 ? rows : undefined;
      },
      15000,
      "a removal for alice",
    ); // generous: the whole suite loads this 2-core machine
    expect(rm).toEqual([expect.objectContaining({ user: "alice@localhost", identifier: IDENT, reason: "user-deleted" })]);
    const after = await registrations(s);
    expect(after.status).toBe(404);
    expect(after.regs).toEqual([]);
    expect(await history(s)).toEqual([]);
  });

  test("D4 kill -9 of the daemon right after an enable got its result: the registration is there after restart", async () => {
    const s = await stack({ users: ["alice", "bob"] });
    const phone = await s.client("alice", "phone");
    const reply = await phone.iq(enableXml("e-k9", "n1"), "e-k9");
    await s.daemon.kill9();
    expect(reply.type).toBe("result");
    await phone.quit();
    const d2 = await s.startDaemonAgain();
    await d2.waitReady();
    const { status, regs } = await registrations(s);
    expect(status).toBe(200);
    expect(regs.map((r) => r.identifier)).toEqual([IDENT]);
    // and it is used: a message to the now offline alice is pushed to it
    const bob = await s.client("bob", "pc");
    bob.command({ cmd: "message", to: "alice@localhost", body: "after the crash", id: "m-k9" });
    const [p] = await s.app.waitForCount(1);
    expect(p?.node).toBe("n1");
    expect(
      p?.publishOptions
        ?.getChildren("field")
        .find((f) => f.attrs.var === "secret")
        ?.getChildText("value"),
    ).toBe("secret-n1");
  });
});
