import { expect, test } from "bun:test";
import { APP, chat, fresh, load, only, publishes, registration, run } from "./harness.ts";

const NONE: ReadonlySet<string> = new Set();

function oneReg() {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "n1")]);
  return state;
}

test("D11 a publish interrupted by a broken link is sent again under a new id after the link is back", () => {
  const state = oneReg();
  const first = publishes(run(state, { type: "offline", now: 10, user: "alice", copy: chat("m1") }))[0]!;
  const actions = run(state, { type: "link-restored", now: 500, sentBefore: 400, known: NONE });
  const again = publishes(actions)[0]!;
  expect(again.id).not.toBe(first.id);
  expect({ ...again, id: "", deadline: 0 }).toEqual({ ...first, id: "", deadline: 0 });
  expect(again.deadline).toBe(500 + 60000);
  expect(only(actions, "history").map((h) => [h.publishId, h.outcome])).toEqual([[first.id, "retried"]]);
  // the old id is forgotten: a late answer to it changes nothing; the new one is answered
  expect(run(state, { type: "publish-result", now: 600, publishId: first.id, from: APP })).toEqual([]);
  expect(only(run(state, { type: "publish-result", now: 610, publishId: again.id, from: APP }), "history")[0]?.outcome).toBe("ok");
  expect(state.pending.size).toBe(0);
});

test("D11 publishes sent on the new stream are not re-sent; each push is sent at most 3 times", () => {
  const state = oneReg();
  publishes(run(state, { type: "offline", now: 10, user: "alice", copy: chat("m1") }));
  publishes(run(state, { type: "offline", now: 450, user: "alice", copy: chat("m2") }));
  expect(publishes(run(state, { type: "link-restored", now: 500, sentBefore: 400, known: NONE }))).toHaveLength(1);
  expect(publishes(run(state, { type: "link-restored", now: 900, sentBefore: 800, known: NONE }))).toHaveLength(2);
  // m1 has now been sent 3 times: the next break gives up on it with a timeout record
  const last = run(state, { type: "link-restored", now: 1500, sentBefore: 1400, known: NONE });
  expect(publishes(last)).toHaveLength(1);
  expect(
    only(last, "history")
      .map((h) => h.outcome)
      .sort(),
  ).toEqual(["retried", "timeout"]);
});

test("D11 a publish the bridge lists as forwarded is not sent again; its outcome event still resolves it", () => {
  const state = oneReg();
  const first = publishes(run(state, { type: "offline", now: 10, user: "alice", copy: chat("m1") }))[0]!;
  const second = publishes(run(state, { type: "offline", now: 20, user: "alice", copy: chat("m2") }))[0]!;
  const actions = run(state, { type: "link-restored", now: 500, sentBefore: 400, known: new Set([first.id]) });
  // only the publish the bridge never saw goes out again
  expect(publishes(actions).map((p) => p.payload)).toEqual([second.payload]);
  expect(only(actions, "history").map((h) => [h.publishId, h.outcome])).toEqual([[second.id, "retried"]]);
  expect(only(run(state, { type: "publish-result", now: 600, publishId: first.id, from: APP }), "history")[0]?.outcome).toBe("ok");
});

test("D11 publish-timeout from the bridge records a timeout at once and nothing is sent again", () => {
  const state = oneReg();
  const first = publishes(run(state, { type: "offline", now: 10, user: "alice", copy: chat("m1") }))[0]!;
  const actions = run(state, { type: "publish-timeout", now: 50, publishId: first.id });
  // D19: a timeout is retried later by a timer (test/core/retry.test.ts), never by link-restored
  expect(only(actions, "history").map((h) => [h.publishId, h.outcome])).toEqual([[first.id, "retry-scheduled"]]);
  expect(state.pending.size).toBe(0);
  expect(publishes(run(state, { type: "link-restored", now: 500, sentBefore: 400, known: NONE }))).toEqual([]);
  expect(run(state, { type: "publish-timeout", now: 60, publishId: first.id })).toEqual([]); // unknown id: nothing
});
