/**
 * Replies from app push services (B40–B43 with D11, D13, D18; the error policy of D19/D20 is
 * error-policy.ts).
 * @module
 */
import { configFor } from "./host-config.ts";
import type { CoreState, RegEntry, UserState } from "./state.ts";
import type { Action, Event } from "./types.ts";
import { forgetPending, liveEntry } from "./publish.ts";
import { recordOutcome, recordUnanswered } from "./outcome.ts";
import { removeRegistration } from "./session-batch.ts";
import { errorVerdict } from "./error-policy.ts";
import { transientFailure } from "./retry.ts";

type E<T extends Event["type"]> = Extract<Event, { type: T }>;

const REPLY_OK: Action = Object.freeze({ type: "metric", name: "publish_replies_total", labels: Object.freeze({ outcome: "ok" }) });

/** Replaces the entry's registration (never mutating one already handed out) and persists the count (D13). */
function setErrors(
  u: UserState,
  entry: RegEntry,
  errors: { errorCount: number; lastError: string | null; lastErrorAt: number | null },
  actions: Action[],
): void {
  entry.reg = { ...entry.reg, ...errors };
  actions.push({ type: "store", ops: [{ op: "error-count", user: u.user, identifier: entry.reg.identifier, ...errors }] });
}

/** B43: a result from the registration's jid resets its consecutive error count. */
export function publishResult(state: CoreState, event: E<"publish-result">, actions: Action[]): void {
  const pending = state.pending.get(event.publishId);
  if (pending === undefined) return; // B40
  const entry = liveEntry(pending);
  if (entry !== undefined && entry.reg.jid !== event.from) return; // not from the service we asked
  forgetPending(state, event.publishId, pending); // D11
  actions.push(REPLY_OK);
  const u = state.users.get(pending.user);
  if (entry === undefined || u === undefined) {
    recordUnanswered(pending, event.publishId, event.now, actions); // B15: forgotten registration
    return;
  }
  recordOutcome(pending, event.publishId, event.now, "ok", { error: null, latencyMs: event.now - pending.sentAt }, actions);
  if (entry.reg.errorCount > 0)
    setErrors(u, entry, { errorCount: 0, lastError: entry.reg.lastError, lastErrorAt: entry.reg.lastErrorAt }, actions);
}

/**
 * B41/B42, D13, D19, D20: an error reply from the registration's jid is, by errorVerdict(),
 * retried (`wait`), only recorded (a `wait` the same request would get again), removes the
 * registration at once (`pushRemoveConditions`) or counts; at `pushMaxErrors` it goes.
 */
export function publishError(state: CoreState, event: E<"publish-error">, actions: Action[]): void {
  const pending = state.pending.get(event.publishId);
  if (pending === undefined) return; // B40
  const entry = liveEntry(pending);
  if (entry !== undefined && entry.reg.jid !== event.from) return; // B42: other from → ignored
  forgetPending(state, event.publishId, pending);
  const error = `${event.errorType}/${event.condition}`;
  actions.push({ type: "metric", name: "publish_replies_total", labels: { outcome: "error", type: event.errorType } });
  const u = state.users.get(pending.user);
  if (entry === undefined || u === undefined) {
    recordUnanswered(pending, event.publishId, event.now, actions);
    actions.push({
      type: "log",
      level: "warn",
      msg: "Cannot count publish error: registration no longer exists",
      fields: { user: pending.user, error },
    });
    return; // B42
  }
  const verdict = errorVerdict(state.config, event.errorType, event.condition);
  if (verdict === "retry") {
    transientFailure(state, pending, event.publishId, { now: event.now, error, latencyMs: event.now - pending.sentAt }, actions); // D19
    return;
  }
  const errorCount = entry.reg.errorCount + 1;
  const maxErrors = configFor(state.config, pending.user).pushMaxErrors;
  const counted = verdict === "record" ? undefined : { count: errorCount, max: maxErrors };
  recordOutcome(pending, event.publishId, event.now, "error", { error, latencyMs: event.now - pending.sentAt, errors: counted }, actions);
  if (verdict === "record") return; // B42, D13: recorded, never counted
  const failure = { errorCount, error, now: event.now };
  if (verdict === "remove") {
    removeForErrors(u, entry, failure, "rejected", `app service answered ${error}`, actions); // D20: now, not after pushMaxErrors
    return;
  }
  if (errorCount < maxErrors) {
    setErrors(u, entry, { errorCount, lastError: error, lastErrorAt: event.now }, actions); // B41, D13
    return;
  }
  removeForErrors(u, entry, failure, "max-errors", `${errorCount} consecutive errors, last ${error}`, actions); // B41
}

/** The registration goes for its errors (B41 at pushMaxErrors, D20 when the app service says it is dead), its last error kept. */
function removeForErrors(
  u: UserState,
  entry: RegEntry,
  failure: { errorCount: number; error: string; now: number },
  reason: "max-errors" | "rejected",
  detail: string,
  actions: Action[],
): void {
  const identifier = entry.reg.identifier;
  entry.reg = { ...entry.reg, errorCount: failure.errorCount, lastError: failure.error, lastErrorAt: failure.now };
  removeRegistration(u, identifier, { reason, now: failure.now, detail }, actions);
  actions.push({ type: "store", ops: [{ op: "delete", user: u.user, identifiers: [identifier] }] });
}
