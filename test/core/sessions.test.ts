import { expect, test } from "bun:test";
import type { CoreState } from "../../src/core/state.ts";
import { APP, chat, chatState, fixture, copyOf, fresh, load, only, publishes, registration, run, sessionRef, started } from "./harness.ts";

const KEY = "batch/alice/s1";

function bound(over = {}): CoreState {
  const state = fresh(over);
  load(state, "alice", [registration("alice", APP, "mine"), registration("alice", APP, "other")]);
  started(state, sessionRef("alice", "s1"), 0, `${APP}<mine`);
  return state;
}

function queued(state: CoreState, copy: ReturnType<typeof chat>, now = 100) {
  return run(state, { type: "stanza-queued", now, user: "alice", sessionId: "s1", copy });
}

test("B30 queued stanzas start one 1 s batch timer; on expiry ≤1 important + ≤1 unimportant push to the session's own registration", () => {
  const state = bound();
  const first = queued(state, chatState("cs1"), 100);
  expect(only(first, "schedule")).toEqual([{ type: "schedule", key: KEY, at: 1100 }]);
  expect(only(queued(state, chat("m1"), 200), "schedule")).toHaveLength(0);
  queued(state, chat("m2"), 300);
  queued(state, chatState("cs2"), 400);
  const fired = run(state, { type: "timer", now: 1100, key: KEY });
  const pubs = publishes(fired);
  expect(pubs.map((p) => [p.identifier, p.important, p.trigger])).toEqual([
    [`${APP}<mine`, false, "session-queue"],
    [`${APP}<mine`, true, "session-queue"],
  ]);
  expect(pubs[1]?.summary.messageCount).toBe("2");
  expect(state.users.get("alice")?.sessions.get("s1")?.queue).toHaveLength(0);
});

test("B30 any stanza kind (presence) can cause the unimportant push", () => {
  const state = bound();
  queued(state, copyOf(fixture("presence-subscribe"), "p1"));
  expect(publishes(run(state, { type: "timer", now: 1100, key: KEY }))[0]?.important).toBe(false);
});

test("B31 stanza-queued for an unbound session does nothing", () => {
  const state = bound();
  started(state, sessionRef("alice", "s2"));
  expect(run(state, { type: "stanza-queued", now: 1, user: "alice", sessionId: "s2", copy: chat("x") })).toEqual([]);
});

test("B32 ack-delayed feeds the unacked queue to the batch", () => {
  const state = bound();
  const actions = run(state, { type: "ack-delayed", now: 50, user: "alice", sessionId: "s1", queue: [chat("a"), chat("b")] });
  expect(only(actions, "schedule")).toHaveLength(1);
  const pubs = publishes(run(state, { type: "timer", now: 1050, key: KEY }));
  expect(pubs.map((p) => p.trigger)).toEqual(["ack-delayed"]);
});

test("D8 ack-delayed twice does not push the same stanzas again (fixes B32 quirk)", () => {
  const state = bound();
  run(state, { type: "ack-delayed", now: 50, user: "alice", sessionId: "s1", queue: [chat("a")] });
  run(state, { type: "timer", now: 1050, key: KEY });
  run(state, { type: "ack-delayed", now: 2000, user: "alice", sessionId: "s1", queue: [chat("a")] });
  expect(publishes(run(state, { type: "timer", now: 3000, key: KEY }))).toHaveLength(0);
});

test("B33 hibernation-start extends the timeout and processes the unacked queue directly", () => {
  const state = bound();
  const actions = run(state, { type: "hibernation-started", now: 10, user: "alice", sessionId: "s1", queue: [chatState("c"), chat("m")] });
  expect(only(actions, "hibernation-timeout")[0]).toEqual({
    type: "hibernation-timeout",
    user: "alice",
    sessionId: "s1",
    mode: "extend",
    seconds: 259200,
  });
  expect(only(actions, "schedule")).toHaveLength(0);
  expect(publishes(actions).map((p) => [p.important, p.trigger])).toEqual([
    [false, "hibernation-start"],
    [true, "hibernation-start"],
  ]);
});

test("D12 an unbound hibernating session gets no extended timeout", () => {
  const state = bound();
  started(state, sessionRef("alice", "s2"));
  expect(run(state, { type: "hibernation-started", now: 1, user: "alice", sessionId: "s2", queue: [chat("m")] })).toEqual([]);
});

test("B34 the first important push while hibernating restores the server's timeout; unimportant ones do not", () => {
  const state = bound();
  const start = run(state, { type: "hibernation-started", now: 10, user: "alice", sessionId: "s1", queue: [chatState("c")] });
  expect(only(start, "hibernation-timeout").map((a) => a.mode)).toEqual(["extend"]);
  queued(state, chat("m1"), 20);
  const fired = run(state, { type: "timer", now: 1020, key: KEY });
  expect(only(fired, "hibernation-timeout")).toEqual([{ type: "hibernation-timeout", user: "alice", sessionId: "s1", mode: "restore" }]);
  queued(state, chat("m2"), 2000);
  expect(only(run(state, { type: "timer", now: 3000, key: KEY }), "hibernation-timeout")).toHaveLength(0);
  expect(state.users.get("alice")?.sessions.get("s1")?.firstHibernatedPush).toBe(1020);
});

test("D12 an important stanza in the unacked queue restores right after the extension", () => {
  const state = bound();
  const start = run(state, { type: "hibernation-started", now: 10, user: "alice", sessionId: "s1", queue: [chat("m")] });
  expect(only(start, "hibernation-timeout").map((a) => a.mode)).toEqual(["extend", "restore"]);
});

