import { expect, test } from "bun:test";
import { evictUsers, initState, isLoaded, nextPublishId } from "../../src/core/state.ts";
import {
  APP,
  SEED,
  chat,
  config,
  fresh,
  load,
  only,
  publishes,
  pushCounts,
  registration,
  run,
  sessionRef,
  started,
  xml,
} from "./harness.ts";

test("memory: the dedupe window holds at most dedupeWindow entries", () => {
  const state = fresh({ dedupeWindow: 10 });
  load(state, "alice", [registration("alice", APP, "a")]);
  for (let i = 0; i < 50; i++) run(state, { type: "offline", now: i, user: "alice", copy: chat(`k${i}`) });
  expect(state.dedupeSize).toBe(10);
  // the oldest key fell out of the window, so it can be pushed again
  expect(publishes(run(state, { type: "offline", now: 60, user: "alice", copy: chat("k0") }))).toHaveLength(1);
});

test("memory: dedupe entries expire after dedupeTtlMs and tick purges them", () => {
  const state = fresh({ dedupeTtlMs: 100 });
  load(state, "alice", [registration("alice", APP, "a")]);
  run(state, { type: "offline", now: 0, user: "alice", copy: chat("k") });
  expect(publishes(run(state, { type: "offline", now: 50, user: "alice", copy: chat("k") }))).toHaveLength(0);
  run(state, { type: "tick", now: 100 });
  expect(state.dedupeSize).toBe(0);
  expect(publishes(run(state, { type: "offline", now: 101, user: "alice", copy: chat("k") }))).toHaveLength(1);
});

test("memory: pending publishes are capped; when full the oldest is expired as a timeout", () => {
  const state = fresh({ maxPendingPublishes: 3 });
  load(state, "alice", [registration("alice", APP, "a")]);
  const ids = [0, 1, 2].map((i) => publishes(run(state, { type: "offline", now: i, user: "alice", copy: chat(`k${i}`) }))[0]?.id);
  const out = run(state, { type: "offline", now: 3, user: "alice", copy: chat("k3") });
  expect(state.pending.size).toBe(3);
  expect(state.pending.has(ids[0] ?? "")).toBe(false);
  expect(pushCounts(out)).toEqual(["timeout", "sent"]);
  expect(only(out, "history").map((h) => h.outcome)).toEqual(["timeout"]); // the new one is recorded at its outcome
  expect(state.users.get("alice")?.pendingPublishes).toBe(3);
});

test("memory: a session batch queue holds at most maxSessionQueue stanzas", () => {
  const state = fresh({ maxSessionQueue: 4 });
  load(state, "alice", [registration("alice", APP, "a")]);
  started(state, sessionRef("alice", "s1"), 0, `${APP}<a`);
  for (let i = 0; i < 20; i++) run(state, { type: "stanza-queued", now: i, user: "alice", sessionId: "s1", copy: chat(`k${i}`) });
  const queue = state.users.get("alice")?.sessions.get("s1")?.queue ?? [];
  expect(queue.map((c) => c.key)).toEqual(["k16", "k17", "k18", "k19"]);
});

test("memory: cached users are an LRU of maxCachedUsers that never evicts pinned users", () => {
  const state = fresh({ maxCachedUsers: 3 });
  load(state, "pinned");
  started(state, sessionRef("pinned", "s1"));
  for (const user of ["u1", "u2", "u3", "u4"]) load(state, user);
  expect(state.users.size).toBe(3);
  expect(isLoaded(state, "pinned")).toBe(true);
  expect(isLoaded(state, "u1")).toBe(false);
  expect(isLoaded(state, "u4")).toBe(true);
});

test("memory: when every cached user is pinned the cache may exceed its cap, but nobody pinned is lost", () => {
  const state = fresh({ maxCachedUsers: 2 });
  for (const user of ["a", "b", "c"]) {
    load(state, user);
    started(state, sessionRef(user, "s"));
  }
  evictUsers(state);
  expect([...state.users.keys()].sort()).toEqual(["a", "b", "c"]);
});

