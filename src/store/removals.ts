/**
 * Removal records are bounded two ways (docs/operations.md "Store size"):
 * - per user (one (host, user) pair, issue 13): every write of removals also deletes that user's rows beyond the newest
 *   `REMOVALS_PER_USER` in the same transaction, so an enable burst (each enable beyond
 *   `push_max_devices` evicts one registration) costs one insert and a delete over at most
 *   101 rows of one user's index, never a scan;
 * - by age: rows older than `history_retention_days` go with push history (at start, hourly),
 *   together with a sweep of every user beyond the cap (stores written before the cap existed).
 * @module
 */
import { and, desc, eq, inArray, lt, notInArray, sql } from "drizzle-orm";
import type { AnyDb, UserKeyOf, WriteQuery } from "./registrations.ts";
import { removals } from "./schema.ts";
import type { RemovalRow } from "./types.ts";

/** Removal records kept per user, newest first (the admin API shows at most this many per user). */
export const REMOVALS_PER_USER = 100;

/** Rows per INSERT: 8 parameters each. */
const CHUNK = 500;

export function removalsWrite(db: AnyDb, rows: RemovalRow[], keyOf: UserKeyOf): WriteQuery[] {
  const writes: WriteQuery[] = [];
  for (let i = 0; i < rows.length; i += CHUNK) {
    writes.push(
      db.insert(removals).values(
        rows.slice(i, i + CHUNK).map(function toRemovalInsert(r) {
          const { host, local } = keyOf(r.user);
          return { at: r.at, host, user: local, identifier: r.identifier, jid: r.jid, node: r.node, reason: r.reason, detail: r.detail };
        }),
      ),
    );
  }
  return writes;
}

/** Deletes `user`'s removal rows beyond the newest `keep` (by `at`, then id). Served by `removals_host_user_at_idx`. */
export function capRemovalsWrite(db: AnyDb, user: string, keep: number, keyOf: UserKeyOf): WriteQuery {
  const { host, local } = keyOf(user);
  const ofUser = and(eq(removals.host, host), eq(removals.user, local));
  const newest = db.select({ id: removals.id }).from(removals).where(ofUser).orderBy(desc(removals.at), desc(removals.id)).limit(keep);
  return db.delete(removals).where(and(ofUser, notInArray(removals.id, newest)));
}

export function pruneRemovalsByAgeWrite(db: AnyDb, olderThan: number): WriteQuery {
  return db.delete(removals).where(lt(removals.at, olderThan));
}

/** Every user's rows beyond the newest `keep`: one pass over the table (bounded by users × keep once capped). */
export function pruneRemovalsPerUserWrite(db: AnyDb, keep: number): WriteQuery {
  const beyond = sql`(SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY host, user ORDER BY at DESC, id DESC) AS n FROM removals) WHERE n > ${keep})`;
  return db.delete(removals).where(inArray(removals.id, beyond));
}
