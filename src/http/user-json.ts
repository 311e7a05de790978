/**
 * The JSON of `GET /api/v1/users/{user}`, built field by field (nothing unexpected leaks through
 * an extra property; publish-options only as present/absent). `cloud-notifyd user` reads it.
 * @module
 */
import type { HistoryRow, RemovalRow, UserView } from "./deps.ts";

export function iso(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return null;
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

export function historyJson(r: HistoryRow) {
  return {
    at: iso(r.at),
    identifier: r.identifier,
    publishId: r.publishId,
    trigger: r.trigger,
    important: r.important,
    outcome: r.outcome,
    latencyMs: r.latencyMs,
    error: r.error,
  };
}

export function removalJson(r: RemovalRow) {
  return { at: iso(r.at), user: r.user, identifier: r.identifier, reason: r.reason, detail: r.detail };
}

/** `user` and `jid` are both the bare JID `local@host` (issue 13; `jid` is kept for older readers). */
export function userViewJson(v: UserView) {
  return {
    user: v.user,
    jid: v.user,
    disabled: v.disabled,
    devices: v.devices.map((d) => ({
      identifier: d.identifier,
      jid: d.jid,
      node: d.node,
      clientId: d.clientId,
      resource: d.resource,
      createdAt: iso(d.createdAt),
      updatedAt: iso(d.updatedAt),
      errorCount: d.errorCount,
      lastError: d.lastError,
      lastErrorAt: iso(d.lastErrorAt),
      includePayload: d.includePayload,
      publishOptions: d.publishOptions ? "present" : "absent",
      extensions: [...d.extensions],
      boundSessions: [...d.boundSessions],
    })),
    pushes: v.pushes.map(historyJson),
    removals: v.removals.map(removalJson),
    sessions: v.sessions.map((s) => ({
      sessionId: s.sessionId,
      resource: s.resource,
      clientId: s.clientId,
      bound: s.bound,
      hibernating: s.hibernating,
      hibernatingSince: iso(s.hibernatingSince),
    })),
  };
}

/** True when the view holds nothing at all (the API answers 404). */
export function isEmptyView(v: UserView): boolean {
  return v.devices.length === 0 && v.pushes.length === 0 && v.removals.length === 0 && v.sessions.length === 0;
}

export type UserViewJson = ReturnType<typeof userViewJson>;
