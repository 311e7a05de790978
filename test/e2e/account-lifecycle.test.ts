/**
 * Issue 11 item 5: account lifecycle. On Prosody 13, `user-disabled` suspends a user's pushes
 * (registrations kept, across a daemon restart too), `user-enabled` resumes them, and
 * `user-deleted` purges them: from `prosodyctl deluser` (which 13 runs through the running
 * server) and after `registration_delete_grace_period` (mod_user_account_management disables
 * first, deletes later). Each test asserts what the app service received.
 * On 0.12 `prosodyctl deluser` runs in its own process, so the running server (and the daemon)
 * never hears of it: that difference is asserted too (docs/operations.md).
 */
import { expect, test } from "bun:test";

import { describeProsody } from "../helpers/prosody-versions.ts";
import { ADMIN_TOKEN, enable, eventually, history, type PushStack, registrations, removals, usePushStacks } from "../helpers/push-stack.ts";
import type { TestClient } from "../helpers/xmpp-client.ts";

const stack = usePushStacks();

function message(from: TestClient, id: string): void {
  from.command({ cmd: "message", to: "alice@localhost", body: `lifecycle ${id}`, id });
}

/** Waits until the daemon recorded `n` pushes to alice vetoed because the account is disabled. */
async function vetoedCount(s: PushStack, n: number): Promise<void> {
  await eventually(
    async () => {
      const rows = await history(s);
      return rows.filter((r) => r.outcome === "vetoed" && r.error === "account disabled").length >= n ? true : undefined;
    },
    10000,
    `${n} pushes vetoed for the disabled account`,
  );
}

async function shell(s: PushStack, command: string): Promise<string> {
  return s.prosody.prosodyctl("shell", command);
}

describeProsody("issue 11 #5 account lifecycle", (version) => {
  if (version === "0.12") {
    lifecycle012();
    return;
  }
  // internal_hashed: Prosody 13's internal_plain cannot disable an account ("method not implemented").
  const HASHED = `authentication = "internal_hashed"`;
  const prosody = { version, extraModules: ["admin_shell"], extraGlobalConfig: HASHED };

  test("B28 B45 user-disabled: no publish while disabled (the events arrive and are vetoed), registrations kept, still suspended after a daemon restart; user-enabled: pushes resume", async () => {
    const s = await stack({ users: ["alice", "bob"], prosody });
    const phone = await s.client("alice", "phone");
    await enable(phone, "n1");
    await phone.quit();
    const bob = await s.client("bob", "pc");
    message(bob, "before");
    await s.app.waitForCount(1);

    await shell(s, `user:disable("alice@localhost")`);
    await eventually(
      async () => (s.daemon.logs().includes("account disabled: pushes suspended") ? true : undefined),
      10000,
      "the daemon's disabled line",
    );
    message(bob, "while-1");
    message(bob, "while-2");
    await vetoedCount(s, 2);
    const kept = await registrations(s);
    expect(kept.regs.map((r) => r.node)).toEqual(["n1"]);

    // The suspension is persisted: a restarted daemon does not push either.
    await s.daemon.stop();
    const again = await s.startDaemonAgain();
    await again.waitReady();
    message(bob, "after-restart");
    await vetoedCount(s, 3);
    await Bun.sleep(1000);
    expect(s.app.publishes).toHaveLength(1);

    await shell(s, `user:enable("alice@localhost")`);
    await eventually(
      async () => (again.logs().includes("account enabled: pushes resumed") ? true : undefined),
      10000,
      "the daemon's enabled line",
    );
    message(bob, "enabled");
    await s.app.waitForCount(2);
    await Bun.sleep(1000);
    expect(s.app.publishes.map((p) => p.node)).toEqual(["n1", "n1"]);
  });

  test("B45 D14 prosodyctl deluser goes through the running server: user-deleted purges the registrations, nothing is pushed afterwards", async () => {
    const s = await stack({ users: ["alice", "bob"], prosody });
    const phone = await s.client("alice", "phone");
    await enable(phone, "n1");
    await phone.quit();
    await s.prosody.prosodyctl("deluser", "alice@localhost");
    await eventually(async () => ((await registrations(s)).status === 404 ? true : undefined), 10000, "registrations purged");
    const gone = await removals(s, "alice");
    expect(gone.map((r) => [r.identifier, r.reason])).toEqual([["app.localhost<n1", "user-deleted"]]);
    const bob = await s.client("bob", "pc");
    message(bob, "after-delete");
    await Bun.sleep(2000);
    expect(s.app.publishes).toHaveLength(0);
    expect(s.daemon.logs()).toContain("registration removed");
  });

  test("B28 B45 D14 registration_delete_grace_period: the account's own removal request disables it first (pushes stop, registrations kept); the deletion task then purges them", async () => {
    const s = await stack({
      users: ["alice", "bob"],
      prosody: {
        ...prosody,
        extraModules: ["admin_shell", "register"],
        extraGlobalConfig: `${HASHED}\nregistration_delete_grace_period = 1`,
      },
    });
    const phone = await s.client("alice", "phone");
    await enable(phone, "n1");
    const reply = await phone.iq(`<iq type='set' id='rm1'><query xmlns='jabber:iq:register'><remove/></query></iq>`, "rm1");
    expect(reply.type).toBe("result");
    await eventually(
      async () => (s.daemon.logs().includes("account disabled: pushes suspended") ? true : undefined),
      10000,
      "the daemon's disabled line",
    );
    const bob = await s.client("bob", "pc");
    message(bob, "pending-deletion");
    await vetoedCount(s, 1);
    expect((await registrations(s)).regs.map((r) => r.node)).toEqual(["n1"]);
    expect(s.app.publishes).toHaveLength(0);

    // mod_user_account_management's daily task, run now (the grace period of 1 s is over).
    await Bun.sleep(1100);
    await shell(s, `> prosody.hosts["localhost"].modules.user_account_management.cleanup_soft_deleted_accounts()`);
    await eventually(
      async () => ((await registrations(s)).status === 404 ? true : undefined),
      10000,
      "registrations purged after the grace period",
    );
    message(bob, "after-deletion");
    await Bun.sleep(1500);
    expect(s.app.publishes).toHaveLength(0);
  });
});

function lifecycle012(): void {
  test("B28 B45 user-disabled and user-enabled [prosody 0.12: not applicable, 0.12's usermanager cannot disable an account, so these events never fire]", async () => {
    const s = await stack({ users: ["alice"], prosody: { version: "0.12", extraModules: ["admin_shell"] } });
    const answer = await s.prosody.prosodyctl(
      "shell",
      `> require"core.usermanager".disable_user == nil and require"core.usermanager".enable_user == nil`,
    );
    expect(answer).toContain("Result: true");
  });

  test("B45 prosodyctl deluser [prosody 0.12: runs in its own process, the running server never fires user-deleted, so registrations stay until removed through the admin API]", async () => {
    const s = await stack({ users: ["alice"], prosody: { version: "0.12" } });
    const phone = await s.client("alice", "phone");
    await enable(phone, "n1");
    await phone.quit();
    await s.prosody.prosodyctl("deluser", "alice@localhost");
    await Bun.sleep(1500);
    expect((await registrations(s)).regs.map((r) => r.node)).toEqual(["n1"]);
    const res = await fetch(s.daemon.url("/api/v1/users/alice/registrations"), {
      method: "DELETE",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(res.status).toBe(200);
    expect((await registrations(s)).status).toBe(404);
  });
}