test("B35 (quirk fixed) hibernation-ended drops the queued batch: no push after the client resumed", () => {
  const state = bound();
  run(state, { type: "hibernation-started", now: 10, user: "alice", sessionId: "s1", queue: [] });
  queued(state, chat("late"), 20);
  run(state, { type: "hibernation-ended", now: 30, user: "alice", sessionId: "s1" });
  expect(state.users.get("alice")?.sessions.get("s1")?.queue).toEqual([]);
  // the next batch (after a new hibernation) does not carry the stanza the client already got
  run(state, { type: "hibernation-started", now: 40, user: "alice", sessionId: "s1", queue: [] });
  queued(state, chatState("cs"), 50);
  const pubs = publishes(run(state, { type: "timer", now: 1050, key: KEY }));
  expect(pubs.map((p) => p.important)).toEqual([false]);
});

test("B35 hibernation-ended cancels the batch timer, clears first_hibernated_push and resets the count (D9)", () => {
  const state = bound();
  run(state, { type: "hibernation-started", now: 10, user: "alice", sessionId: "s1", queue: [chat("m")] });
  queued(state, chat("m2"), 20);
  const ended = run(state, { type: "hibernation-ended", now: 30, user: "alice", sessionId: "s1" });
  expect(ended).toEqual([{ type: "cancel-timer", key: KEY }]);
  const s = state.users.get("alice")?.sessions.get("s1");
  expect(s?.firstHibernatedPush).toBeNull();
  expect(s?.hibernating).toBe(false);
  expect(state.users.get("alice")?.regs.get(`${APP}<mine`)?.count).toBe(0);
  expect(run(state, { type: "timer", now: 1020, key: KEY })).toEqual([]);
});

test("B36 archive path: only with a session, only registrations no session is bound to", () => {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "mine"), registration("alice", APP, "other")]);
  expect(run(state, { type: "archived", now: 1, user: "alice", copy: chat("a"), archiveId: "1" })).toEqual([]);
  started(state, sessionRef("alice", "s1"), 0, `${APP}<mine`);
  const pubs = publishes(run(state, { type: "archived", now: 2, user: "alice", copy: chat("b"), archiveId: "2" }));
  expect(pubs.map((p) => [p.identifier, p.trigger])).toEqual([[`${APP}<other`, "archive"]]);
});

test("B36 a JMI propose (jingle-message:0 and :1) targets all registrations", () => {
  for (const name of ["jmi-0-propose", "jmi-1-propose"]) {
    const state = bound();
    const pubs = publishes(run(state, { type: "archived", now: 2, user: "alice", copy: copyOf(fixture(name), name), archiveId: "3" }));
    expect(pubs.map((p) => p.identifier).sort()).toEqual([`${APP}<mine`, `${APP}<other`]);
  }
});

test("B37 offline path pushes to all registrations, bound or not", () => {
  const state = bound();
  const pubs = publishes(run(state, { type: "offline", now: 1, user: "alice", copy: chat("o") }));
  expect(pubs.map((p) => [p.identifier, p.trigger])).toEqual([
    [`${APP}<mine`, "offline"],
    [`${APP}<other`, "offline"],
  ]);
});

test("B38 bare groupchat pushes to all registrations", () => {
  const state = bound();
  const pubs = publishes(run(state, { type: "groupchat-bare", now: 1, user: "alice", copy: copyOf(fixture("muc-body"), "g1") }));
  expect(pubs.map((p) => [p.identifier, p.trigger, p.important])).toEqual([
    [`${APP}<mine`, "groupchat-bare", true],
    [`${APP}<other`, "groupchat-bare", true],
  ]);
});

test("B39 ping pushes with no stanza to the given registrations (or all), never important", () => {
  const state = bound();
  const all = run(state, { type: "ping", now: 1, user: "alice", requestId: "adm1" });
  expect(publishes(all).map((p) => [p.identifier, p.important, p.trigger, p.summary.lastMessageBody])).toEqual([
    [`${APP}<mine`, false, "ping", null],
    [`${APP}<other`, false, "ping", null],
  ]);
  expect(only(all, "reply")).toEqual([{ type: "reply", requestId: "adm1" }]);
  const one = run(state, { type: "ping", now: 2, user: "alice", identifiers: [`${APP}<other`] });
  expect(publishes(one).map((p) => p.identifier)).toEqual([`${APP}<other`]);
  const none = run(state, { type: "ping", now: 3, user: "alice", identifiers: ["x<y"], requestId: "adm2" });
  expect(only(none, "reply")[0]?.error?.condition).toBe("item-not-found");
});

test("B46 (Prosody-side unload) session-ended stops the batch timer and drops the queue", () => {
  const state = bound();
  queued(state, chat("m"));
  expect(run(state, { type: "session-ended", now: 5, user: "alice", sessionId: "s1" })).toEqual([{ type: "cancel-timer", key: KEY }]);
  expect(run(state, { type: "timer", now: 1100, key: KEY })).toEqual([]);
});

test("B47 (Prosody-side prerequisites: smacks/mam) without session events the session and archive paths stay silent", () => {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "mine")]);
  expect(run(state, { type: "stanza-queued", now: 1, user: "alice", sessionId: "s1", copy: chat("x") })).toEqual([]);
  expect(run(state, { type: "archived", now: 1, user: "alice", copy: chat("y"), archiveId: null })).toEqual([]);
});
