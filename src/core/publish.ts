/**
 * Building and tracking publishes (B24–B29, D8, D9, D11; D19 retries in retry.ts): one `publish` action per
 * registration, counted, and a bounded table of pending publishes; each one's history record is
 * made at its outcome (outcome.ts).
 * @module
 */
import { configFor } from "./host-config.ts";
import type { CoreState, PendingPublish, RegEntry, UserState } from "./state.ts";
import type { Action, Publish, StanzaCopy, Trigger, XmlNode } from "./types.ts";
import { nextPublishId } from "./state.ts";
import { buildSummary } from "./summary.ts";
import { suppressedForDisabled } from "./users.ts";
import { runPipeline } from "./pipeline.ts";
import { seenBefore } from "./dedupe.ts";
import { createFifo, fifoPeek, fifoPush, fifoRetain, fifoShift, fifoSize } from "./fifo.ts";
import { dropRetry, isRetryKey, RETRY_SENT, retryLive, supersedeRetry, transientFailure } from "./retry.ts";
import { pushCounted, recordOutcome, recordUnanswered } from "./outcome.ts";

/**
 * Sends one publish to a registration through the D16 pipeline (filter → build → send);
 * returns the push's "important" flag (B27), false when an extension vetoed it.
 */
export function pushTo(
  state: CoreState,
  u: UserState,
  entry: RegEntry,
  push: { stanza: XmlNode | null; important: boolean; trigger: Trigger; now: number; contact?: boolean | undefined },
  actions: Action[],
): boolean {
  const { config } = state;
  const { reg } = entry;
  if (state.disabled.has(u.user)) {
    suppressedForDisabled(u.user, reg.identifier, push, actions);
    actions.push(pushCounted(push.trigger, "vetoed"));
    return false;
  }
  const summarised = buildSummary(configFor(config, u.user), { stanza: push.stanza, important: push.important, messageCount: entry.count });
  let payload: XmlNode[] = NO_PAYLOAD;
  let omitSummary = false; // E1: an encrypted publish has no summary form
  if (state.extensions.length > 0) {
    const draft = {
      registration: reg,
      stanza: push.stanza,
      trigger: push.trigger,
      ...summarised,
      payload,
      ...(push.contact === undefined ? {} : { contact: push.contact }),
    };
    const result = runPipeline(state.extensions, draft, config);
    if (!result.ok) {
      vetoed(u, reg.identifier, push, result, actions);
      return false;
    }
    payload = result.draft.payload;
    summarised.summary = result.draft.summary;
    summarised.important = result.draft.important;
    omitSummary = result.draft.omitSummary === true;
  }
  const id = nextPublishId(state);
  const deadline = push.now + config.publishTimeoutMs;
  if (state.pending.size >= config.maxPendingPublishes) expireOldest(state, push.now, actions);
  const publish: Publish = {
    id,
    user: u.user,
    identifier: reg.identifier,
    to: reg.jid,
    node: reg.node,
    summary: summarised.summary,
    publishOptions: reg.publishOptions,
    important: summarised.important,
    trigger: push.trigger,
    payload,
    deadline,
    ...(omitSummary ? { omitSummary } : {}),
  };
  supersedeRetry(state, u, entry, push.now, actions); // D19: this push replaces a waiting retry
  track(state, u, entry, publish, push.now, 1, 0, actions);
  actions.push(pushCounted(push.trigger, "sent"));
  return summarised.important;
}

const NO_PAYLOAD: XmlNode[] = [];

/** Most sends of one push: the first, and two more after broken links. */
export const MAX_ATTEMPTS = 3;

/**
 * Records a publish as pending (D11: bounded, with a deadline) and emits it; it is the
 * registration's newest (D19). `attempt` > 1: sent again after a broken link (not listed).
 */
function track(
  state: CoreState,
  u: UserState,
  entry: RegEntry,
  publish: Publish,
  now: number,
  attempt: number,
  retries: number,
  actions: Action[],
): PendingPublish {
  entry.lastPublishId = publish.id;
  const pending: PendingPublish = {
    user: u.user,
    identifier: publish.identifier,
    owner: u,
    entry,
    sentAt: now,
    deadline: publish.deadline,
    trigger: publish.trigger,
    important: publish.important,
    publish,
    attempt,
    retries,
    listed: attempt === 1,
  };
  state.pending.set(publish.id, pending);
  fifoPush(state.pendingOrder, publish.id);
  if (fifoSize(state.pendingOrder) > 2 * state.config.maxPendingPublishes + 1024) {
    fifoRetain(state.pendingOrder, (pendingId) => state.pending.has(pendingId)); // drop answered ids
  }
  u.pendingPublishes++;
  actions.push({ type: "publish", publish });
  return pending;
}

