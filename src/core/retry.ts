/**
 * D19: transient publish failures (`wait` errors, timeouts) are sent again after the delays in
 * `pushRetryDelaysMs` (default 15 s, then 2 min), then given up and recorded. At most one retry
 * waits per registration, and only the newest push to a registration is retried: a newer push
 * supersedes a waiting retry (its timer is cancelled), so a dead service never causes a storm:
 * every push is sent at most 1 + `pushRetryDelaysMs.length` times, and the table of waiting
 * retries is capped at `maxPendingRetries`. Retries live in memory: a restart forgets them.
 * Time comes in as events: a retry is a `schedule` action whose `timer` event sends it.
 * @module
 */
import type { CoreState, PendingPublish, PendingRetry, RegEntry, UserState } from "./state.ts";
import type { Action, Identifier } from "./types.ts";
import { pushCounted, recordOutcome } from "./outcome.ts";

const PREFIX = "retry/";

/** Timer key of a registration's retry. User local parts cannot contain "/". */
export function retryKey(user: string, identifier: Identifier): string {
  return `${PREFIX}${user}/${identifier}`;
}

/** Whether a timer key is a retry's. */
export function isRetryKey(key: string): boolean {
  return key.startsWith(PREFIX);
}

function metric(outcome: "scheduled" | "sent" | "superseded" | "given-up" | "dropped"): Action {
  return { type: "metric", name: "publish_retries_total", labels: { outcome } };
}

/** A transient failure of one attempt: what failed, when, and the reply's latency (none for a timeout). */
export interface TransientFailure {
  now: number;
  /** e.g. "wait/resource-constraint", or "timeout". */
  error: string;
  latencyMs: number | null;
}

/**
 * A transient failure of a pending publish (already forgotten) to a live registration: schedules
 * its retry, or records why there is none: superseded by a newer push, the delays used up
 * (given up: recorded `error`/`timeout` as without retries), or the retry table full.
 */
export function transientFailure(
  state: CoreState,
  pending: PendingPublish,
  id: string,
  failure: TransientFailure,
  actions: Action[],
): void {
  const delays = state.config.pushRetryDelaysMs;
  const final = failure.error === "timeout" ? "timeout" : "error";
  if (delays.length === 0) {
    record(pending, id, failure, final, actions); // retries off: B42/D11 as the reference
    return;
  }
  if (pending.entry.lastPublishId !== id) {
    record(pending, id, failure, "superseded", actions);
    actions.push(metric("superseded"));
    return;
  }
  const delay = delays[pending.retries];
  if (delay === undefined || state.retries.size >= state.config.maxPendingRetries) {
    record(pending, id, failure, final, actions);
    actions.push(metric(delay === undefined ? "given-up" : "dropped"));
    return;
  }
  const key = retryKey(pending.user, pending.identifier);
  dropRetry(state, key); // defensive: one per registration (a newer push would have superseded it)
  state.retries.set(key, {
    owner: pending.owner,
    entry: pending.entry,
    publish: pending.publish,
    failedId: id,
    error: failure.error,
    retries: pending.retries,
  });
  pending.owner.pendingRetries++;
  record(pending, id, failure, "retry-scheduled", actions);
  actions.push({ type: "schedule", key, at: failure.now + delay }, metric("scheduled"));
}

/** A newer push to the registration goes out: a waiting retry is cancelled and recorded as superseded. */
export function supersedeRetry(state: CoreState, u: UserState, entry: RegEntry, now: number, actions: Action[]): void {
  if (state.retries.size === 0) return;
  const key = retryKey(u.user, entry.reg.identifier);
  const retry = dropRetry(state, key);
  if (retry === undefined) return;
  actions.push({ type: "cancel-timer", key });
  if (retry.owner !== u) return; // the account was deleted and created again meanwhile
  const { publish } = retry;
  actions.push(
    // A row of its own, dated now: the failed attempt's row was written with its retry-scheduled outcome.
    {
      type: "history",
      at: now,
      user: u.user,
      identifier: publish.identifier,
      publishId: retry.failedId,
      trigger: publish.trigger,
      important: publish.important,
      outcome: "superseded",
      error: retry.error,
    },
    pushCounted(publish.trigger, "superseded"),
    metric("superseded"),
  );
}

/** Removes a retry from the table (its timer fired or was cancelled) and unpins its user. */
export function dropRetry(state: CoreState, key: string): PendingRetry | undefined {
  const retry = state.retries.get(key);
  if (retry === undefined) return undefined;
  state.retries.delete(key);
  if (retry.owner.pendingRetries > 0) retry.owner.pendingRetries--;
  return retry;
}

/** Whether the retry's registration still exists (not removed, its account not deleted). */
export function retryLive(state: CoreState, retry: PendingRetry): boolean {
  const { owner, entry, publish } = retry;
  return state.users.get(owner.user) === owner && owner.regs.get(publish.identifier) === entry;
}

/** The metric of a retry sent. */
export const RETRY_SENT: Action = Object.freeze(metric("sent"));

/** The record of the failed attempt (outcome.ts); a reply carries its latency, a timeout neither latency nor (when final) an error. */
function record(
  pending: PendingPublish,
  id: string,
  failure: TransientFailure,
  outcome: "superseded" | "error" | "timeout" | "retry-scheduled",
  actions: Action[],
): void {
  recordOutcome(
    pending,
    id,
    failure.now,
    outcome,
    outcome === "timeout" ? { latencyMs: null } : { error: failure.error, latencyMs: failure.latencyMs },
    actions,
  );
}
