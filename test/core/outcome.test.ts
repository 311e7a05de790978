/**
 * One owner for publishes in flight: the core records each push once, at its outcome, dated at
 * its send, counts it, settles what is in flight when the daemon stops (`shutdown`), and
 * answers the admin API's questions and commands (`admin-query`, `admin-reply`).
 */
import { describe, expect, test } from "bun:test";
import type { CoreState } from "../../src/core/state.ts";
import type { Action, AdminAnswer } from "../../src/core/types.ts";
import { APP, chat, fresh, load, only, publishes, pushCounts, registration, run, sessionRef, started } from "./harness.ts";

const ID = `${APP}<n1`;
const NONE: ReadonlySet<string> = new Set();

function twoRegs(): CoreState {
  const state = fresh({ publishTimeoutMs: 60_000 });
  load(state, "alice", [registration("alice", APP, "n1"), registration("alice", APP, "n2")]);
  return state;
}

const answers = (actions: Action[]): AdminAnswer[] => only(actions, "admin-reply").map((a) => a.answer);

describe("D17 one history record per push, made at its outcome", () => {
  test("D17 a push is counted when sent and recorded when answered: dated at its send, with the reply's latency", () => {
    const state = twoRegs();
    const sent = run(state, { type: "offline", now: 100, user: "alice", copy: chat("m1") });
    expect(only(sent, "history")).toEqual([]);
    expect(pushCounts(sent)).toEqual(["sent", "sent"]);
    const [a] = publishes(sent);
    const out = run(state, { type: "publish-result", now: 130, publishId: a!.id, from: APP });
    expect(only(out, "history")).toEqual([
      {
        type: "history",
        at: 130,
        user: "alice",
        identifier: ID,
        publishId: a!.id,
        trigger: "offline",
        important: true,
        outcome: "ok",
        latencyMs: 30,
        error: null,
        sentAt: 100,
      },
    ]);
    expect(pushCounts(out)).toEqual(["ok"]);
    expect(
      only(out, "metric")
        .filter((m) => m.name === "publish_latency_seconds")
        .map((m) => m.value),
    ).toEqual([0.03]);
  });

  test("D17 an error reply is counted once by type and condition, with its latency", () => {
    const state = fresh({ pushRetryDelaysMs: [], pushRemoveConditions: [] });
    load(state, "alice", [registration("alice", APP, "n1")]);
    const [p] = publishes(run(state, { type: "offline", now: 100, user: "alice", copy: chat("m1") }));
    const out = run(state, {
      type: "publish-error",
      now: 110,
      publishId: p!.id,
      from: APP,
      errorType: "cancel",
      condition: "item-not-found",
    });
    expect(
      only(out, "metric")
        .filter((m) => m.name === "publish_errors_total")
        .map((m) => m.labels),
    ).toEqual([{ type: "cancel", condition: "item-not-found" }]);
    expect(only(out, "history").map((h) => [h.outcome, h.error, h.latencyMs, h.sentAt])).toEqual([
      ["error", "cancel/item-not-found", 10, 100],
    ]);
  });

  test("D11 a publish sent again after a broken link is not listed in flight; its row is dated at its outcome", () => {
    const state = fresh();
    load(state, "alice", [registration("alice", APP, "n1")]);
    run(state, { type: "offline", now: 10, user: "alice", copy: chat("m1") });
    const again = publishes(run(state, { type: "link-restored", now: 500, sentBefore: 400, known: NONE }))[0]!;
    expect(answers(run(state, { type: "admin-query", now: 501, requestId: "q", query: { kind: "inflight", user: "alice" } }))).toEqual([
      { kind: "inflight", pushes: [] },
    ]);
    const h = only(run(state, { type: "publish-result", now: 610, publishId: again.id, from: APP }), "history")[0];
    expect(h).toMatchObject({ outcome: "ok", at: 610, latencyMs: 110 });
    expect(h?.sentAt).toBeUndefined();
  });
});

