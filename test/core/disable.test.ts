import { expect, test } from "bun:test";
import { APP, enable, fresh, load, only, registration, run, sessionRef, started, xml } from "./harness.ts";
import type { CoreState } from "../../src/core/state.ts";

const alice = sessionRef("alice", "s1");

function disable(state: CoreState, attrs: string, session = alice, now = 2000) {
  return run(state, {
    type: "disable",
    now,
    req: { requestId: "d1", session, lang: null },
    element: xml(`<disable xmlns="urn:xmpp:push:0"${attrs}/>`),
  });
}

function complete(state: CoreState, actions: ReturnType<typeof disable>, ok = true) {
  const store = only(actions, "store")[0];
  return run(state, { type: "store-done", now: 2000, opId: store?.opId ?? "missing", ok });
}

function threeRegs(): CoreState {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "a"), registration("alice", APP, "b"), registration("alice", "other.app", "a")]);
  return state;
}

test("B13 disable without jid is modify/bad-request 'Missing jid'", () => {
  const state = threeRegs();
  const actions = disable(state, "");
  expect(actions).toEqual([{ type: "reply", requestId: "d1", error: { type: "modify", condition: "bad-request", text: "Missing jid" } }]);
});

test("B14 without node every registration with that jid goes; with node only the exact one", () => {
  const state = threeRegs();
  const all = disable(state, ` jid="${APP}"`);
  expect(only(all, "store")[0]?.ops).toEqual([{ op: "delete", user: "alice", identifiers: [`${APP}<a`, `${APP}<b`] }]);
  const state2 = threeRegs();
  const one = disable(state2, ` jid="${APP}" node="b"`);
  expect(only(one, "store")[0]?.ops).toEqual([{ op: "delete", user: "alice", identifiers: [`${APP}<b`] }]);
});

test("B15 removal forgets outstanding publish ids: a late reply is ignored", () => {
  const state = threeRegs();
  const pub = only(
    run(state, { type: "offline", now: 1, user: "alice", copy: { stanza: xml("<message><body>x</body></message>"), key: "k" } }),
    "publish",
  )[0];
  complete(state, disable(state, ` jid="${APP}" node="a"`));
  const late = run(state, {
    type: "publish-error",
    now: 3,
    publishId: pub?.publish.id ?? "",
    from: APP,
    errorType: "cancel",
    condition: "item-not-found",
  });
  // no outcome is recorded: the push stays "sent" (its record is made now, as the core forgets it)
  expect(only(late, "history").map((h) => h.outcome)).toEqual(["sent"]);
  expect(only(late, "store")).toHaveLength(0);
  expect(state.pending.size).toBe(2);
});

test("D6 disable unbinds every session bound to the identifier, restoring extended timeouts", () => {
  const state = fresh();
  load(state, "alice");
  enable(state, alice, "a");
  const phone2 = sessionRef("alice", "s2");
  started(state, phone2, 0, `${APP}<a`);
  run(state, { type: "hibernation-started", now: 5, user: "alice", sessionId: "s2", queue: [] });
  const done = complete(state, disable(state, ` jid="${APP}"`));
  const u = state.users.get("alice");
  expect(u?.sessions.get("s1")?.bound).toBeNull();
  expect(u?.sessions.get("s2")?.bound).toBeNull();
  expect(only(done, "hibernation-timeout")).toEqual([{ type: "hibernation-timeout", user: "alice", sessionId: "s2", mode: "restore" }]);
  expect(only(done, "removed")[0]?.reason).toBe("disabled");
  expect(only(done, "reply")[0]).toEqual({ type: "reply", requestId: "d1", bound: null });
});

test("B16 disable that matches nothing still replies result, without a store op", () => {
  const state = threeRegs();
  const actions = disable(state, ` jid="nothing.example"`);
  expect(actions).toEqual([{ type: "reply", requestId: "d1", bound: null }]);
});

test("D4 disable: a store failure answers wait/internal-server-error and keeps everything", () => {
  const state = threeRegs();
  const actions = disable(state, ` jid="${APP}"`);
  expect(state.users.get("alice")?.regs.size).toBe(3);
  const done = complete(state, actions, false);
  expect(only(done, "reply")[0]?.error).toEqual({ type: "wait", condition: "internal-server-error" });
  expect(state.users.get("alice")?.regs.size).toBe(3);
});

test("B17 (remote disable not implemented) a pubsub error reply is just a counted error", () => {
  const state = threeRegs();
  const pub = only(
    run(state, { type: "offline", now: 1, user: "alice", copy: { stanza: xml("<message><body>x</body></message>"), key: "k" } }),
    "publish",
  )[0];
  const out = run(state, {
    type: "publish-error",
    now: 3,
    publishId: pub?.publish.id ?? "",
    from: APP,
    errorType: "cancel",
    condition: "internal-server-error",
  }); // item-not-found removes at once (D20)
  expect(only(out, "removed")).toHaveLength(0);
  expect(state.users.get("alice")?.regs.get(pub?.publish.identifier ?? "")?.reg.errorCount).toBe(1);
});
