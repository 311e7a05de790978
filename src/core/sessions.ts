/**
 * Session trigger paths (B30–B35, D8, D9, D12): batching through the session queue,
 * hibernation with the extended timeout and its restore after the first important push.
 * @module
 */
import { configFor } from "./host-config.ts";
import type { CoreState, SessionState, UserState } from "./state.ts";
import type { Action, Event, StanzaCopy, Trigger } from "./types.ts";
import { peekUser, touchUser } from "./state.ts";
import { isImportant } from "./importance.ts";
import { slimCopy } from "./slim.ts";
import { pushTo } from "./publish.ts";
import { seenBefore } from "./dedupe.ts";
import { batchKey, ensureSession, parseBatchKey, resetCount, stopBatch } from "./session-batch.ts";
import { ringNow } from "./extensions/calls.ts";

type E<T extends Event["type"]> = Extract<Event, { type: T }>;

/**
 * B30/B33 per-class rule: at most one important and one unimportant push per batch, to the
 * session's own registration only. Every new stanza is marked (D8) and push-worthy ones are
 * counted (D9) first, so the pushes carry the batch's real message count.
 */
function processQueue(
  state: CoreState,
  u: UserState,
  s: SessionState,
  queue: readonly StanzaCopy[],
  trigger: Trigger,
  now: number,
  actions: Action[],
): void {
  const entry = s.bound === null ? undefined : u.regs.get(s.bound);
  if (entry === undefined) return;
  let firstImportant: StanzaCopy | null = null;
  let firstOther: StanzaCopy | null = null;
  let firstIsImportant = false;
  for (const copy of queue) {
    if (seenBefore(state, entry, copy.key, now)) continue;
    const important = copy.important ?? isImportant(copy.stanza);
    if (important) {
      entry.count++;
      if (firstImportant === null) firstImportant = copy;
      if (firstOther === null) firstIsImportant = true;
    } else if (firstOther === null) firstOther = copy;
  }
  const ordered: Array<[StanzaCopy | null, boolean]> = firstIsImportant
    ? [
        [firstImportant, true],
        [firstOther, false],
      ]
    : [
        [firstOther, false],
        [firstImportant, true],
      ];
  for (const [copy, important] of ordered) {
    if (copy === null) continue;
    pushTo(state, u, entry, { stanza: copy.stanza, important, trigger, now, contact: copy.contact }, actions);
    if (important && s.hibernating && s.firstHibernatedPush === null) firstHibernatedPush(u, s, now, actions);
  }
}

/** B34/D12: after the first important push while hibernating, restore the server's own timeout. */
function firstHibernatedPush(u: UserState, s: SessionState, now: number, actions: Action[]): void {
  s.firstHibernatedPush = now;
  if (!s.extended) return;
  s.extended = false;
  actions.push({ type: "hibernation-timeout", user: u.user, sessionId: s.ref.sessionId, mode: "restore" });
}

/** B30: queue a stanza for the session's batch, starting the batch timer if none runs. */
function enqueue(state: CoreState, u: UserState, s: SessionState, copy: StanzaCopy, now: number, actions: Action[]): void {
  if (s.queue.length >= state.config.maxSessionQueue) {
    s.queue.shift();
    actions.push({ type: "metric", name: "session_queue_dropped_total" });
  }
  s.queue.push(slimCopy(copy, configFor(state.config, u.user).pushNotificationWithBody, state.extensions, state.config));
  if (s.timer) return;
  s.timer = true;
  actions.push({ type: "schedule", key: batchKey(u.user, s.ref.sessionId), at: now + state.config.batchDelayMs });
}

function boundSession(state: CoreState, user: string, sessionId: string): { u: UserState; s: SessionState } | null {
  const u = touchUser(state, user);
  const s = u.sessions.get(sessionId);
  return s === undefined || s.bound === null ? null : { u, s };
}

