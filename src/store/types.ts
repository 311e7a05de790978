/**
 * The store's contract: what the runtime and the admin API may ask of persistence.
 * Both drivers (bun:sqlite for files, libSQL over HTTP/WebSocket for remote) implement it.
 * @module
 */
import type { Action, Identifier, Registration, RemovalReason, StoreOp } from "../core/types.ts";

export type StoreKind = "sqlite" | "libsql";

/** One push-history record (D17: never a body): the core's `history` action without its tag. */
export type HistoryRow = Omit<Extract<Action, { type: "history" }>, "type" | "latencyMs"> & {
  latencyMs?: number | null;
};

/** A history record as read back: absent optional fields come back as null. */
export interface StoredHistoryRow extends HistoryRow {
  id: number;
  latencyMs: number | null;
  error: string | null;
}

/** A registration that went away, with why (D3, D13, D18). */
export interface RemovalRow {
  /** unix ms */
  at: number;
  user: string;
  identifier: Identifier;
  /** The app service JID and node of the removed registration, when known. */
  jid: string | null;
  node: string | null;
  reason: RemovalReason;
  detail: string | null;
}

export interface StoredRemovalRow extends RemovalRow {
  id: number;
}

/** The result of the store's check at open (`PRAGMA quick_check` on local files). */
export type IntegrityCheck = { ok: true } | { ok: false; reason: string };

export interface Store {
  kind: StoreKind;
  /** What the integrity check at open found; `/readyz` fails while it is not ok. */
  readonly integrity: IntegrityCheck;
  /** True when the database answers a trivial query. Never throws. */
  ping(): Promise<boolean>;
  listByUser(user: string): Promise<Registration[]>;
  /** Runs all ops in ONE transaction: either every op is applied or none is. */
  apply(ops: StoreOp[]): Promise<void>;
  countRegistrations(): Promise<number>;
  /** Users whose pushes are suspended (account disabled, store/user-flags.ts), ascending. */
  listDisabledUsers(): Promise<string[]>;
  /** Distinct users with at least one registration, ascending, strictly after `after`. */
  listUsers(opts: { limit: number; after?: string }): Promise<string[]>;
  /** Batched insert, in one transaction. */
  addHistory(rows: HistoryRow[]): Promise<void>;
  /** Newest first. */
  listHistory(q: { user: string; identifier?: string; limit: number }): Promise<StoredHistoryRow[]>;
  addRemoval(row: RemovalRow): Promise<void>;
  /** Batched insert, in one transaction that also keeps each user's newest 100 rows only; returns the rows that cap deleted. */
  addRemovals(rows: RemovalRow[]): Promise<number>;
  /** Newest first; all users when `user` is absent. */
  listRemovals(q: { user?: string; limit: number }): Promise<StoredRemovalRow[]>;
  /** Deletes history rows with `at < olderThan` (unix ms); returns how many were deleted. */
  pruneHistory(olderThan: number): Promise<number>;
  /** Deletes removal rows with `at < olderThan` and every user's rows beyond the newest 100; returns how many. */
  pruneRemovals(olderThan: number): Promise<number>;
  close(): Promise<void>;
}
