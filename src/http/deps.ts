/**
 * What the admin HTTP app needs from the runtime. The runtime implements it; the app only
 * translates HTTP to these calls and back. Times are unix milliseconds here; the API renders
 * them as ISO 8601 strings.
 * @module
 */

import type { HistoryOutcome, Identifier, RemovalReason, Trigger } from "../core/types.ts";
import type { Logger } from "../log.ts";

export interface ReadinessCheck {
  ok: boolean;
  reason?: string;
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

/** One push-history record (D17: never a body). */
export interface HistoryRow {
  at: number;
  identifier: Identifier;
  publishId: string | null;
  trigger: Trigger | null;
  important: boolean;
  outcome: HistoryOutcome;
  latencyMs: number | null;
  error: string | null;
}

export interface RemovalRow {
  at: number;
  user: string;
  identifier: Identifier;
  reason: RemovalReason;
  detail: string | null;
}

export interface HistoryQuery {
  /** Local part, validated and nodeprep-ish normalised. */
  user: string;
  identifier?: Identifier;
  /** 1..1000 */
  limit: number;
}

export interface RemovalsQuery {
  user?: string;
  limit: number;
}

export interface AdminDeps {
  /** Component + store + bridge. */
  readiness(): Promise<Readiness>;
  /** Prometheus text exposition. */
  metrics(): string;
  /** Bearer token for /api/v1; null → /api/v1 answers 503 "admin token not configured". */
  token: string | null;
  /** XMPP host, to accept bare JIDs `user@host` in place of a local part. */
  host: string;
  /** Every `user` passed below is a validated, normalised local part. */
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
  /** Receives one line per request that failed with a 500. */
  logger: Logger;
}