export function sessionStarted(state: CoreState, event: E<"session-started">): void {
  const u = touchUser(state, event.session.user);
  const s = ensureSession(u, event.session);
  const bound = event.boundIdentifier ?? null;
  if (bound !== null && u.regs.has(bound)) s.bound = bound;
  s.hibernating = false;
  resetCount(u, s.bound); // D9
  const clientId = event.session.clientId ?? null;
  if (clientId === null) return;
  for (const entry of u.regs.values()) if (entry.reg.clientId === clientId) entry.count = 0; // D9: same device
}

export function sessionEnded(state: CoreState, event: E<"session-ended">, actions: Action[]): void {
  const u = touchUser(state, event.user);
  const s = u.sessions.get(event.sessionId);
  if (s === undefined) return;
  stopBatch(u, s, actions);
  u.sessions.delete(event.sessionId);
}

export function hibernationStarted(state: CoreState, event: E<"hibernation-started">, actions: Action[]): void {
  const u = touchUser(state, event.user);
  const s = u.sessions.get(event.sessionId);
  if (s === undefined) return;
  s.hibernating = true;
  s.hibernatedAt = event.now;
  s.firstHibernatedPush = null; // B33
  if (s.bound === null || !u.regs.has(s.bound)) return;
  s.extended = true; // B33, D12
  actions.push({
    type: "hibernation-timeout",
    user: u.user,
    sessionId: s.ref.sessionId,
    mode: "extend",
    seconds: state.config.pushMaxHibernationTimeout,
  });
  const fresh = event.queue.filter((copy) => !ringNow(state, u, copy, "hibernation-start", event.now, actions)); // E1.4
  const queue = s.queue.length === 0 ? fresh : [...s.queue, ...fresh];
  stopBatch(u, s, actions);
  processQueue(state, u, s, queue, "hibernation-start", event.now, actions); // B33: directly
}

export function stanzaQueued(state: CoreState, event: E<"stanza-queued">, actions: Action[]): void {
  if (ringNow(state, touchUser(state, event.user), event.copy, "session-queue", event.now, actions)) return; // E1.4: a call rings now
  const found = boundSession(state, event.user, event.sessionId); // B31: unbound → nothing
  if (found === null) return;
  if (!found.s.timer) found.s.batchTrigger = "session-queue";
  enqueue(state, found.u, found.s, event.copy, event.now, actions);
}

export function ackDelayed(state: CoreState, event: E<"ack-delayed">, actions: Action[]): void {
  const found = boundSession(state, event.user, event.sessionId); // B32
  if (found === null) return;
  if (!found.s.timer) found.s.batchTrigger = "ack-delayed";
  for (const copy of event.queue) {
    if (!ringNow(state, found.u, copy, "ack-delayed", event.now, actions)) enqueue(state, found.u, found.s, copy, event.now, actions); // E1.4
  }
}

export function hibernationEnded(state: CoreState, event: E<"hibernation-ended">, actions: Action[]): void {
  const u = touchUser(state, event.user);
  const s = u.sessions.get(event.sessionId);
  if (s === undefined) return;
  // B35 [quirk fixed]: the resumed client receives everything smacks queued, so the batch is
  // dropped with its timer instead of waking the device for stanzas it already has.
  stopBatch(u, s, actions);
  s.hibernating = false;
  s.hibernatedAt = null;
  s.extended = false; // smacks cancels the watchdog on resumption
  s.firstHibernatedPush = null;
  resetCount(u, s.bound); // D9
}

/** B30: the batch timer fired. */
export function batchTimer(state: CoreState, event: E<"timer">, actions: Action[]): void {
  const key = parseBatchKey(event.key);
  if (key === null) return;
  const u = peekUser(state, key.user);
  const s = u?.sessions.get(key.sessionId);
  if (u === undefined || s === undefined || !s.timer) return;
  s.timer = false;
  const queue = s.queue;
  s.queue = [];
  processQueue(state, u, s, queue, s.batchTrigger, event.now, actions);
}
