/**
 * D20 and the error policy (src/core/error-policy.ts) against what the app services people run
 * answer (docs/behaviour.md "App service answers: remove, count or retry").
 */
import { describe, expect, test } from "bun:test";
import type { CoreState } from "../../src/core/state.ts";
import type { CoreConfig } from "../../src/core/types.ts";
import { DEFAULT_REMOVE_CONDITIONS, errorVerdict, type ErrorVerdict } from "../../src/core/error-policy.ts";
import { loadConfig } from "../../src/config.ts";
import { APP, chat, fresh, load, only, publishes, registration, run, sessionRef, started } from "./harness.ts";

const ID = `${APP}<n1`;
let keys = 0;

function setup(over: Partial<CoreConfig> = {}, errorCount = 0): CoreState {
  const state = fresh(over);
  load(state, "alice", [registration("alice", APP, "n1", { errorCount })]);
  return state;
}

function pushAndFail(state: CoreState, errorType: string, condition: string, from = APP) {
  const p = publishes(run(state, { type: "offline", now: 100, user: "alice", copy: chat(`k${++keys}`) }))[0]!;
  return run(state, { type: "publish-error", now: 200, publishId: p.id, from, errorType, condition });
}

/** What each app service answers, and what we do with it. */
const REPLIES: Array<[service: string, errorType: string, condition: string, verdict: ErrorVerdict]> = [
  ["p2: unknown node or dead FCM token", "cancel", "item-not-found", "remove"],
  ["p2: wrong or missing secret", "auth", "forbidden", "remove"],
  ["p2: APNs/FCM failure", "wait", "recipient-unavailable", "retry"],
  ["p2: bad service config", "cancel", "internal-server-error", "count"],
  ["fpush: publish-options other than pushModule", "wait", "bad-request", "record"],
  ["fpush: dead or blocked token", "cancel", "policy-violation", "count"],
  ["fpush: transient failure", "cancel", "bad-request", "count"],
  ["plain XEP-0357: busy", "wait", "resource-constraint", "retry"],
  ["plain XEP-0357 over s2s: link slow to come up", "wait", "remote-server-timeout", "retry"],
  ["s2s: no such domain", "cancel", "remote-server-not-found", "count"],
  ["any: not authorized", "auth", "not-authorized", "remove"],
  ["any: wait item-not-found", "wait", "item-not-found", "retry"],
];

describe("D20 the error policy table", () => {
  for (const [service, errorType, condition, verdict] of REPLIES) {
    test(`D20 ${service}: ${errorType}/${condition} → ${verdict}`, () => {
      expect(errorVerdict({ pushRemoveConditions: DEFAULT_REMOVE_CONDITIONS }, errorType, condition)).toBe(verdict);
      const state = setup({ pushMaxErrors: 16 }, 3);
      const out = pushAndFail(state, errorType, condition);
      const reg = state.users.get("alice")?.regs.get(ID)?.reg;
      const effect: { removed: string[]; errorCount: number | null; scheduled: number; outcome: string | undefined } = {
        removed: only(out, "removed").map((r) => r.reason),
        errorCount: reg?.errorCount ?? null,
        scheduled: only(out, "schedule").length,
        outcome: only(out, "history")[0]?.outcome,
      };
      const expected = {
        remove: { removed: ["rejected"], errorCount: null, scheduled: 0, outcome: "error" },
        count: { removed: [], errorCount: 4, scheduled: 0, outcome: "error" },
        retry: { removed: [], errorCount: 3, scheduled: 1, outcome: "retry-scheduled" },
        record: { removed: [], errorCount: 3, scheduled: 0, outcome: "error" },
      }[verdict];
      expect(effect).toEqual(expected);
    });
  }
});

describe("D20 removal at once", () => {
  test("D20 item-not-found from the registered jid removes at once: recorded with its reason, deleted, sessions unbound", () => {
    const state = setup();
    started(state, sessionRef("alice", "s1"), 0, ID);
    run(state, { type: "hibernation-started", now: 1, user: "alice", sessionId: "s1", queue: [] });
    const out = pushAndFail(state, "cancel", "item-not-found");
    expect(only(out, "removed")).toEqual([
      { type: "removed", at: 200, user: "alice", identifier: ID, reason: "rejected", detail: "app service answered cancel/item-not-found" },
    ]);
    expect(only(out, "store")).toEqual([{ type: "store", ops: [{ op: "delete", user: "alice", identifiers: [ID] }] }]);
    expect(only(out, "hibernation-timeout")).toEqual([{ type: "hibernation-timeout", user: "alice", sessionId: "s1", mode: "restore" }]);
    expect(
      only(out, "metric")
        .filter((m) => m.name === "registrations_removed_total")
        .map((m) => m.labels),
    ).toEqual([{ reason: "rejected" }]);
    expect(publishes(run(state, { type: "offline", now: 300, user: "alice", copy: chat("after") }))).toEqual([]);
  });

  test("D20 (B42 holds) a forbidden from another from is ignored", () => {
    const state = setup();
    expect(pushAndFail(state, "auth", "forbidden", "evil.example")).toEqual([]);
    expect(state.users.get("alice")?.regs.has(ID)).toBe(true);
  });

  test("D20 push_remove_conditions = [] restores B41: item-not-found counts like any error", () => {
    const state = setup({ pushRemoveConditions: [], pushMaxErrors: 2 });
    expect(only(pushAndFail(state, "cancel", "item-not-found"), "removed")).toEqual([]);
    expect(state.users.get("alice")?.regs.get(ID)?.reg.errorCount).toBe(1);
    expect(only(pushAndFail(state, "cancel", "item-not-found"), "removed").map((r) => r.reason)).toEqual(["max-errors"]);
  });

  test("D20 an operator may add conditions, e.g. policy-violation for fpush's dead tokens", () => {
    const state = setup({ pushRemoveConditions: [...DEFAULT_REMOVE_CONDITIONS, "policy-violation"] });
    expect(only(pushAndFail(state, "cancel", "policy-violation"), "removed").map((r) => r.reason)).toEqual(["rejected"]);
  });

  test("D20 push_remove_conditions from TOML/env: a list of conditions; anything else is refused naming the key", () => {
    const SECRET = { CLOUD_NOTIFYD_COMPONENT_SECRET: "s" };
    const ok = loadConfig({ ...SECRET, CLOUD_NOTIFYD_PUSH_REMOVE_CONDITIONS: "item-not-found, policy-violation" }, []);
    if (!ok.ok) throw new Error(ok.error);
    expect(ok.config.pushRemoveConditions).toEqual(["item-not-found", "policy-violation"]);
    const none = loadConfig({ ...SECRET, CLOUD_NOTIFYD_PUSH_REMOVE_CONDITIONS: "" }, []);
    expect(none.ok && none.config.pushRemoveConditions).toEqual([]);
    const bad = loadConfig({ ...SECRET, CLOUD_NOTIFYD_PUSH_REMOVE_CONDITIONS: "Item Not Found" }, []);
    expect(bad.ok ? "" : bad.error).toStartWith("Cannot load config: push_remove_conditions must be a list");
  });
});
