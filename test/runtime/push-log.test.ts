/**
 * Issue 15 item 1: the push log lines (src/runtime/push-log.ts) from the core's actions: failures,
 * removals and additions at info with user, host, a shortened registration and the trigger;
 * successes and decisions only at debug; never a whole node, a publish-options value or a key.
 * (test/e2e/log-privacy.test.ts checks the same against a real Prosody.)
 */
import { describe, expect, test } from "bun:test";

import type { Action } from "../../src/core/types.ts";
import { createLogger, type LogLevel } from "../../src/log.ts";
import { createPushLog, shortRegistration } from "../../src/runtime/push-log.ts";
import { registration } from "../core/harness.ts";

const NODE = "a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00";
const IDENT = `app.example<${NODE}`;

function setup(level: LogLevel) {
  const lines: string[] = [];
  const log = createLogger({ level, write: (l) => lines.push(l), rateLimit: false });
  return { lines, log, pushLog: createPushLog({ log, host: "example.com" }) };
}

const history = (
  outcome: Extract<Action, { type: "history" }>["outcome"],
  over: Partial<Extract<Action, { type: "history" }>> = {},
): Extract<Action, { type: "history" }> => ({
  type: "history",
  at: 1,
  user: "alice",
  identifier: IDENT,
  publishId: "f".repeat(64),
  trigger: "offline",
  important: true,
  outcome,
  ...over,
});

describe("push log", () => {
  test("shortRegistration keeps the service and cuts the node to its first 6 and last 4 characters", () => {
    expect(shortRegistration(IDENT)).toBe("app.example<a1b2c3…ff00");
    expect(shortRegistration("app.example<short")).toBe("app.example<short");
    expect(shortRegistration("app.example<")).toBe("app.example<");
  });

  test("a failed push is one info line with user, host, short registration, trigger, error and the error count", () => {
    const { lines, pushLog } = setup("info");
    pushLog.outcome(history("error", { error: "cancel/bad-request", latencyMs: 12, errorCount: 3, maxErrors: 16 }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEndWith(
      'level=info msg="push failed" user=alice host=example.com registration=app.example<a1b2c3…ff00 trigger=offline important=true publish_id=ffffffffffffffff error=cancel/bad-request latency_ms=12 error_count=3 max_errors=16',
    );
  });

  test("timeouts, retries and superseded pushes are info lines; delivered, sent and vetoed pushes only at debug", () => {
    const info = setup("info");
    for (const o of ["timeout", "retry-scheduled", "superseded", "retried", "ok", "sent", "vetoed"] as const)
      info.pushLog.outcome(history(o));
    expect(info.lines.map((l) => /msg="([^"]+)"/.exec(l)?.[1])).toEqual([
      "push timed out: no answer from the app service",
      "push failed: retry scheduled",
      "push failed: not retried, a newer push replaces it",
      "push sent again: the link to the server was lost before it went out",
    ]);
    const debug = setup("debug");
    debug.pushLog.outcome(history("ok", { latencyMs: 5 }));
    debug.pushLog.outcome(history("vetoed", { error: "filters: muted" }));
    expect(debug.lines.map((l) => /msg="([^"]+)"/.exec(l)?.[1])).toEqual(["push delivered", "push vetoed"]);
  });

  test("a removal names its reason and the error that caused it; an eviction says so", () => {
    const { lines, pushLog } = setup("info");
    pushLog.removed({
      type: "removed",
      at: 1,
      user: "alice",
      identifier: IDENT,
      reason: "max-errors",
      detail: "16 consecutive errors, last cancel/item-not-found",
    });
    pushLog.removed({ type: "removed", at: 1, user: "alice", identifier: IDENT, reason: "evicted", detail: null });
    expect(lines[0]).toContain(
      'msg="registration removed" user=alice host=example.com registration=app.example<a1b2c3…ff00 reason=max-errors error="16 consecutive errors, last cancel/item-not-found"',
    );
    expect(lines[1]).toContain('msg="registration evicted: the user enabled more than push_max_devices"');
    expect(lines[1]).toContain("reason=evicted");
  });

  test("an added registration is info (publish options present, never their value); a renewal debug", () => {
    const info = setup("info");
    const reg = registration("alice", "app.example", NODE, { publishOptions: "<x>po-secret-9</x>", createdAt: 5, updatedAt: 5 });
    info.pushLog.stored([
      { op: "upsert", registration: reg },
      { op: "upsert", registration: { ...reg, updatedAt: 9 } },
    ]);
    expect(info.lines).toHaveLength(1);
    expect(info.lines[0]).toContain('msg="registration added" user=alice host=example.com registration=app.example<a1b2c3…ff00');
    expect(info.lines[0]).toContain("publish_options=present encrypted=false");
    const debug = setup("debug");
    debug.pushLog.stored([{ op: "upsert", registration: { ...reg, updatedAt: 9 } }]);
    expect(debug.lines[0]).toContain('level=debug msg="registration renewed"');
    for (const l of [...info.lines, ...debug.lines]) {
      expect(l).not.toContain("po-secret-9");
      expect(l).not.toContain(NODE);
    }
  });

  test("at debug, an event line with the decision and nothing of the stanza; debugOn follows the level", () => {
    const { lines, pushLog, log } = setup("debug");
    expect(pushLog.debugOn()).toBe(true);
    const copy = {
      stanza: {
        name: "message",
        attrs: { from: "bob@example.com/pc" },
        children: [{ name: "body", attrs: {}, children: ["the body 77"] }],
      },
      key: "k1",
    };
    pushLog.event({ type: "offline", now: 1, user: "alice", copy }, [
      { type: "publish", publish: {} as never },
      { type: "metric", name: "x" } as unknown as Action,
      { type: "history", at: 1, user: "alice", identifier: IDENT, publishId: null, trigger: "offline", important: true, outcome: "vetoed" },
    ]);
    pushLog.event({ type: "tick", now: 1 }, []);
    expect(lines).toEqual([expect.stringContaining("level=debug msg=event type=offline user=alice decided=publish,history:vetoed")]);
    expect(lines[0]).not.toContain("the body 77");
    expect(lines[0]).not.toContain("bob@");
    log.setLevel("info");
    expect(pushLog.debugOn()).toBe(false);
  });
});

test("a user of another host is logged with that host, not the first one", () => {
  const { lines, pushLog } = setup("info");
  pushLog.removed({ type: "removed", at: 1, user: "alice@b.example", identifier: IDENT, reason: "evicted", detail: null });
  expect(lines[0]).toContain("user=alice@b.example host=b.example registration=");
});