test("ids: publish ids are 64 hex chars, unique, and deterministic for a seed", () => {
  const a = initState(config(), { idSeed: SEED });
  const b = initState(config(), { idSeed: SEED });
  const seen = new Set<string>();
  for (let i = 0; i < 10000; i++) {
    const id = nextPublishId(a);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    seen.add(id);
    expect(nextPublishId(b)).toBe(id);
  }
  expect(seen.size).toBe(10000);
  const other = initState(config(), { idSeed: "f".repeat(64) });
  expect(nextPublishId(other)).not.toBe(nextPublishId(initState(config(), { idSeed: SEED })));
});

test("ids: a malformed seed is a programmer error", () => {
  expect(() => initState(config(), { idSeed: "xyz" })).toThrow("Cannot use id seed");
});

test("step() is deterministic: the same events give the same actions", () => {
  const runAll = () => {
    const state = fresh();
    load(state, "alice", [registration("alice", APP, "a")]);
    return [0, 1, 2].flatMap((i) => run(state, { type: "offline", now: i, user: "alice", copy: chat(`k${i}`) }));
  };
  expect(runAll()).toEqual(runAll());
});

test("memory: the order queue of pending publishes stays bounded when every publish is answered", () => {
  const state = fresh({ maxPendingPublishes: 10, publishTimeoutMs: 1_000_000 });
  load(state, "alice", [registration("alice", APP, "a")]);
  // one unanswered publish at the front keeps the answered ones behind it from being popped by tick
  run(state, { type: "offline", now: 0, user: "alice", copy: chat("first") });
  for (let i = 1; i < 5000; i++) {
    const id = publishes(run(state, { type: "offline", now: i, user: "alice", copy: chat(`k${i}`) }))[0]?.id ?? "";
    run(state, { type: "publish-result", now: i, publishId: id, from: APP });
  }
  expect(state.pending.size).toBe(1);
  expect(state.pendingOrder.items.length - state.pendingOrder.head).toBeLessThanOrEqual(2 * 10 + 1024 + 1);
});

test("memory: the user order queue stays bounded across user deletions", () => {
  const state = fresh();
  for (let i = 0; i < 5000; i++) {
    load(state, "churn");
    run(state, { type: "user-deleted", now: i, user: "churn" });
  }
  expect(state.userOrder.items.length - state.userOrder.head).toBeLessThanOrEqual(1024 + 2);
});

test("memory: a queued stanza is kept slim (root attributes, body ≤ 4096 chars, its importance), whatever its size", () => {
  const state = fresh({ pushNotificationWithBody: true });
  load(state, "alice", [registration("alice", APP, "n1")]);
  started(state, sessionRef("alice", "s1"), 0, `${APP}<n1`);
  const huge = `<message xmlns="jabber:client" from="bob@example.net/x" to="alice@example.com" type="chat" id="big"><body>${"b".repeat(10000)}</body>${"<junk xmlns='urn:x'>pad</junk>".repeat(2000)}<encrypted xmlns="urn:xmpp:omemo:2"/></message>`;
  run(state, { type: "stanza-queued", now: 1, user: "alice", sessionId: "s1", copy: { stanza: xml(huge), key: "big" } });
  const queued = state.users.get("alice")?.sessions.get("s1")?.queue[0];
  expect(queued?.important).toBe(true);
  expect(queued?.stanza.children).toHaveLength(1);
  expect(JSON.stringify(queued).length).toBeLessThan(4500);
  expect(queued?.stanza.attrs.from).toBe("bob@example.net/x");
  // and the batch still pushes it as important
  const pubs = publishes(run(state, { type: "timer", now: 1001, key: "batch/alice/s1" }));
  expect(pubs.map((p) => p.important)).toEqual([true]);
  expect(pubs[0]?.summary.lastMessageBody).toBe("b".repeat(4096));
});