describe("D11 shutdown: the core settles the publishes in flight", () => {
  test("D11 with nothing in flight the core settles at once", () => {
    const state = twoRegs();
    expect(run(state, { type: "shutdown", now: 5, graceMs: 2000 })).toEqual([{ type: "settled" }]);
  });

  test("D11 with a grace period it waits for the answers and settles once the last one is in", () => {
    const state = twoRegs();
    const [a, b] = publishes(run(state, { type: "offline", now: 100, user: "alice", copy: chat("m1") }));
    expect(run(state, { type: "shutdown", now: 200, graceMs: 2000 })).toEqual([{ type: "schedule", key: "shutdown", at: 2200 }]);
    expect(only(run(state, { type: "publish-result", now: 210, publishId: a!.id, from: APP }), "settled")).toEqual([]);
    const last = run(state, { type: "publish-result", now: 220, publishId: b!.id, from: APP });
    expect(only(last, "history").map((h) => h.outcome)).toEqual(["ok"]);
    expect(last.slice(-2)).toEqual([{ type: "cancel-timer", key: "shutdown" }, { type: "settled" }]);
  });

  test("D11 at the end of the grace period what is unanswered is recorded as sent, dated at its send, and forgotten", () => {
    const state = twoRegs();
    const [a] = publishes(run(state, { type: "offline", now: 100, user: "alice", copy: chat("m1") }));
    run(state, { type: "shutdown", now: 200, graceMs: 2000 });
    const out = run(state, { type: "timer", now: 2200, key: "shutdown" });
    expect(only(out, "history").map((h) => [h.identifier, h.outcome, h.sentAt])).toEqual([
      [ID, "sent", 100],
      [`${APP}<n2`, "sent", 100],
    ]);
    expect(pushCounts(out)).toEqual([]); // counted as sent when they went out
    expect(only(out, "settled")).toHaveLength(1);
    expect(state.pending.size).toBe(0);
    expect(state.users.get("alice")?.pendingPublishes).toBe(0);
    // a late answer changes nothing
    expect(run(state, { type: "publish-result", now: 2300, publishId: a!.id, from: APP })).toEqual([]);
  });

  test("D11 shutdown without a grace period settles at once (the stream is gone)", () => {
    const state = twoRegs();
    run(state, { type: "offline", now: 100, user: "alice", copy: chat("m1") });
    run(state, { type: "shutdown", now: 200, graceMs: 2000 });
    const out = run(state, { type: "shutdown", now: 300, graceMs: 0 });
    expect(out.map((a) => a.type)).toEqual(["cancel-timer", "history", "history", "settled"]);
  });
});

