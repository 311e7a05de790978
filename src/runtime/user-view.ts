/**
 * The per-user view of the admin API (issue 15 item 2): the user's registrations from the store,
 * the pushes and removals from the history, and the sessions from the core's answer to a `user`
 * question (the user is peeked at, never loaded or marked as used). Publish-options values never
 * leave this module, only whether there are any.
 * @module
 */
import type { AdminAnswer } from "../core/types.ts";
import { resourceOf } from "../core/jid.ts";
import type { DeviceView, HistoryRow, RemovalRow, SessionView, UserView } from "../http/deps.ts";
import type { Store } from "../store/types.ts";

export interface UserViewSources {
  /** The core's answer about the user: sessions, disabled, the pipeline's extensions. */
  core(): Extract<AdminAnswer, { kind: "user" }>;
  store: Store;
  /** Pushes of the user, newest first (in flight included). */
  history(q: { user: string; limit: number }): Promise<HistoryRow[]>;
  /** Removals of the user, newest first. */
  removals(q: { user: string; limit: number }): Promise<RemovalRow[]>;
}

export async function buildUserView(src: UserViewSources, user: string, limit: number): Promise<UserView> {
  const regs = await src.store.listByUser(user);
  const { sessions, disabled, extensions } = src.core();
  const devices: DeviceView[] = regs.map((r) => ({
    identifier: r.identifier,
    jid: r.jid,
    node: r.node,
    clientId: r.clientId,
    resource: r.resource,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    errorCount: r.errorCount,
    lastError: r.lastError,
    lastErrorAt: r.lastErrorAt,
    includePayload: r.includePayload,
    publishOptions: r.publishOptions !== null && r.publishOptions !== "",
    extensions: deviceExtensions(r, extensions),
    boundSessions: sessions.filter((s) => s.bound === r.identifier).map((s) => s.sessionId),
  }));
  const sessionViews: SessionView[] = sessions.map((s) => ({
    sessionId: s.sessionId,
    resource: resourceOf(s.fullJid),
    clientId: s.clientId,
    bound: s.bound,
    hibernating: s.hibernating,
    hibernatingSince: s.hibernatingSince,
  }));
  return {
    user,
    disabled,
    devices,
    pushes: await src.history({ user, limit }),
    removals: await src.removals({ user, limit }),
    sessions: sessionViews,
  };
}

/**
 * The extensions a device uses: its Tigase key (E1) and filters (E3) when it sent them, and the
 * daemon-wide ones that apply to every registration (e.g. priority, E2).
 */
function deviceExtensions(r: import("../core/types.ts").Registration, daemonWide: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of daemonWide) {
    if (name === "encrypt" ? r.encryption != null : name === "filters" ? r.filters != null : true) out.push(name);
  }
  return out;
}
