/**
 * D19: transient publish failures (`wait` errors, timeouts) are retried after the configured
 * delays, then given up; never `cancel`/`auth`/`modify`; a newer push supersedes a waiting
 * retry. Time is an input: timers are `schedule` actions, fired here as `timer` events.
 */
import { describe, expect, test } from "bun:test";
import type { CoreState } from "../../src/core/state.ts";
import type { Action, CoreConfig, Event, Publish } from "../../src/core/types.ts";
import { retryKey } from "../../src/core/retry.ts";
import { loadConfig, coreConfigFrom } from "../../src/config.ts";
import { APP, chat, fresh, load, only, publishes, pushCounts, registration, run, sessionRef, started } from "./harness.ts";

const ID = `${APP}<n1`;
const KEY = retryKey("alice", ID);
let keys = 0;

function setup(over: Partial<CoreConfig> = {}): CoreState {
  const state = fresh({ publishTimeoutMs: 60_000, ...over });
  load(state, "alice", [registration("alice", APP, "n1")]);
  return state;
}

function push(state: CoreState, now: number, user = "alice"): Publish {
  const p = publishes(run(state, { type: "offline", now, user, copy: chat(`k${++keys}`) }))[0];
  if (p === undefined) throw new Error("Cannot push: no publish");
  return p;
}

const retryMetrics = (actions: Action[]) =>
  only(actions, "metric")
    .filter((m) => m.name === "publish_retries_total")
    .map((m) => m.labels?.outcome);

/** The ways one attempt can fail transiently, each given the publish and the time. */
type Failure = {
  name: string;
  error: string;
  /** When it fails, given the publish and the time it was sent. */
  at: (p: Publish, sentAt: number) => number;
  fail: (state: CoreState, p: Publish, now: number) => Action[];
};
const waitError = (condition: string): Failure => ({
  name: `wait/${condition}`,
  error: `wait/${condition}`,
  at: (_p, sentAt) => sentAt + 10,
  fail: (state, p, now) => run(state, { type: "publish-error", now, publishId: p.id, from: APP, errorType: "wait", condition }),
});
const TRANSIENT: Failure[] = [
  waitError("remote-server-timeout"),
  waitError("resource-constraint"),
  waitError("recipient-unavailable"),
  waitError("internal-server-error"),
  {
    name: "D11 deadline (tick)",
    error: "timeout",
    at: (p) => p.deadline,
    fail: (state, _p, now) => run(state, { type: "tick", now }),
  },
  {
    name: "bridge publish-timeout",
    error: "timeout",
    at: (_p, sentAt) => sentAt + 3000,
    fail: (state, p, now) => run(state, { type: "publish-timeout", now, publishId: p.id }),
  },
];

describe("D19 a transient failure is retried after each delay, then given up and recorded", () => {
  for (const failure of TRANSIENT) {
    test(`D19 ${failure.name}: retried after 15 s and 2 min, then given up`, () => {
      const state = setup();
      const first = push(state, 1000);
      const sent: Publish[] = [first];
      const delays = [15_000, 120_000];
      let now = 1000;
      for (const [i, delay] of delays.entries()) {
        now = failure.at(sent[i]!, now);
        const out = failure.fail(state, sent[i]!, now);
        const h = only(out, "history");
        expect(h.map((r) => [r.publishId, r.outcome])).toEqual([[sent[i]!.id, "retry-scheduled"]]);
        expect(h[0]?.error).toBe(failure.error);
        expect(only(out, "schedule")).toEqual([{ type: "schedule", key: KEY, at: now + delay }]);
        expect(publishes(out)).toEqual([]);
        expect(retryMetrics(out)).toEqual(["scheduled"]);
        expect(state.users.get("alice")?.regs.get(ID)?.reg.errorCount).toBe(0); // never counted
        expect(run(state, { type: "timer", now: now + delay - 1, key: "batch/alice/other" })).toEqual([]);
        now += delay;
        const fired = run(state, { type: "timer", now, key: KEY });
        const again = publishes(fired);
        expect(again).toHaveLength(1);
        expect(again[0]!.id).not.toBe(sent[i]!.id);
        expect({ ...again[0]!, id: "", deadline: 0 }).toEqual({ ...first, id: "", deadline: 0 });
        expect(again[0]!.deadline).toBe(now + 60_000);
        expect(only(fired, "history")).toEqual([]); // recorded at its outcome
        expect(pushCounts(fired)).toEqual(["sent"]);
        expect(retryMetrics(fired)).toEqual(["sent"]);
        sent.push(again[0]!);
      }
      now = failure.at(sent[2]!, now);
      const last = failure.fail(state, sent[2]!, now);
      expect(only(last, "history").map((r) => [r.publishId, r.outcome])).toEqual([
        [sent[2]!.id, failure.error === "timeout" ? "timeout" : "error"],
      ]);
      expect(only(last, "schedule")).toEqual([]);
      expect(retryMetrics(last)).toEqual(["given-up"]);
      expect(state.retries.size).toBe(0);
      expect(state.users.get("alice")?.pendingRetries).toBe(0);
      expect(state.users.get("alice")?.regs.has(ID)).toBe(true);
    });
  }
});