describe("the admin API asks the core", () => {
  test("in flight: the user's unanswered publishes, newest first, one registration or all", () => {
    const state = twoRegs();
    const first = publishes(run(state, { type: "offline", now: 100, user: "alice", copy: chat("m1") }));
    const second = publishes(run(state, { type: "offline", now: 200, user: "alice", copy: chat("m2") }));
    run(state, { type: "publish-result", now: 210, publishId: second[1]!.id, from: APP });
    const all = answers(run(state, { type: "admin-query", now: 300, requestId: "q1", query: { kind: "inflight", user: "alice" } }));
    expect(all).toEqual([
      {
        kind: "inflight",
        pushes: [
          { at: 200, user: "alice", identifier: ID, publishId: second[0]!.id, trigger: "offline", important: true },
          { at: 100, user: "alice", identifier: `${APP}<n2`, publishId: first[1]!.id, trigger: "offline", important: true },
          { at: 100, user: "alice", identifier: ID, publishId: first[0]!.id, trigger: "offline", important: true },
        ],
      },
    ]);
    const one = answers(
      run(state, { type: "admin-query", now: 300, requestId: "q2", query: { kind: "inflight", user: "alice", identifier: `${APP}<n2` } }),
    );
    expect(one.flatMap((a) => (a.kind === "inflight" ? a.pushes.map((p) => p.publishId) : []))).toEqual([first[1]!.id]);
    expect(answers(run(state, { type: "admin-query", now: 300, requestId: "q3", query: { kind: "inflight", user: "bob" } }))).toEqual([
      { kind: "inflight", pushes: [] },
    ]);
  });

  test("user: sessions with binding and hibernation, without loading or touching the user", () => {
    const state = twoRegs();
    started(state, sessionRef("alice", "s1", "client-1"), 0, ID);
    run(state, { type: "hibernation-started", now: 50, user: "alice", sessionId: "s1", queue: [] });
    const out = run(state, { type: "admin-query", now: 60, requestId: "u", query: { kind: "user", user: "alice" } });
    expect(out).toEqual([
      {
        type: "admin-reply",
        requestId: "u",
        answer: {
          kind: "user",
          disabled: false,
          extensions: [],
          sessions: [
            { sessionId: "s1", fullJid: "alice@example.com/s1", clientId: "client-1", bound: ID, hibernating: true, hibernatingSince: 50 },
          ],
        },
      },
    ]);
    run(state, { type: "admin-query", now: 60, requestId: "n", query: { kind: "user", user: "nobody" } });
    expect(state.users.has("nobody")).toBe(false);
  });

  test("totals: the core's table sizes", () => {
    const state = twoRegs();
    run(state, { type: "offline", now: 100, user: "alice", copy: chat("m1") });
    expect(answers(run(state, { type: "admin-query", now: 1, requestId: "t", query: { kind: "totals" } }))).toEqual([
      { kind: "totals", cachedUsers: 1, pendingPublishes: 2 },
    ]);
  });

  test("B39 a test push is answered with its publishes, then with each one's first outcome", () => {
    const state = fresh({ pushRetryDelaysMs: [], pushRemoveConditions: [] });
    load(state, "alice", [registration("alice", APP, "n1"), registration("alice", APP, "n2")]);
    const out = run(state, { type: "ping", now: 100, user: "alice", identifiers: null, adminRequestId: "tp" });
    const sent = publishes(out);
    expect(answers(out)).toEqual([{ kind: "test-push", publishes: sent.map((p) => ({ publishId: p.id, identifier: p.identifier })) }]);
    expect(sent.map((p) => p.trigger)).toEqual(["ping", "ping"]);
    const ok = run(state, { type: "publish-result", now: 120, publishId: sent[0]!.id, from: APP });
    expect(only(ok, "admin-reply")).toEqual([
      {
        type: "admin-reply",
        requestId: "tp",
        answer: { kind: "push-outcome", publishId: sent[0]!.id, identifier: ID, outcome: "ok", error: null, latencyMs: 20 },
      },
    ]);
    const failed = run(state, {
      type: "publish-error",
      now: 130,
      publishId: sent[1]!.id,
      from: APP,
      errorType: "cancel",
      condition: "item-not-found",
    });
    expect(answers(failed)).toEqual([
      {
        kind: "push-outcome",
        publishId: sent[1]!.id,
        identifier: `${APP}<n2`,
        outcome: "error",
        error: "cancel/item-not-found",
        latencyMs: 30,
      },
    ]);
  });

  test("B39 a test push that matches nothing is answered with no publishes; an ordinary ping gets no admin answer", () => {
    const state = twoRegs();
    expect(answers(run(state, { type: "ping", now: 1, user: "alice", identifiers: ["none<"], adminRequestId: "tp" }))).toEqual([
      { kind: "test-push", publishes: [] },
    ]);
    const plain = run(state, { type: "ping", now: 2, user: "alice" });
    expect(only(plain, "admin-reply")).toEqual([]);
    expect(only(run(state, { type: "publish-result", now: 3, publishId: publishes(plain)[0]!.id, from: APP }), "admin-reply")).toEqual([]);
  });

  test("an admin delete with a request id is answered with how many registrations went", () => {
    const state = twoRegs();
    expect(answers(run(state, { type: "admin-delete", now: 1, user: "alice", identifiers: null, adminRequestId: "d" }))).toEqual([
      { kind: "deleted", removed: 2 },
    ]);
    expect(answers(run(state, { type: "admin-delete", now: 2, user: "alice", identifiers: [ID], adminRequestId: "d2" }))).toEqual([
      { kind: "deleted", removed: 0 },
    ]);
  });
});