/**
 * The link to the server broke and is back: a publish sent before that either reached the
 * bridge, which then forwarded it and reports its outcome as a buffered event (it lists it in
 * `known` at hello), or died with the old stream. Only the latter are sent again, under a new
 * id, at most MAX_ATTEMPTS times in all: every publish reaches the app service once. A bridge
 * that lost its state (a server killed without a clean stop) lists nothing; then every
 * interrupted publish is sent again, and the app service may see one twice rather than a phone
 * never being woken. The old id is recorded as "retried" and forgotten.
 */
export function resendInterrupted(
  state: CoreState,
  event: { now: number; sentBefore: number; known: ReadonlySet<string> },
  actions: Action[],
): void {
  for (const [id, pending] of [...state.pending]) {
    if (pending.sentAt > event.sentBefore || event.known.has(id)) continue;
    const entry = liveEntry(pending);
    forgetPending(state, id, pending);
    if (entry === undefined) {
      recordUnanswered(pending, id, event.now, actions);
      continue;
    }
    if (pending.attempt >= MAX_ATTEMPTS) {
      recordOutcome(pending, id, event.now, "timeout", NO_REPLY, actions);
      continue;
    }
    recordOutcome(pending, id, event.now, "retried", NO_REPLY, actions);
    const publish: Publish = { ...pending.publish, id: nextPublishId(state), deadline: event.now + state.config.publishTimeoutMs };
    const newest = entry.lastPublishId;
    track(state, pending.owner, entry, publish, event.now, pending.attempt + 1, pending.retries, actions);
    if (newest !== id) entry.lastPublishId = newest; // D19: a resent older push does not become the newest
  }
}

/** The bridge got no answer for a publish it forwarded: a timeout now (D11), as if our own deadline passed (retried, D19). */
export function publishTimedOut(state: CoreState, event: { now: number; publishId: string }, actions: Action[]): void {
  const pending = state.pending.get(event.publishId);
  if (pending !== undefined) expire(state, event.publishId, pending, event.now, true, actions);
}

/**
 * D19: a retry's timer fired: the push goes out again under a new id, unless its registration
 * went away meanwhile. Returns false for a timer key that is not a retry's.
 */
export function retryDue(state: CoreState, event: { now: number; key: string }, actions: Action[]): boolean {
  if (!isRetryKey(event.key)) return false;
  const retry = dropRetry(state, event.key);
  if (retry === undefined || !retryLive(state, retry)) return true;
  if (state.pending.size >= state.config.maxPendingPublishes) expireOldest(state, event.now, actions);
  const publish: Publish = { ...retry.publish, id: nextPublishId(state), deadline: event.now + state.config.publishTimeoutMs };
  track(state, retry.owner, retry.entry, publish, event.now, 1, retry.retries + 1, actions);
  actions.push(pushCounted(publish.trigger, "sent"), RETRY_SENT);
  return true;
}

/** B28: an extension blocked the push: nothing is sent, the veto is recorded with its reason. */
function vetoed(
  u: UserState,
  identifier: string,
  push: { important: boolean; trigger: Trigger; now: number },
  veto: { extension: string; reason: string },
  actions: Action[],
): void {
  actions.push(
    {
      type: "history",
      at: push.now,
      user: u.user,
      identifier,
      publishId: null,
      trigger: push.trigger,
      important: push.important,
      outcome: "vetoed",
      error: `${veto.extension}: ${veto.reason}`,
    },
    { type: "metric", name: "pushes_vetoed_total", labels: { extension: veto.extension } },
    pushCounted(push.trigger, "vetoed"),
  );
}

/**
 * Pushes one stanza copy to one registration unless it was pushed there before (D8).
 * Counts it for D9 when push-worthy. Returns false when skipped as a duplicate.
 */
