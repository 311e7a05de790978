/**
 * Push-history and removal-record queries, written once for both drivers (see registrations.ts).
 * @module
 */
import type { Database } from "bun:sqlite";
import { and, desc, eq, lt } from "drizzle-orm";
import type { HistoryOutcome, RemovalReason, Trigger } from "../core/types.ts";
import type { AnyDb, WriteQuery } from "./registrations.ts";
import { clampLimit } from "./registrations.ts";
import { pushHistory, removals } from "./schema.ts";
import type { HistoryRow, StoredHistoryRow, StoredRemovalRow } from "./types.ts";

/** Rows per INSERT statement: 10 parameters each stays far below SQLite's 32766 variables. */
const HISTORY_CHUNK = 500;

export function historyWrites(db: AnyDb, rows: HistoryRow[]): WriteQuery[] {
  const writes: WriteQuery[] = [];
  for (let i = 0; i < rows.length; i += HISTORY_CHUNK) {
    const values = rows.slice(i, i + HISTORY_CHUNK).map(function toHistoryInsert(r) {
      return {
        at: r.at,
        user: r.user,
        identifier: r.identifier,
        publishId: r.publishId,
        trigger: r.trigger,
        important: r.important,
        outcome: r.outcome,
        latencyMs: r.latencyMs ?? null,
        error: r.error ?? null,
      };
    });
    writes.push(db.insert(pushHistory).values(values));
  }
  return writes;
}

/** Rows per prepared multi-row INSERT (9 parameters each). */
const HISTORY_ROWS_PER_INSERT = 50;

/**
 * Prepared history INSERTs on the raw bun:sqlite handle (one of 50 rows, one of 1 row), run
 * over a batch inside the caller's transaction. Building a 500-row statement through drizzle
 * each flush once cost a third of the daemon's CPU under load, and even drizzle's prepared
 * query spent more mapping parameters than SQLite spent inserting; 50 rows per statement cost
 * ~20 % less than one (docs/performance.md). The column list mirrors `pushHistory` in
 * schema.ts; the store contract tests read every field back.
 */
export function prepareHistoryInsert(sqlite: Database): (rows: HistoryRow[]) => WriteQuery[] {
  const insertSql = (n: number) =>
    "INSERT INTO push_history (at, user, identifier, publish_id, `trigger`, important, outcome, latency_ms, error) VALUES " +
    Array.from({ length: n }, () => "(?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ");
  const many = sqlite.prepare(insertSql(HISTORY_ROWS_PER_INSERT));
  const one = sqlite.prepare(insertSql(1));
  const params: Array<string | number | null> = [];
  function addParams(r: HistoryRow): void {
    params.push(r.at, r.user, r.identifier, r.publishId, r.trigger, r.important ? 1 : 0, r.outcome, r.latencyMs ?? null, r.error ?? null);
  }
  return function historyRowWrites(batch) {
    // In user order: the (user, at) index then takes each batch as a few runs of neighbouring
    // keys instead of one random B-tree page per row. With users in random order this halved
    // the CPU per row at 5000 rows a batch (docs/performance.md). Stable: a user's rows keep
    // their order, and so their ids.
    const rows = batch.slice().sort(byUser);
    return [
      {
        run() {
          let i = 0;
          for (; i + HISTORY_ROWS_PER_INSERT <= rows.length; i += HISTORY_ROWS_PER_INSERT) {
            params.length = 0;
            for (let k = i; k < i + HISTORY_ROWS_PER_INSERT; k++) addParams(rows[k]!);
            many.run(...params);
          }
          for (; i < rows.length; i++) {
            params.length = 0;
            addParams(rows[i]!);
            one.run(...params);
          }
          return { changes: rows.length };
        },
      },
    ];
  };
}

function byUser(a: HistoryRow, b: HistoryRow): number {
  return a.user < b.user ? -1 : a.user > b.user ? 1 : 0;
}

export async function selectHistory(
  db: AnyDb,
  q: { user: string; identifier?: string; limit: number },
): Promise<StoredHistoryRow[]> {
  const where =
    q.identifier === undefined
      ? eq(pushHistory.user, q.user)
      : and(eq(pushHistory.user, q.user), eq(pushHistory.identifier, q.identifier));
  const rows = await db
    .select()
    .from(pushHistory)
    .where(where)
    .orderBy(desc(pushHistory.at), desc(pushHistory.id))
    .limit(clampLimit(q.limit));
  return rows.map(function toHistoryRow(r) {
    return {
      id: r.id,
      at: r.at,
      user: r.user,
      identifier: r.identifier,
      publishId: r.publishId,
      trigger: r.trigger as Trigger | null,
      important: r.important,
      outcome: r.outcome as HistoryOutcome,
      latencyMs: r.latencyMs,
      error: r.error,
    };
  });
}

export function pruneHistoryWrite(db: AnyDb, olderThan: number): WriteQuery {
  return db.delete(pushHistory).where(lt(pushHistory.at, olderThan));
}

export async function selectRemovals(db: AnyDb, q: { user?: string; limit: number }): Promise<StoredRemovalRow[]> {
  const rows = await db
    .select()
    .from(removals)
    .where(q.user === undefined ? undefined : eq(removals.user, q.user))
    .orderBy(desc(removals.at), desc(removals.id))
    .limit(clampLimit(q.limit));
  return rows.map(function toRemovalRow(r) {
    return {
      id: r.id,
      at: r.at,
      user: r.user,
      identifier: r.identifier,
      jid: r.jid,
      node: r.node,
      reason: r.reason as RemovalReason,
      detail: r.detail,
    };
  });
}
