/**
 * Push-history and removal-record queries, written once for both drivers (see registrations.ts).
 * @module
 */
import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { HistoryOutcome, RemovalReason, Trigger } from "../core/types.ts";
import type { AnyDb, WriteQuery } from "./registrations.ts";
import { clampLimit } from "./registrations.ts";
import { pushHistory, removals } from "./schema.ts";
import type { HistoryRow, RemovalRow, StoredHistoryRow, StoredRemovalRow } from "./types.ts";

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

/**
 * One prepared single-row history INSERT, run once per row inside the caller's transaction
 * (bun:sqlite): about 5 µs a row, where building a 500-row statement through drizzle each
 * flush cost a third of the daemon's CPU under load (docs/performance.md).
 */
export function prepareHistoryInsert(db: AnyDb): (rows: HistoryRow[]) => WriteQuery[] {
  const p = (name: string) => sql.placeholder(name);
  const insert = db
    .insert(pushHistory)
    .values({
      at: p("at"),
      user: p("user"),
      identifier: p("identifier"),
      publishId: p("publishId"),
      trigger: p("trigger"),
      important: p("important"),
      outcome: p("outcome"),
      latencyMs: p("latencyMs"),
      error: p("error"),
    })
    .prepare();
  return function historyRowWrites(rows) {
    return rows.map((r) => ({
      run: () =>
        insert.run({
          at: r.at,
          user: r.user,
          identifier: r.identifier,
          publishId: r.publishId,
          trigger: r.trigger,
          important: r.important ? 1 : 0,
          outcome: r.outcome,
          latencyMs: r.latencyMs ?? null,
          error: r.error ?? null,
        }),
    }));
  };
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

export function removalWrite(db: AnyDb, row: RemovalRow): WriteQuery {
  return db.insert(removals).values({
    at: row.at,
    user: row.user,
    identifier: row.identifier,
    jid: row.jid,
    node: row.node,
    reason: row.reason,
    detail: row.detail,
  });
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
