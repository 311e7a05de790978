/**
 * Session and registration bookkeeping in memory: batch timers (B30), binding sessions, and
 * applying registration changes once the store has them (D3, D4, D5, D6):
 * removal with its reason, and (un)binding sessions.
 * @module
 */
import type { SessionState, UserState } from "./state.ts";
import type { Action, Identifier, RemovalReason, SessionRef } from "./types.ts";

/** Timer key of a session's batch timer (B30). */
export function batchKey(user: string, sessionId: string): string {
  return `batch/${user}/${sessionId}`;
}

/** Parses a `batchKey`; null for other keys. User local parts cannot contain "/". */
export function parseBatchKey(key: string): { user: string; sessionId: string } | null {
  if (!key.startsWith("batch/")) return null;
  const slash = key.indexOf("/", 6);
  if (slash === -1) return null;
  return { user: key.slice(6, slash), sessionId: key.slice(slash + 1) };
}

/** Stops a session's batch timer and drops its queue. */
export function stopBatch(u: UserState, s: SessionState, actions: Action[]): void {
  if (s.timer) actions.push({ type: "cancel-timer", key: batchKey(u.user, s.ref.sessionId) });
  s.timer = false;
  s.queue = [];
}

/** Unbinds a session; restores its hibernation timeout if the core had extended it (B15, B41, D6). */
export function unbindSession(u: UserState, s: SessionState, actions: Action[]): void {
  s.bound = null;
  if (s.extended) {
    actions.push({ type: "hibernation-timeout", user: u.user, sessionId: s.ref.sessionId, mode: "restore" });
    s.extended = false;
  }
  stopBatch(u, s, actions);
}

/** D6: unbinds every session of the user bound to `identifier`. */
export function unbindAll(u: UserState, identifier: Identifier, actions: Action[]): void {
  for (const s of u.sessions.values()) if (s.bound === identifier) unbindSession(u, s, actions);
}

/** Removes a registration from memory (the caller persists), records why and unbinds its sessions. */
export function removeRegistration(
  u: UserState,
  identifier: Identifier,
  removal: { reason: RemovalReason; now: number; detail?: string | null },
  actions: Action[],
): boolean {
  if (!u.regs.delete(identifier)) return false;
  actions.push(
    { type: "removed", at: removal.now, user: u.user, identifier, reason: removal.reason, detail: removal.detail ?? null },
    { type: "metric", name: "registrations_removed_total", labels: { reason: removal.reason } },
  );
  unbindAll(u, identifier, actions);
  return true;
}

/** The session's state, created from its reference when the core has not seen it yet. */
export function ensureSession(u: UserState, ref: SessionRef): SessionState {
  const existing = u.sessions.get(ref.sessionId);
  if (existing !== undefined) {
    existing.ref = ref;
    return existing;
  }
  const created: SessionState = {
    ref,
    bound: null,
    hibernating: false,
    extended: false,
    firstHibernatedPush: null,
    queue: [],
    timer: false,
    batchTrigger: "session-queue",
  };
  u.sessions.set(ref.sessionId, created);
  return created;
}

/** D9: a device bound to the registration is connected again: its message count restarts. */
export function resetCount(u: UserState, identifier: Identifier | null): void {
  if (identifier === null) return;
  const entry = u.regs.get(identifier);
  if (entry !== undefined) entry.count = 0;
}