describe("D19 only wait errors and timeouts are retried", () => {
  const cases: Array<[string, string, "retry-scheduled" | "error"]> = [
    ["wait", "resource-constraint", "retry-scheduled"],
    ["wait", "bad-request", "error"], // fpush's "Invalid push format": the same bytes fail again
    ["wait", "not-acceptable", "error"],
    ["cancel", "remote-server-not-found", "error"],
    ["cancel", "bad-request", "error"], // fpush's transient failures: counted, not retried
    ["cancel", "policy-violation", "error"],
    ["auth", "not-authorized", "error"],
    ["auth", "forbidden", "error"],
    ["modify", "bad-request", "error"],
    ["continue", "undefined-condition", "error"],
  ];
  for (const [errorType, condition, outcome] of cases) {
    test(`D19 ${errorType}/${condition} → ${outcome}`, () => {
      const state = setup();
      const p = push(state, 1000);
      const out = run(state, { type: "publish-error", now: 1200, publishId: p.id, from: APP, errorType, condition });
      expect(only(out, "history").map((h) => [h.outcome, h.error])).toEqual([[outcome, `${errorType}/${condition}`]]);
      expect(only(out, "schedule")).toHaveLength(outcome === "error" ? 0 : 1);
      expect(state.retries.size).toBe(outcome === "error" ? 0 : 1);
    });
  }

  test("D19 a table-full expiry (D11 bound) is not retried: retrying would add to the load", () => {
    const state = setup({ maxPendingPublishes: 1 });
    push(state, 1);
    const out = run(state, { type: "offline", now: 2, user: "alice", copy: chat("full") });
    expect(pushCounts(out)).toEqual(["timeout", "sent"]);
    expect(only(out, "history").map((h) => h.outcome)).toEqual(["timeout"]);
    expect(only(out, "schedule")).toEqual([]);
  });

  test("D19 push_retry_delays = [] keeps the reference: wait recorded as error, timeout as timeout, nothing scheduled (B42, B44)", () => {
    const state = setup({ pushRetryDelaysMs: [] });
    const a = run(state, {
      type: "publish-error",
      now: 10,
      publishId: push(state, 1).id,
      from: APP,
      errorType: "wait",
      condition: "resource-constraint",
    });
    expect(only(a, "history").map((h) => h.outcome)).toEqual(["error"]);
    const p = push(state, 20);
    const b = run(state, { type: "tick", now: p.deadline });
    expect(only(b, "history").map((h) => h.outcome)).toEqual(["timeout"]);
    expect([...only(a, "schedule"), ...only(b, "schedule")]).toEqual([]);
    expect(retryMetrics([...a, ...b])).toEqual([]);
  });
});