export function pushCopy(
  state: CoreState,
  u: UserState,
  entry: RegEntry,
  copy: StanzaCopy,
  cls: { important: boolean; trigger: Trigger; now: number },
  actions: Action[],
): boolean {
  if (seenBefore(state, entry, copy.key, cls.now)) {
    actions.push({ type: "metric", name: "pushes_deduplicated_total", labels: { trigger: cls.trigger } });
    return false;
  }
  if (cls.important) entry.count++;
  pushTo(
    state,
    u,
    entry,
    { stanza: copy.stanza, important: cls.important, trigger: cls.trigger, now: cls.now, contact: copy.contact },
    actions,
  );
  return true;
}

/** Removes a pending publish and unpins its user. */
export function forgetPending(state: CoreState, id: string, pending: PendingPublish): void {
  state.pending.delete(id);
  if (pending.owner.pendingPublishes > 0) pending.owner.pendingPublishes--;
}

/** Whether the pending publish still belongs to a live registration (B15: removal forgets ids). */
export function liveEntry(pending: PendingPublish): RegEntry | undefined {
  const { owner, entry } = pending;
  // The owner is current: a user with pending publishes is never evicted, and user-deleted drops them.
  return owner.regs.get(pending.identifier) === entry ? entry : undefined;
}

/** A publish timed out (D11); `retryable` unless it was pushed out of a full table (retrying would add to the load). */
function expire(state: CoreState, id: string, pending: PendingPublish, now: number, retryable: boolean, actions: Action[]): void {
  const live = liveEntry(pending) !== undefined;
  forgetPending(state, id, pending);
  actions.push(TIMEOUT_METRIC);
  if (!live) recordUnanswered(pending, id, now, actions);
  else if (retryable)
    transientFailure(state, pending, id, { now, error: "timeout", latencyMs: null }, actions); // D19
  else recordOutcome(pending, id, now, "timeout", NO_REPLY, actions);
}

const TIMEOUT_METRIC: Action = Object.freeze({ type: "metric", name: "publish_timeouts_total" });
/** The settlement of an outcome without a reply (a timeout, a publish sent again). */
export const NO_REPLY = Object.freeze({ latencyMs: null });

/** D11: expires the oldest pending publish (the table is full). */
function expireOldest(state: CoreState, now: number, actions: Action[]): void {
  for (let id = fifoShift(state.pendingOrder); id !== undefined; id = fifoShift(state.pendingOrder)) {
    const pending = state.pending.get(id);
    if (pending === undefined) continue; // answered already
    expire(state, id, pending, now, false, actions);
    return;
  }
}

/**
 * The daemon stops (`shutdown`): publishes in flight get `graceMs` to be answered (the core
 * emits `settled` once none is left, see step.ts); then those still unanswered are recorded
 * as "sent" and forgotten. Pushes go on meanwhile: the link is still up.
 */
export function shutdown(state: CoreState, event: { now: number; graceMs: number }, actions: Action[]): void {
  if (event.graceMs > 0 && state.pending.size > 0) {
    state.stopping = true;
    actions.push({ type: "schedule", key: SHUTDOWN_KEY, at: event.now + event.graceMs });
    return;
  }
  if (state.stopping) actions.push({ type: "cancel-timer", key: SHUTDOWN_KEY });
  settleAll(state, event.now, actions);
}

/** Timer key of the shutdown's grace period. */
export const SHUTDOWN_KEY = "shutdown";

/** The shutdown's grace period is over: what is still in flight is recorded as never answered. */
export function settleAll(state: CoreState, now: number, actions: Action[]): void {
  for (const [id, pending] of state.pending) recordUnanswered(pending, id, now, actions);
  for (const pending of state.pending.values()) if (pending.owner.pendingPublishes > 0) pending.owner.pendingPublishes--;
  state.pending.clear();
  state.pendingOrder = createFifo();
  state.stopping = false;
  actions.push(SETTLED);
}

const SETTLED: Action = Object.freeze({ type: "settled" });

/** D11: expires every pending publish past its deadline. Timeouts never count toward removal; they are retried (D19). */
export function expirePending(state: CoreState, now: number, actions: Action[]): void {
  for (let id = fifoPeek(state.pendingOrder); id !== undefined; id = fifoPeek(state.pendingOrder)) {
    const pending = state.pending.get(id);
    if (pending !== undefined && pending.deadline > now) return;
    fifoShift(state.pendingOrder);
    if (pending !== undefined) expire(state, id, pending, now, true, actions);
  }
}
