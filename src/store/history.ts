/**
 * Push-history and removal-record queries, written once for both drivers (see registrations.ts).
 * @module
 */
import type { Database } from "bun:sqlite";
import { and, desc, eq, lt } from "drizzle-orm";
import type { HistoryOutcome, RemovalReason, Trigger } from "../core/types.ts";
import type { AnyDb, UserKeyOf, WriteQuery } from "./registrations.ts";
import { clampLimit } from "./registrations.ts";
import { pushHistory, removals } from "./schema.ts";
import type { HistoryRow, StoredHistoryRow, StoredRemovalRow } from "./types.ts";
import { joinUser } from "./user-key.ts";

/** Rows per INSERT statement: 11 parameters each stays far below SQLite's 32766 variables. */
const HISTORY_CHUNK = 500;

export function historyWrites(db: AnyDb, rows: HistoryRow[], keyOf: UserKeyOf): WriteQuery[] {
  const writes: WriteQuery[] = [];
  for (let i = 0; i < rows.length; i += HISTORY_CHUNK) {
    const values = rows.slice(i, i + HISTORY_CHUNK).map(function toHistoryInsert(r) {
      const { host, local } = keyOf(r.user);
      return {
        at: r.at,
        host,
        user: local,
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

/** Rows per prepared multi-row INSERT (10 parameters each). */
const HISTORY_ROWS_PER_INSERT = 50;

/**
 * Prepared history INSERTs on the raw bun:sqlite handle (one of 50 rows, one of 1 row), run
 * over a batch inside the caller's transaction. Building a 500-row statement through drizzle
 * each flush once cost a third of the daemon's CPU under load, and even drizzle's prepared
 * query spent more mapping parameters than SQLite spent inserting; 50 rows per statement cost
 * ~20 % less than one (docs/performance.md). The column list mirrors `pushHistory` in
 * schema.ts; the store contract tests read every field back.
 */
export function prepareHistoryInsert(sqlite: Database, keyOf: UserKeyOf): (rows: HistoryRow[]) => WriteQuery[] {
  const insertSql = (n: number) =>
    "INSERT INTO push_history (at, host, user, identifier, publish_id, `trigger`, important, outcome, latency_ms, error) VALUES " +
    Array.from({ length: n }, () => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ");
  const many = sqlite.prepare(insertSql(HISTORY_ROWS_PER_INSERT));
  const one = sqlite.prepare(insertSql(1));
  const params: Array<string | number | null> = [];
  function addParams(r: HistoryRow): void {
    const { host, local } = keyOf(r.user);
    params.push(
      r.at,
      host,
      local,
      r.identifier,
      r.publishId,
      r.trigger,
      r.important ? 1 : 0,
      r.outcome,
      r.latencyMs ?? null,
      r.error ?? null,
    );
  }
  return function historyRowWrites(batch) {
    // In user order: the (host, user, at) index then takes each batch as a few runs of
    // neighbouring keys instead of one random B-tree page per row. With users in random order
    // this halved the CPU per row at 5000 rows a batch (docs/performance.md). Stable: a user's
    // rows keep their order, and so their ids. Sorting the bare JIDs groups each user's rows,
    // which is what matters (the order between users is only locality).
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
  keyOf: UserKeyOf,
): Promise<StoredHistoryRow[]> {
  const { host, local } = keyOf(q.user);
  const ofUser = and(eq(pushHistory.host, host), eq(pushHistory.user, local));
  const where = q.identifier === undefined ? ofUser : and(ofUser, eq(pushHistory.identifier, q.identifier));
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
      user: joinUser(r.user, r.host),
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

export async function selectRemovals(db: AnyDb, q: { user?: string; limit: number }, keyOf: UserKeyOf): Promise<StoredRemovalRow[]> {
  const key = q.user === undefined ? undefined : keyOf(q.user);
  const rows = await db
    .select()
    .from(removals)
    .where(key === undefined ? undefined : and(eq(removals.host, key.host), eq(removals.user, key.local)))
    .orderBy(desc(removals.at), desc(removals.id))
    .limit(clampLimit(q.limit));
  return rows.map(function toRemovalRow(r) {
    return {
      id: r.id,
      at: r.at,
      user: joinUser(r.user, r.host),
      identifier: r.identifier,
      jid: r.jid,
      node: r.node,
      reason: r.reason as RemovalReason,
      detail: r.detail,
    };
  });
}