describe("D19 a newer push supersedes a retry", () => {
  test("D19 a push to the registration cancels its waiting retry, which is recorded as superseded", () => {
    const state = setup();
    const first = push(state, 1000);
    run(state, { type: "publish-error", now: 1100, publishId: first.id, from: APP, errorType: "wait", condition: "resource-constraint" });
    const out = run(state, { type: "offline", now: 5000, user: "alice", copy: chat("newer") });
    expect(only(out, "cancel-timer")).toEqual([{ type: "cancel-timer", key: KEY }]);
    expect(only(out, "history").map((h) => [h.publishId, h.outcome, h.error ?? null])).toEqual([
      [first.id, "superseded", "wait/resource-constraint"],
    ]);
    expect(pushCounts(out)).toEqual(["superseded", "sent"]); // the new push, recorded at its outcome
    expect(retryMetrics(out)).toEqual(["superseded"]);
    expect(state.retries.size).toBe(0);
    // a timer that fired anyway (raced the cancel) sends nothing
    expect(run(state, { type: "timer", now: 16_100, key: KEY })).toEqual([]);
  });

  test("D19 a transient failure of an older publish while a newer one is out is not retried (superseded)", () => {
    const state = setup();
    const older = push(state, 1000);
    const newer = push(state, 1001);
    const out = run(state, {
      type: "publish-error",
      now: 1100,
      publishId: older.id,
      from: APP,
      errorType: "wait",
      condition: "remote-server-timeout",
    });
    expect(only(out, "history").map((h) => [h.publishId, h.outcome])).toEqual([[older.id, "superseded"]]);
    expect(only(out, "schedule")).toEqual([]);
    // the newer one is still retried when it fails
    const next = run(state, {
      type: "publish-error",
      now: 1200,
      publishId: newer.id,
      from: APP,
      errorType: "wait",
      condition: "remote-server-timeout",
    });
    expect(only(next, "schedule")).toHaveLength(1);
  });

  test("D19 retries are per registration: a push to another registration leaves a retry alone", () => {
    const state = fresh();
    load(state, "alice", [registration("alice", APP, "n1"), registration("alice", APP, "n2")]);
    const [a] = publishes(run(state, { type: "offline", now: 1, user: "alice", copy: chat("m1") }));
    run(state, { type: "publish-error", now: 2, publishId: a!.id, from: APP, errorType: "wait", condition: "resource-constraint" });
    // m1's publish to n2 is the newest for n2 and still pending: a push to n2 alone (a ping) supersedes nothing of n1
    const out = run(state, { type: "ping", now: 3, user: "alice", identifiers: [`${APP}<n2`] });
    expect(only(out, "cancel-timer")).toEqual([]);
    expect(state.retries.size).toBe(1);
  });

  test("D19 a success on a retry is an ordinary result (B43) and ends the retries", () => {
    const state = setup();
    const first = push(state, 1000);
    run(state, { type: "publish-error", now: 1100, publishId: first.id, from: APP, errorType: "wait", condition: "resource-constraint" });
    const retried = publishes(run(state, { type: "timer", now: 16_100, key: KEY }))[0]!;
    const out = run(state, { type: "publish-result", now: 16_200, publishId: retried.id, from: APP });
    expect(only(out, "history").map((h) => [h.publishId, h.outcome, h.latencyMs])).toEqual([[retried.id, "ok", 100]]);
    expect(state.retries.size).toBe(0);
    expect(state.pending.size).toBe(0);
  });
});

/** Fires the core's timers in time order: what the shell's timers do, without waiting. */
function makeClock(state: CoreState) {
  const timers = new Map<string, number>();
  const sent: Publish[] = [];
  const all: Action[] = [];
  const apply = (actions: Action[]) => {
    all.push(...actions);
    for (const a of actions) {
      if (a.type === "schedule") timers.set(a.key, a.at);
      if (a.type === "cancel-timer") timers.delete(a.key);
      if (a.type === "publish") sent.push(a.publish);
    }
    return actions;
  };
  const step = (event: Event) => apply(run(state, event));
  const advance = (now: number) => {
    for (;;) {
      const due = [...timers].filter(([, at]) => at <= now).sort((x, y) => x[1] - y[1])[0];
      if (due === undefined) return;
      timers.delete(due[0]);
      step({ type: "timer", now: due[1], key: due[0] });
    }
  };
  return { timers, sent, all, step, advance };
}

