/**
 * Loading users into the cache, deleting them (D14), and suspending a disabled account's pushes
 * (Prosody 13 `user-disabled` / `user-enabled`; the mark is persisted, store/user-flags.ts).
 * @module
 */
import type { CoreState, RegEntry } from "./state.ts";
import type { Action, Event, Identifier, StoreOp, Trigger } from "./types.ts";
import { evictUsers, touchUser } from "./state.ts";
import { stopBatch } from "./session-batch.ts";

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
    actions.push({
      type: "reply",
      requestId: op.requestId,
      error: { type: "cancel", condition: "item-not-found", text: "Account deleted" },
    });
  }
  const ops: StoreOp[] = [{ op: "delete-user", user: event.user }];
  if (state.disabled.delete(event.user)) ops.push({ op: "user-flag", user: event.user, disabled: false, at: event.now });
  actions.push({ type: "store", ops });
}

/**
 * The account was disabled (an admin, or a deletion waiting for its grace period): no push for
 * it until it is enabled again. Its registrations, sessions and counters are kept; the mark is
 * persisted so a daemon restart does not resume the pushes.
 */
export function userDisabled(state: CoreState, event: E<"user-disabled">, actions: Action[]): void {
  if (state.disabled.has(event.user)) return;
  state.disabled.add(event.user);
  actions.push(
    { type: "store", ops: [{ op: "user-flag", user: event.user, disabled: true, at: event.now }] },
    { type: "log", level: "info", msg: "account disabled: pushes suspended", fields: { user: event.user } },
    { type: "metric", name: "accounts_disabled_total" },
  );
}

/** The account was enabled again: pushes resume (for what arrives from now on). */
export function userEnabled(state: CoreState, event: E<"user-enabled">, actions: Action[]): void {
  if (!state.disabled.delete(event.user)) return;
  actions.push(
    { type: "store", ops: [{ op: "user-flag", user: event.user, disabled: false, at: event.now }] },
    { type: "log", level: "info", msg: "account enabled: pushes resumed", fields: { user: event.user } },
  );
}

/**
 * A push to a disabled account is not sent (called by publish.pushTo): recorded in the history
 * as vetoed with the reason, like an extension's veto (B28). Returns false: not important.
 */
export function suppressedForDisabled(
  user: string,
  identifier: Identifier,
  push: { important: boolean; trigger: Trigger; now: number },
  actions: Action[],
): false {
  actions.push(
    {
      type: "history",
      at: push.now,
      user,
      identifier,
      publishId: null,
      trigger: push.trigger,
      important: push.important,
      outcome: "vetoed",
      error: "account disabled",
    },
    { type: "metric", name: "pushes_suppressed_total", labels: { reason: "account-disabled" } },
  );
  return false;
}
