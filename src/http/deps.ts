/**
 * What the admin HTTP app needs from the runtime. The runtime implements it; the app only
 * translates HTTP to these calls and back. Times are unix milliseconds here; the API renders
 * them as ISO 8601 strings.
 * @module
 */

import type { Identifier, RemovalReason } from "../core/types.ts";
import type { Logger } from "../log.ts";
import type { StoredHistoryRow } from "../store/types.ts";

export interface ReadinessCheck {
  ok: boolean;
  reason?: string;
  /** Ready, but something the operator should fix (e.g. a companion module not loaded). */
  warning?: string;
}

export interface Readiness {
  ready: boolean;
  /** e.g. { component: {ok:true}, store: {ok:false, reason:"…"}, bridge: {…} } */
  checks: Record<string, ReadinessCheck>;
}

export interface RegistrationView {
  identifier: Identifier;
  jid: string;
  node: string | null;
  createdAt: number;
  updatedAt: number;
  errorCount: number;
  lastError: string | null;
  lastErrorAt: number | null;
  /** Session ids currently bound to this registration. */
  boundSessions: string[];
}

export type TestPushOutcome = "ok" | "error" | "timeout";

export interface TestPushResult {
  identifier: Identifier;
  outcome: TestPushOutcome;
  /** e.g. "cancel/item-not-found" */
  error?: string;
  latencyMs?: number;
}

/** One push-history record as the API shows it (D17: never a body): the stored record without its row id and user. */
export type HistoryRow = Omit<StoredHistoryRow, "id" | "user">;

export interface RemovalRow {
  at: number;
  user: string;
  identifier: Identifier;
  reason: RemovalReason;
  detail: string | null;
}

export interface HistoryQuery {
  /** Bare JID `local@host`, validated and nodeprep-ish normalised (issue 13). */
  user: string;
  identifier?: Identifier;
  /** 1..1000 */
  limit: number;
}

export interface RemovalsQuery {
  user?: string;
  limit: number;
}

/** One registration as the per-user view shows it: flags only, never publish-options values. */
export interface DeviceView {
  identifier: Identifier;
  /** The app push service JID. */
  jid: string;
  node: string | null;
  clientId: string | null;
  resource: string | null;
  createdAt: number;
  updatedAt: number;
  errorCount: number;
  lastError: string | null;
  lastErrorAt: number | null;
  includePayload: boolean;
  /** Whether the enable carried a publish-options form (its values are never exposed). */
  publishOptions: boolean;
  /** Names of the push pipeline extensions that run for this registration (D16). */
  extensions: string[];
  boundSessions: string[];
}

/** A client session of the user, as the core knows it from the bridge. */
export interface SessionView {
  sessionId: string;
  resource: string | null;
  clientId: string | null;
  /** The registration this session is bound to, or null. */
  bound: Identifier | null;
  hibernating: boolean;
  /** unix ms; null when not hibernating or not known (a session listed after a reconnect). */
  hibernatingSince: number | null;
}

/** Everything about one user, for `cloud-notifyd user` and the admin page. */
export interface UserView {
  user: string;
  /** Pushes suspended because the account is disabled (Prosody 13). */
  disabled: boolean;
  devices: DeviceView[];
  /** Newest first. */
  pushes: HistoryRow[];
  /** Newest first. */
  removals: RemovalRow[];
  sessions: SessionView[];
}

export interface UsersQuery {
  /** Local-part prefix; "" = every user. */
  prefix: string;
  /** Only users of this host (one of the configured hosts); absent = every host. */
  host?: string;
  /** Paging cursor: the last user (bare JID) of the previous page. */
  after?: string;
  limit: number;
}

export interface UsersPage {
  /** Bare JIDs, by host, then local part. */
  users: string[];
  /** Pass as `after` for the next page; null on the last page. */
  next: string | null;
}

/** Final push outcomes per time bucket (the admin page's chart). */
export interface PushTimeline {
  bucketMs: number;
  /** Oldest first; `at` is the bucket's start (unix ms). */
  buckets: Array<{ at: number; counts: Record<string, number> }>;
}

export interface AdminDeps {
  /** Component + store + bridge. */
  readiness(): Promise<Readiness>;
  /** Prometheus text exposition. */
  metrics(): string;
  /** Bearer token for /api/v1; null → /api/v1 answers 503 "admin token not configured". */
  token: string | null;
  /** The first XMPP host (the only one before issue 13); `hosts` when given wins. */
  host: string;
  /** The configured hosts (issue 13); absent = [host]. A user is `local@host` on one of them. */
  hosts?: readonly string[];
  /** Every `user` passed below is a validated, normalised bare JID `local@host` on one of the hosts. */
  listRegistrations(user: string): Promise<RegistrationView[]>;
  /** All of the user's registrations, or one. Returns how many were removed. */
  deleteRegistrations(user: string, identifier?: Identifier): Promise<number>;
  /** Pushes with no stanza (B39 ping) to all or one registration and waits for the outcomes. */
  testPush(user: string, identifier?: Identifier): Promise<TestPushResult[]>;
  /** Newest first. */
  history(q: HistoryQuery): Promise<HistoryRow[]>;
  /** Newest first. */
  removals(q: RemovalsQuery): Promise<RemovalRow[]>;
  totals(): Promise<Record<string, number>>;
  /** The per-user view (issue 15 item 2); absent in deps that do not provide it (404). */
  userView?(user: string, opts: { limit: number }): Promise<UserView>;
  /** Users with a registration, ascending, paged. */
  listUsers?(q: UsersQuery): Promise<UsersPage>;
  /** The last hour's final push outcomes, for the admin page. */
  pushTimeline?(): PushTimeline;
  /** Receives one line per request that failed with a 500. */
  logger: Logger;
}
