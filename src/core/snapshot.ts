/**
 * Events that do not come from a client: the bridge's session snapshot after a reconnect and
 * deletions through the admin API.
 * @module
 */
import type { CoreState } from "./state.ts";
import type { Action, Event } from "./types.ts";
import { touchUser } from "./state.ts";
import { removeRegistration } from "./session-batch.ts";
import { sessionEnded } from "./sessions.ts";

type E<T extends Event["type"]> = Extract<Event, { type: T }>;

/**
 * The bridge listed every live session. Sessions the core knows but the bridge does not ended
 * while the daemon was away; listed ones take the bridge's hibernation flag (the shell has already
 * dispatched session-started for each, which restored their binding).
 */
export function sessionsSnapshot(state: CoreState, event: E<"sessions-snapshot">, actions: Action[]): void {
  const live = new Map<string, boolean>();
  for (const s of event.sessions) live.set(`${s.session.user}\0${s.session.sessionId}`, s.hibernating);
  for (const u of [...state.users.values()]) {
    for (const sessionId of [...u.sessions.keys()]) {
      const hibernating = live.get(`${u.user}\0${sessionId}`);
      if (hibernating === undefined) sessionEnded(state, { type: "session-ended", now: event.now, user: u.user, sessionId }, actions);
      else {
        // A bound session that hibernates was extended before the daemon went away (B33); if it
        // was already restored, restoring again only restarts the server's normal timeout.
        const s = u.sessions.get(sessionId)!;
        s.hibernating = hibernating;
        s.extended = hibernating && s.bound !== null;
      }
    }
  }
}

/** Admin removal: same effects as a disable (D6 unbinds every session), recorded as "admin". */
export function adminDelete(state: CoreState, event: E<"admin-delete">, actions: Action[]): void {
  const u = touchUser(state, event.user);
  const targets = event.identifiers ?? [...u.regs.keys()];
  const removed = targets.filter((identifier) => removeRegistration(u, identifier, { reason: "admin", now: event.now }, actions));
  if (removed.length > 0) actions.push({ type: "store", ops: [{ op: "delete", user: u.user, identifiers: removed }] });
}
