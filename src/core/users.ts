/**
 * Loading users into the cache and deleting them (D14).
 * @module
 */
import type { CoreState, RegEntry } from "./state.ts";
import type { Action, Event } from "./types.ts";
import { evictUsers, touchUser } from "./state.ts";
import { stopBatch } from "./registrations.ts";

type E<T extends Event["type"]> = Extract<Event, { type: T }>;

/**
 * The store's registrations for a user. Ignored when the user is already loaded (memory is
 * then authoritative: every write goes through the core). A placeholder keeps its sessions and
 * anything applied meanwhile.
 */
export function userLoaded(state: CoreState, event: E<"user-loaded">): void {
  const u = touchUser(state, event.user);
  if (u.loaded) return;
  const regs = new Map<string, RegEntry>();
  for (const reg of event.registrations) regs.set(reg.identifier, { reg, count: 0, seen: null });
  for (const [identifier, entry] of u.regs) regs.set(identifier, entry);
  u.regs = regs;
  u.loaded = true;
  evictUsers(state, u.user);
}

/** D14: the account is gone: drop everything of it, delete it from the store, record removals. */
export function userDeleted(state: CoreState, event: E<"user-deleted">, actions: Action[]): void {
  const u = state.users.get(event.user);
  if (u !== undefined) {
    for (const identifier of u.regs.keys()) {
      actions.push(
        { type: "removed", at: event.now, user: u.user, identifier, reason: "user-deleted", detail: null },
        { type: "metric", name: "registrations_removed_total", labels: { reason: "user-deleted" } },
      );
    }
    for (const s of u.sessions.values()) stopBatch(u, s, actions);
    state.users.delete(event.user);
  }
  for (const [id, pending] of state.pending) if (pending.user === event.user) state.pending.delete(id);
  for (const [opId, op] of state.ops) {
    if (op.user !== event.user) continue;
    state.ops.delete(opId);
    actions.push({ type: "reply", requestId: op.requestId, error: { type: "cancel", condition: "item-not-found", text: "Account deleted" } });
  }
  actions.push({ type: "store", ops: [{ op: "delete-user", user: event.user }] });
}
