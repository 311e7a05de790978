import { expect, test } from "bun:test";
import type { CoreState } from "../../src/core/state.ts";
import type { CoreConfig } from "../../src/core/types.ts";
import { APP, chat, fresh, load, only, publishes, registration, run, sessionRef, started } from "./harness.ts";

const ID = `${APP}<n1`;
let keys = 0;

function setup(over: Partial<CoreConfig> = {}, errorCount = 0): CoreState {
  const state = fresh(over);
  load(state, "alice", [registration("alice", APP, "n1", { errorCount })]);
  return state;
}

function push(state: CoreState, now = 100): string {
  const id = publishes(run(state, { type: "offline", now, user: "alice", copy: chat(`k${++keys}`) }))[0]?.id;
  if (id === undefined) throw new Error("Cannot push: no publish");
  return id;
}

// A condition that counts (B41); item-not-found removes at once since D20 (test/core/error-policy.test.ts).
function fail(state: CoreState, id: string, errorType = "cancel", from = APP, now = 200) {
  return run(state, { type: "publish-error", now, publishId: id, from, errorType, condition: "internal-server-error" });
}

const reg = (state: CoreState) => state.users.get("alice")?.regs.get(ID)?.reg;

test("B40 a reply with an unknown id is ignored", () => {
  const state = setup();
  expect(run(state, { type: "publish-result", now: 1, publishId: "f".repeat(64), from: APP })).toEqual([]);
  expect(fail(state, "nope")).toEqual([]);
});

test("B41 a non-wait error from the registration's jid counts (D13: persisted with last error)", () => {
  const state = setup();
  const out = fail(state, push(state));
  expect(reg(state)?.errorCount).toBe(1);
  expect(only(out, "store")).toEqual([
    {
      type: "store",
      ops: [
        { op: "error-count", user: "alice", identifier: ID, errorCount: 1, lastError: "cancel/internal-server-error", lastErrorAt: 200 },
      ],
    },
  ]);
  expect(only(out, "history")[0]).toMatchObject({ outcome: "error", error: "cancel/internal-server-error", latencyMs: 100 });
});

test("B41 at push_max_errors the registration is removed, sessions unbound and extended timeouts restored", () => {
  const state = setup({ pushMaxErrors: 3 }, 2);
  started(state, sessionRef("alice", "s1"), 0, ID);
  run(state, { type: "hibernation-started", now: 1, user: "alice", sessionId: "s1", queue: [] });
  const out = fail(state, push(state));
  expect(reg(state)).toBeUndefined();
  expect(only(out, "removed")).toEqual([
    {
      type: "removed",
      at: 200,
      user: "alice",
      identifier: ID,
      reason: "max-errors",
      detail: "3 consecutive errors, last cancel/internal-server-error",
    },
  ]);
  expect(only(out, "store")).toEqual([{ type: "store", ops: [{ op: "delete", user: "alice", identifiers: [ID] }] }]);
  expect(only(out, "hibernation-timeout")).toEqual([{ type: "hibernation-timeout", user: "alice", sessionId: "s1", mode: "restore" }]);
  expect(state.users.get("alice")?.sessions.get("s1")?.bound).toBeNull();
});

test("D18 a removed registration is not retried: no more publishes until the client enables again", () => {
  const state = setup({ pushMaxErrors: 1 });
  fail(state, push(state));
  expect(publishes(run(state, { type: "offline", now: 300, user: "alice", copy: chat("again") }))).toHaveLength(0);
  expect(publishes(run(state, { type: "tick", now: 999_999 }))).toHaveLength(0);
});

test("B42 a wait error is recorded but never counted (D13); D19 schedules its retry", () => {
  const state = setup();
  const out = fail(state, push(state), "wait");
  expect(reg(state)?.errorCount).toBe(0);
  expect(only(out, "store")).toHaveLength(0);
  expect(only(out, "history")[0]).toMatchObject({ outcome: "retry-scheduled", error: "wait/internal-server-error" });
});

test("B42 an error from another from is ignored (and the publish stays pending)", () => {
  const state = setup();
  const id = push(state);
  expect(fail(state, id, "cancel", "evil.example")).toEqual([]);
  expect(reg(state)?.errorCount).toBe(0);
  expect(state.pending.has(id)).toBe(true);
});

test("B43 a result from the registration's jid resets the count to 0 (persisted), consecutive errors only", () => {
  const state = setup({}, 5);
  const id = push(state);
  const out = run(state, { type: "publish-result", now: 150, publishId: id, from: APP });
  expect(reg(state)?.errorCount).toBe(0);
  expect(only(out, "store")[0]?.ops[0]).toMatchObject({ op: "error-count", errorCount: 0 });
  expect(only(out, "history")[0]).toMatchObject({ outcome: "ok", latencyMs: 50 });
  const again = run(state, { type: "publish-result", now: 160, publishId: push(state), from: APP });
  expect(only(again, "store")).toHaveLength(0);
});

test("D11 a result is forgotten after it arrives (no leak, unlike B43's quirk)", () => {
  const state = setup();
  const id = push(state);
  run(state, { type: "publish-result", now: 150, publishId: id, from: APP });
  expect(state.pending.size).toBe(0);
  expect(state.users.get("alice")?.pendingPublishes).toBe(0);
  expect(run(state, { type: "publish-result", now: 151, publishId: id, from: APP })).toEqual([]);
});

test("D11 tick expires publishes past their deadline as timeouts that never count (D19: retried)", () => {
  const state = setup({ publishTimeoutMs: 1000 });
  const id = push(state, 100);
  expect(run(state, { type: "tick", now: 1099 })).toEqual([]);
  const out = run(state, { type: "tick", now: 1100 });
  expect(only(out, "history")).toEqual([
    {
      type: "history",
      at: 1100,
      user: "alice",
      identifier: ID,
      publishId: id,
      trigger: "offline",
      important: true,
      outcome: "retry-scheduled",
      error: "timeout",
      sentAt: 100,
    },
  ]);
  expect(only(out, "metric").map((m) => m.name)).toEqual(["publish_timeouts_total", "pushes_total", "publish_retries_total"]);
  expect(reg(state)?.errorCount).toBe(0);
  expect(state.pending.size).toBe(0);
});

test("B44 failed pushes are not retried", () => {
  const state = setup();
  fail(state, push(state));
  expect(publishes(run(state, { type: "tick", now: 10_000_000 }))).toHaveLength(0);
});

test("D13 counts loaded from the store continue (persisted across restarts)", () => {
  const state = setup({ pushMaxErrors: 16 }, 15);
  const out = fail(state, push(state));
  expect(only(out, "removed")[0]?.reason).toBe("max-errors");
});
