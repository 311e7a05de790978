/**
 * Issue 11 item 5 (Prosody 13 account lifecycle): a disabled account gets no push while its
 * registrations are kept; enabled again, pushes resume; deleted, everything goes, the mark too.
 */
import { expect, test } from "bun:test";
import { DEFAULT_CORE_CONFIG, initState } from "../../src/core/state.ts";
import { APP, chat, fresh, HOST, load, only, publishes, registration, run, SEED, sessionRef, started } from "./harness.ts";

test("user-disabled: no publish on any trigger path, registrations kept, the mark persisted; each vetoed push is in the history with the reason", () => {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "a"), registration("alice", APP, "b")]);
  const out = run(state, { type: "user-disabled", now: 10, user: "alice" });
  expect(only(out, "store")).toEqual([{ type: "store", ops: [{ op: "user-flag", user: "alice", disabled: true, at: 10 }] }]);
  expect(only(out, "removed")).toEqual([]);

  const offline = run(state, { type: "offline", now: 11, user: "alice", copy: chat("o1") });
  expect(publishes(offline)).toHaveLength(0);
  expect(only(offline, "history").map((h) => [h.identifier, h.outcome, h.error])).toEqual([
    [`${APP}<a`, "vetoed", "account disabled"],
    [`${APP}<b`, "vetoed", "account disabled"],
  ]);
  expect(publishes(run(state, { type: "ping", now: 12, user: "alice", identifiers: null }))).toHaveLength(0);
  expect(publishes(run(state, { type: "groupchat-bare", now: 13, user: "alice", copy: chat("g1") }))).toHaveLength(0);
  started(state, sessionRef("alice", "s1"), 14);
  const hib = run(state, { type: "hibernation-started", now: 15, user: "alice", sessionId: "s1", queue: [chat("h1")] });
  expect(publishes(hib)).toHaveLength(0);
  expect(only(hib, "hibernation-timeout")).toEqual([]); // no push, so no extended hibernation either
  expect(state.users.get("alice")?.regs.size).toBe(2);
  // A second user-disabled changes nothing and writes nothing.
  expect(run(state, { type: "user-disabled", now: 16, user: "alice" })).toEqual([]);
  // Another user is not affected.
  load(state, "bob", [registration("bob", APP, "x")]);
  expect(publishes(run(state, { type: "offline", now: 17, user: "bob", copy: chat("o2") }))).toHaveLength(1);
});

test("user-enabled: pushes resume for what arrives from then on; the mark is cleared in the store", () => {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "a")]);
  run(state, { type: "user-disabled", now: 1, user: "alice" });
  expect(publishes(run(state, { type: "offline", now: 2, user: "alice", copy: chat("before") }))).toHaveLength(0);
  const out = run(state, { type: "user-enabled", now: 3, user: "alice" });
  expect(only(out, "store")).toEqual([{ type: "store", ops: [{ op: "user-flag", user: "alice", disabled: false, at: 3 }] }]);
  expect(publishes(run(state, { type: "offline", now: 4, user: "alice", copy: chat("after") }))).toHaveLength(1);
  // Enabling an account that was never disabled writes nothing.
  expect(run(state, { type: "user-enabled", now: 5, user: "carol" })).toEqual([]);
});

test("user-deleted of a disabled account purges the registrations and clears the mark in the same write", () => {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "a")]);
  run(state, { type: "user-disabled", now: 1, user: "alice" });
  const out = run(state, { type: "user-deleted", now: 2, user: "alice" });
  expect(only(out, "store")).toEqual([
    {
      type: "store",
      ops: [
        { op: "delete-user", user: "alice" },
        { op: "user-flag", user: "alice", disabled: false, at: 2 },
      ],
    },
  ]);
  expect(only(out, "removed").map((r) => r.reason)).toEqual(["user-deleted"]);
  expect(state.disabled.has("alice")).toBe(false);
  // A re-created account of the same name is not disabled.
  load(state, "alice", [registration("alice", APP, "new")]);
  expect(publishes(run(state, { type: "offline", now: 3, user: "alice", copy: chat("x") }))).toHaveLength(1);
});

test("the disabled mark loaded at start (daemon restart) keeps the pushes suspended", () => {
  const state = initState({ ...DEFAULT_CORE_CONFIG, host: HOST }, { idSeed: SEED, disabledUsers: ["alice"] });
  load(state, "alice", [registration("alice", APP, "a")]);
  expect(publishes(run(state, { type: "offline", now: 1, user: "alice", copy: chat("x") }))).toHaveLength(0);
  run(state, { type: "user-enabled", now: 2, user: "alice" });
  expect(publishes(run(state, { type: "offline", now: 3, user: "alice", copy: chat("y") }))).toHaveLength(1);
  expect(fresh().disabled.size).toBe(0);
});
