/**
 * Server-side trigger paths that push to several registrations: offline (B37), archive
 * (B36), bare groupchat (B38), the admin ping (B39) and the recovery of offline messages after
 * an unclean Prosody stop (D21).
 * @module
 */
import type { CoreState, RegEntry, UserState } from "./state.ts";
import type { Action, Event, StanzaCopy, Trigger } from "./types.ts";
import { touchUser } from "./state.ts";
import { isCallPropose, isImportant } from "./importance.ts";
import { pushCopy, pushTo } from "./publish.ts";

type E<T extends Event["type"]> = Extract<Event, { type: T }>;

function pushAll(
  state: CoreState,
  u: UserState,
  entries: Iterable<RegEntry>,
  copy: StanzaCopy,
  trigger: Trigger,
  now: number,
  actions: Action[],
): void {
  const important = isImportant(copy.stanza);
  for (const entry of entries) pushCopy(state, u, entry, copy, { important, trigger, now }, actions);
}

/** B37: a message went to offline storage: push to all registrations. */
export function offline(state: CoreState, event: E<"offline">, actions: Action[]): void {
  const u = touchUser(state, event.user);
  pushAll(state, u, u.regs.values(), event.copy, "offline", event.now, actions);
}

/**
 * D21: after an unclean Prosody stop the bridge reports each user with messages in offline
 * storage; their own offline events may have died with Prosody unacknowledged. Push once to all
 * registrations unless the user's last push is newer than the newest stored message (by more
 * than a second: offline storage keeps whole seconds, and a second wake is harmless where a
 * missed one is the bug). With a copy of the newest message the push is classified as usual and
 * D8 skips it where that very stanza was pushed already; without one it counts as important.
 */
export function offlinePending(state: CoreState, event: E<"offline-pending">, actions: Action[]): void {
  const u = touchUser(state, event.user);
  if (u.regs.size === 0) return;
  if (event.lastPushAt !== null && event.lastPushAt >= event.latestAt + 1000) {
    actions.push({ type: "metric", name: "recovered_skipped_total" });
    return;
  }
  if (event.copy !== null) {
    pushAll(state, u, u.regs.values(), event.copy, "recovered", event.now, actions);
    return;
  }
  for (const entry of u.regs.values()) {
    entry.count++;
    pushTo(state, u, entry, { stanza: null, important: true, trigger: "recovered", now: event.now }, actions);
  }
}

/** B38: a groupchat message to the bare JID: push to all registrations. */
export function groupchatBare(state: CoreState, event: E<"groupchat-bare">, actions: Action[]): void {
  const u = touchUser(state, event.user);
  pushAll(state, u, u.regs.values(), event.copy, "groupchat-bare", event.now, actions);
}

/**
 * B36: a message was archived for the user. Only with ≥1 session; only registrations no
 * current session is bound to, except call proposals, which go to all.
 */
export function archived(state: CoreState, event: E<"archived">, actions: Action[]): void {
  const u = touchUser(state, event.user);
  if (u.sessions.size === 0) return;
  if (isCallPropose(event.copy.stanza)) {
    pushAll(state, u, u.regs.values(), event.copy, "archive", event.now, actions);
    return;
  }
  const important = isImportant(event.copy.stanza);
  for (const [identifier, entry] of u.regs) {
    if (boundByAnySession(u, identifier)) continue;
    pushCopy(state, u, entry, event.copy, { important, trigger: "archive", now: event.now }, actions);
  }
}

function boundByAnySession(u: UserState, identifier: string): boolean {
  for (const s of u.sessions.values()) if (s.bound === identifier) return true;
  return false;
}

/** B39: push with no stanza to the given registrations (or all); never important. */
export function ping(state: CoreState, event: E<"ping">, actions: Action[]): void {
  const u = touchUser(state, event.user);
  const wanted = event.identifiers ?? null;
  let sent = 0;
  for (const [identifier, entry] of u.regs) {
    if (wanted !== null && !wanted.includes(identifier)) continue;
    pushTo(state, u, entry, { stanza: null, important: false, trigger: "ping", now: event.now }, actions);
    sent++;
  }
  if (event.requestId === undefined) return;
  if (sent > 0) actions.push({ type: "reply", requestId: event.requestId });
  else
    actions.push({
      type: "reply",
      requestId: event.requestId,
      error: { type: "cancel", condition: "item-not-found", text: "No matching push registration" },
    });
}