describe("D19 bounds: a dead service never causes a storm", () => {
  test("D19 a service answering wait to everything: each push is sent at most 3 times, at most one retry waits", () => {
    const state = setup();
    const clock = makeClock(state);
    const pushes = 40;
    for (let i = 0; i < pushes; i++) {
      const now = i * 7_000; // a message every 7 s: faster than the first retry delay
      clock.advance(now);
      clock.step({ type: "offline", now, user: "alice", copy: chat(`storm${i}`) });
      for (const p of [...clock.sent]) {
        if (state.pending.has(p.id))
          clock.step({
            type: "publish-error",
            now: now + 50,
            publishId: p.id,
            from: APP,
            errorType: "wait",
            condition: "resource-constraint",
          });
      }
      expect(clock.timers.size).toBeLessThanOrEqual(1);
      expect(state.retries.size).toBeLessThanOrEqual(1);
    }
    clock.advance(10_000_000);
    for (const p of [...clock.sent]) {
      if (state.pending.has(p.id))
        clock.step({
          type: "publish-error",
          now: 10_000_001,
          publishId: p.id,
          from: APP,
          errorType: "wait",
          condition: "resource-constraint",
        });
    }
    clock.advance(20_000_000);
    // every push superseded the previous push's retry: only the last push is retried, twice
    expect(clock.sent).toHaveLength(pushes + 2);
    expect(state.retries.size).toBe(0);
    expect(state.pending.size).toBeLessThanOrEqual(1);
  });

  test("D19 pushes slower than the delays: every push is retried twice, never more (1 + delays sends each)", () => {
    const state = setup();
    const clock = makeClock(state);
    for (let i = 0; i < 5; i++) {
      const start = i * 1_000_000;
      clock.step({ type: "offline", now: start, user: "alice", copy: chat(`slow${i}`) });
      for (let t = start; t < start + 500_000; t += 1_000) {
        clock.advance(t);
        for (const p of [...clock.sent]) {
          if (state.pending.has(p.id))
            clock.step({ type: "publish-error", now: t, publishId: p.id, from: APP, errorType: "wait", condition: "resource-constraint" });
        }
      }
    }
    expect(clock.sent).toHaveLength(5 * 3);
    expect(retryMetrics(clock.all).filter((o) => o === "given-up")).toHaveLength(5);
  });

  test("D19 the retry table is capped at maxPendingRetries: beyond it a failure is given up (metric dropped)", () => {
    const state = fresh({ maxPendingRetries: 2 });
    const ids: string[] = [];
    for (const user of ["u1", "u2", "u3"]) {
      load(state, user, [registration(user, APP, "n1")]);
      ids.push(push(state, 1, user).id);
    }
    const outs = ids.map((id) =>
      run(state, { type: "publish-error", now: 5, publishId: id, from: APP, errorType: "wait", condition: "resource-constraint" }),
    );
    expect(outs.map((o) => only(o, "history")[0]?.outcome)).toEqual(["retry-scheduled", "retry-scheduled", "error"]);
    expect(retryMetrics(outs[2]!)).toEqual(["dropped"]);
    expect(state.retries.size).toBe(2);
  });

  test("D19 link resends keep the retry count: a push is still retried only twice", () => {
    const state = setup();
    const clock = makeClock(state);
    clock.step({ type: "offline", now: 0, user: "alice", copy: chat("m") });
    let now = 0;
    for (let round = 0; round < 3; round++) {
      now += 1000;
      clock.step({ type: "link-restored", now, sentBefore: now - 1, known: new Set() }); // resent under a new id
      const live = clock.sent.filter((p) => state.pending.has(p.id));
      expect(live).toHaveLength(1);
      now += 10;
      clock.step({ type: "publish-error", now, publishId: live[0]!.id, from: APP, errorType: "wait", condition: "resource-constraint" });
      now += 200_000;
      clock.advance(now);
    }
    // three failures → two retries → the third failure gives up, whatever the link did in between
    expect(retryMetrics(clock.all)).toEqual(["scheduled", "sent", "scheduled", "sent", "given-up"]);
  });
});

