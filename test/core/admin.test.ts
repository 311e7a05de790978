import { expect, test } from "bun:test";
import { APP, chat, enable, fresh, load, only, registration, run, sessionRef, started } from "./harness.ts";

test("admin-delete removes one registration, unbinds its sessions and persists the delete", () => {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "other")]);
  started(state, sessionRef("alice", "s1"));
  enable(state, sessionRef("alice", "s1"), "mine");
  const actions = run(state, { type: "admin-delete", now: 5, user: "alice", identifiers: [`${APP}<mine`] });
  expect(only(actions, "removed").map((r) => [r.identifier, r.reason])).toEqual([[`${APP}<mine`, "admin"]]);
  expect(only(actions, "store")[0]?.ops).toEqual([{ op: "delete", user: "alice", identifiers: [`${APP}<mine`] }]);
  expect(state.users.get("alice")?.sessions.get("s1")?.bound).toBeNull();
  expect([...(state.users.get("alice")?.regs.keys() ?? [])]).toEqual([`${APP}<other`]);
});

test("admin-delete with no identifiers removes all; unknown identifiers change nothing and write nothing", () => {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "a"), registration("alice", APP, "b")]);
  expect(run(state, { type: "admin-delete", now: 1, user: "alice", identifiers: ["nope<"] })).toEqual([]);
  const all = run(state, { type: "admin-delete", now: 2, user: "alice", identifiers: null });
  expect(only(all, "removed")).toHaveLength(2);
  expect(state.users.get("alice")?.regs.size).toBe(0);
});

test("sessions-snapshot ends sessions the bridge no longer has and keeps listed ones with their flag", () => {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "mine")]);
  started(state, sessionRef("alice", "gone"), 0, `${APP}<mine`);
  started(state, sessionRef("alice", "kept"), 0, `${APP}<mine`);
  run(state, {
    type: "sessions-snapshot",
    now: 1,
    sessions: [{ session: sessionRef("alice", "kept"), bound: `${APP}<mine`, hibernating: true }],
  });
  const sessions = state.users.get("alice")!.sessions;
  expect([...sessions.keys()]).toEqual(["kept"]);
  expect(sessions.get("kept")?.hibernating).toBe(true);
  expect(sessions.get("kept")?.extended).toBe(true);
  // the first important push while hibernating restores the server's own timeout (B34)
  const queued = run(state, { type: "stanza-queued", now: 2, user: "alice", sessionId: "kept", copy: chat("m") });
  expect(only(queued, "schedule")).toHaveLength(1);
  const fired = run(state, { type: "timer", now: 1002, key: "batch/alice/kept" });
  expect(only(fired, "hibernation-timeout").map((a) => a.mode)).toEqual(["restore"]);
});
