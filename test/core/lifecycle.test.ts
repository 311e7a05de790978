import { expect, test } from "bun:test";
import { FEATURES, NS_PUSH } from "../../src/core/features.ts";
import { APP, chat, enableEl, fresh, load, only, publishes, registration, requestEnable, run, sessionRef, started } from "./harness.ts";
import { isLoaded } from "../../src/core/state.ts";

test("B1 (Prosody-side disco) the announced account features contain urn:xmpp:push:0", () => {
  expect(NS_PUSH).toBe("urn:xmpp:push:0");
  expect(FEATURES).toContain("urn:xmpp:push:0");
});

test("B2 (Prosody-side disco) no extension features are announced while no extension is built in", () => {
  expect([...FEATURES]).toEqual(["urn:xmpp:push:0"]);
});

test("D14 user-deleted drops everything, deletes from the store and records each removal", () => {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "a"), registration("alice", APP, "b")]);
  started(state, sessionRef("alice", "s1"), 0, `${APP}<a`);
  run(state, { type: "stanza-queued", now: 1, user: "alice", sessionId: "s1", copy: chat("q") });
  const pub = publishes(run(state, { type: "offline", now: 2, user: "alice", copy: chat("o") }))[0];
  const pendingEnable = requestEnable(state, sessionRef("alice", "s1"), enableEl(APP, "c"));
  const out = run(state, { type: "user-deleted", now: 3, user: "alice" });
  expect(only(out, "removed").map((r) => [r.identifier, r.reason])).toEqual([
    [`${APP}<a`, "user-deleted"],
    [`${APP}<b`, "user-deleted"],
  ]);
  expect(only(out, "store")).toEqual([{ type: "store", ops: [{ op: "delete-user", user: "alice" }] }]);
  expect(only(out, "cancel-timer")).toEqual([{ type: "cancel-timer", key: "batch/alice/s1" }]);
  expect(only(out, "reply")[0]?.error?.condition).toBe("item-not-found");
  expect(isLoaded(state, "alice")).toBe(false);
  expect(state.pending.size).toBe(0);
  expect(run(state, { type: "publish-result", now: 4, publishId: pub?.id ?? "", from: APP })).toEqual([]);
  const opId = only(pendingEnable, "store")[0]?.opId ?? "";
  expect(run(state, { type: "store-done", now: 5, opId, ok: true })).toEqual([]);
});

test("B45 a re-created account does not inherit stale registrations (D14 fixes the quirk)", () => {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "a")]);
  run(state, { type: "user-deleted", now: 1, user: "alice" });
  load(state, "alice", []);
  expect(publishes(run(state, { type: "offline", now: 2, user: "alice", copy: chat("x") }))).toHaveLength(0);
});

test("isLoaded() is false until user-loaded, and user-loaded twice keeps the memory state", () => {
  const state = fresh();
  expect(isLoaded(state, "alice")).toBe(false);
  load(state, "alice", [registration("alice", APP, "a")]);
  expect(isLoaded(state, "alice")).toBe(true);
  load(state, "alice", []);
  expect(state.users.get("alice")?.regs.size).toBe(1);
});