describe("D19 a retry follows its registration", () => {
  function failed(): CoreState {
    const state = setup();
    const p = push(state, 1000);
    run(state, { type: "publish-error", now: 1100, publishId: p.id, from: APP, errorType: "wait", condition: "resource-constraint" });
    return state;
  }
  const removals: Array<[string, (state: CoreState) => void]> = [
    ["admin-delete", (state) => run(state, { type: "admin-delete", now: 2000, user: "alice", identifiers: null })],
    ["user-deleted", (state) => run(state, { type: "user-deleted", now: 2000, user: "alice" })],
  ];
  for (const [name, remove] of removals) {
    test(`D19 after ${name} the retry's timer sends nothing`, () => {
      const state = failed();
      remove(state);
      expect(publishes(run(state, { type: "timer", now: 16_100, key: KEY }))).toEqual([]);
      expect(state.retries.size).toBe(0);
    });
  }

  test("D19 a waiting retry pins its user in the cache (like a pending publish)", () => {
    const state = fresh({ maxCachedUsers: 1 });
    load(state, "alice", [registration("alice", APP, "n1")]);
    const p = push(state, 1000);
    run(state, { type: "publish-error", now: 1100, publishId: p.id, from: APP, errorType: "wait", condition: "resource-constraint" });
    for (const user of ["bob", "carol", "dave"]) load(state, user, []);
    expect(state.users.has("alice")).toBe(true);
    expect(publishes(run(state, { type: "timer", now: 16_100, key: KEY }))).toHaveLength(1);
  });

  test("D19 a retry of a bound session's push goes to the same registration and keeps its message count", () => {
    const state = setup();
    started(state, sessionRef("alice", "s1"), 0, ID);
    run(state, { type: "session-ended", now: 1, user: "alice", sessionId: "s1" });
    const p = push(state, 1000);
    run(state, { type: "publish-error", now: 1100, publishId: p.id, from: APP, errorType: "wait", condition: "resource-constraint" });
    const again = publishes(run(state, { type: "timer", now: 16_100, key: KEY }))[0]!;
    expect([again.identifier, again.summary]).toEqual([p.identifier, p.summary]);
  });
});

describe("D19 configuration: push_retry_delays", () => {
  const SECRET = { CLOUD_NOTIFYD_COMPONENT_SECRET: "s" };
  const cases: Array<[string, number[]]> = [
    ["15,120", [15, 120]],
    ["1, 2", [1, 2]],
    ["", []],
    ["5", [5]],
  ];
  for (const [env, seconds] of cases) {
    test(`D19 CLOUD_NOTIFYD_PUSH_RETRY_DELAYS=${JSON.stringify(env)} → ${JSON.stringify(seconds)} s`, () => {
      const loaded = loadConfig({ ...SECRET, CLOUD_NOTIFYD_PUSH_RETRY_DELAYS: env }, []);
      if (!loaded.ok) throw new Error(loaded.error);
      expect(loaded.config.pushRetryDelays).toEqual(seconds);
      expect(coreConfigFrom(loaded.config).pushRetryDelaysMs).toEqual(seconds.map((s) => s * 1000));
    });
  }
  for (const bad of ["0", "15,x", "-1", "1,2,3,4,5,6,7,8,9,10,11", "90000"]) {
    test(`D19 push_retry_delays ${JSON.stringify(bad)} is refused with one line naming the key`, () => {
      const loaded = loadConfig({ ...SECRET, CLOUD_NOTIFYD_PUSH_RETRY_DELAYS: bad }, []);
      expect(loaded.ok).toBe(false);
      if (loaded.ok) return;
      expect(loaded.error).toStartWith("Cannot load config: push_retry_delays must be a list");
      expect(loaded.error).not.toContain("\n");
    });
  }
});

test("D19 a link resend of an older publish does not make it the newest: its transient failure is superseded", () => {
  const state = setup();
  const older = push(state, 10);
  const newer = push(state, 20);
  const out = run(state, { type: "link-restored", now: 500, sentBefore: 400, known: new Set([newer.id]) }); // only the older one is resent
  const resent = publishes(out)[0]!;
  expect(resent.summary).toEqual(older.summary);
  const failed = run(state, {
    type: "publish-error",
    now: 600,
    publishId: resent.id,
    from: APP,
    errorType: "wait",
    condition: "resource-constraint",
  });
  expect(only(failed, "history").map((h) => h.outcome)).toEqual(["superseded"]);
  expect(
    only(
      run(state, { type: "publish-error", now: 700, publishId: newer.id, from: APP, errorType: "wait", condition: "resource-constraint" }),
      "schedule",
    ),
  ).toHaveLength(1);
});
