/**
 * A push's record and counters, made in one place. A publish's history record is emitted once,
 * at its outcome (ok, error, timeout, retried, retry-scheduled, superseded), carrying what its
 * row needs: the send time it is dated by, the reply's latency, the trigger and importance
 * (one row per push, docs/performance.md). A publish never answered is recorded as `sent` when
 * it is forgotten (its registration went away) or when the daemon stops (`shutdown`). The
 * counters of a push (`pushes_total` by outcome, the latency, error replies) go with its
 * record, and an admin test push waiting for the publish gets its answer here too.
 * @module
 */
import type { PendingPublish } from "./state.ts";
import type { Action, HistoryOutcome, Trigger } from "./types.ts";

// Records over the unions, so that a trigger or outcome added to types.ts and not here is a
// compile error, not a push whose pushCounted finds no action.
const TRIGGERS = Object.keys({
  offline: true,
  archive: true,
  "groupchat-bare": true,
  "session-queue": true,
  "hibernation-start": true,
  "ack-delayed": true,
  ping: true,
  recovered: true,
} satisfies Record<Trigger, true>) as Trigger[];
const OUTCOMES = Object.keys({
  sent: true,
  ok: true,
  error: true,
  timeout: true,
  vetoed: true,
  retried: true,
  "retry-scheduled": true,
  superseded: true,
} satisfies Record<HistoryOutcome, true>) as HistoryOutcome[];

/** Frozen `pushes_total` actions per trigger and outcome (a closed set: no object per push). */
const PUSHES = new Map<Trigger, Map<HistoryOutcome, Action>>(
  TRIGGERS.map((trigger) => [
    trigger,
    new Map(
      OUTCOMES.map((outcome) => [
        outcome,
        Object.freeze({ type: "metric", name: "pushes_total", labels: Object.freeze({ trigger, outcome }) }) as Action,
      ]),
    ),
  ]),
);

/** The `pushes_total` action of one push with this trigger and outcome (`sent`: counted when it goes out). */
export function pushCounted(trigger: Trigger, outcome: HistoryOutcome): Action {
  return PUSHES.get(trigger)!.get(outcome)!;
}

/** What a publish's outcome adds to its record: the error (absent: none to tell) and the reply's latency (null: no reply). */
export interface Settlement {
  error?: string | null;
  latencyMs: number | null;
  /** B41: the registration's consecutive errors after this one, and the limit. */
  errors?: { count: number; max: number };
}

/**
 * A publish left the pending table with an outcome: its history record, dated at the send
 * (unless sent again after a broken link), its counters, and the answer to an admin test push.
 */
export function recordOutcome(
  pending: PendingPublish,
  id: string,
  now: number,
  outcome: Exclude<HistoryOutcome, "sent" | "vetoed">,
  s: Settlement,
  actions: Action[],
): void {
  const { user, identifier, trigger, important } = pending;
  const latencyMs = s.latencyMs === null ? undefined : s.latencyMs;
  // One literal of a fixed shape (absent fields undefined): this runs for every push.
  actions.push(
    {
      type: "history",
      at: now,
      user,
      identifier,
      publishId: id,
      trigger,
      important,
      outcome,
      latencyMs,
      error: s.error,
      sentAt: pending.listed ? pending.sentAt : undefined,
      errorCount: s.errors?.count,
      maxErrors: s.errors?.max,
    },
    pushCounted(trigger, outcome),
  );
  if (latencyMs !== undefined) {
    actions.push({ type: "metric", name: "publish_latency_seconds", value: latencyMs / 1000 });
    // Every error reply once, whether final, retried or superseded (D19).
    if (s.error) {
      const cut = s.error.indexOf("/");
      actions.push({
        type: "metric",
        name: "publish_errors_total",
        labels: { type: s.error.slice(0, cut), condition: s.error.slice(cut + 1) },
      });
    }
  }
  // An admin test push reports the first outcome as it came (a retry goes on in the background);
  // a publish sent again under a new id is not followed (the admin API's own deadline answers).
  if (pending.adminRequestId !== undefined && outcome !== "retried") {
    actions.push({
      type: "admin-reply",
      requestId: pending.adminRequestId,
      answer: { kind: "push-outcome", publishId: id, identifier, outcome, error: s.error ?? null, latencyMs: s.latencyMs },
    });
  }
}

/**
 * A publish left the pending table unanswered (its registration went away, or the daemon
 * stops): recorded as `sent`, dated at the send. A publish sent again after a broken link has
 * no row of its own until its outcome, so it leaves none.
 */
export function recordUnanswered(pending: PendingPublish, id: string, now: number, actions: Action[]): void {
  if (!pending.listed) return;
  const { user, identifier, trigger, important } = pending;
  actions.push({ type: "history", at: now, user, identifier, publishId: id, trigger, important, outcome: "sent", sentAt: pending.sentAt });
}
