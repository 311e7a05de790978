/**
 * The admin API asks the core: its questions (`admin-query`) are answered at once from the
 * core's tables, and its commands (admin-delete, a test push) are answered by `admin-reply`
 * actions addressed to the request, like client IQs are answered by `reply`. A user is only
 * peeked at: a question never loads a user or marks one as used.
 * @module
 */
import { assertNever } from "../assert-never.ts";
import type { CoreState } from "./state.ts";
import type { Action, AdminAnswer, AdminQuery, Event, Identifier, InflightPush, SessionInfo } from "./types.ts";
import { adminDelete } from "./snapshot.ts";
import { ping } from "./triggers.ts";

type E<T extends Event["type"]> = Extract<Event, { type: T }>;

/** Answers an admin question. */
export function adminQuery(state: CoreState, event: E<"admin-query">, actions: Action[]): void {
  actions.push({ type: "admin-reply", requestId: event.requestId, answer: answer(state, event.query) });
}

function answer(state: CoreState, query: AdminQuery): AdminAnswer {
  switch (query.kind) {
    case "user":
      return {
        kind: "user",
        disabled: state.disabled.has(query.user),
        extensions: state.extensions.map((e) => e.name),
        sessions: sessionsOf(state, query.user),
      };
    case "inflight":
      return { kind: "inflight", pushes: inflight(state, query.user, query.identifier) };
    case "totals":
      return { kind: "totals", cachedUsers: state.users.size, pendingPublishes: state.pending.size };
    default:
      return assertNever(query, "answer admin query");
  }
}

function sessionsOf(state: CoreState, user: string): SessionInfo[] {
  const u = state.users.get(user); // peek: never touches the LRU
  if (u === undefined) return [];
  return [...u.sessions.values()].map((s) => ({
    sessionId: s.ref.sessionId,
    fullJid: s.ref.fullJid,
    clientId: s.ref.clientId ?? null,
    bound: s.bound,
    hibernating: s.hibernating,
    hibernatingSince: s.hibernating ? (s.hibernatedAt ?? null) : null,
  }));
}

/** The user's publishes in flight, newest first (a publish sent again after a broken link is not listed, see PendingPublish.listed). */
function inflight(state: CoreState, user: string, identifier: Identifier | undefined): InflightPush[] {
  const found: InflightPush[] = [];
  if (state.users.get(user)?.pendingPublishes === 0) return found;
  for (const [publishId, p] of state.pending) {
    if (!p.listed || p.user !== user || (identifier !== undefined && p.identifier !== identifier)) continue;
    found.push({ at: p.sentAt, user, identifier: p.identifier, publishId, trigger: p.trigger, important: p.important });
  }
  return found.reverse();
}

/** admin-delete; with a request id, answered with how many registrations went. */
export function adminDeleteRequest(state: CoreState, event: E<"admin-delete">, actions: Action[]): void {
  const from = actions.length;
  adminDelete(state, event, actions);
  if (event.adminRequestId === undefined) return;
  let removed = 0;
  for (let i = from; i < actions.length; i++) {
    const a = actions[i]!;
    if (a.type === "removed" && a.user === event.user && a.reason === "admin") removed++;
  }
  actions.push({ type: "admin-reply", requestId: event.adminRequestId, answer: { kind: "deleted", removed } });
}

/**
 * A ping (B39); from the admin API (a test push), answered with the publishes it sent, and then
 * with each one's first outcome (outcome.ts).
 */
export function pingRequest(state: CoreState, event: E<"ping">, actions: Action[]): void {
  const from = actions.length;
  ping(state, event, actions);
  const requestId = event.adminRequestId;
  if (requestId === undefined) return;
  const publishes: Array<{ publishId: string; identifier: Identifier }> = [];
  for (let i = from; i < actions.length; i++) {
    const a = actions[i]!;
    if (a.type !== "publish" || a.publish.user !== event.user || a.publish.trigger !== "ping") continue;
    const pending = state.pending.get(a.publish.id);
    if (pending !== undefined) pending.adminRequestId = requestId;
    publishes.push({ publishId: a.publish.id, identifier: a.publish.identifier });
  }
  actions.push({ type: "admin-reply", requestId, answer: { kind: "test-push", publishes } });
}
