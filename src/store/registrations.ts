/**
 * Registration queries, written once for both drivers. Writes are returned as unexecuted
 * drizzle queries so db.ts can run a whole batch in one transaction (bun:sqlite) or one
 * atomic libSQL batch (remote).
 * @module
 */
import { and, asc, count, eq, gt, inArray, sql } from "drizzle-orm";
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";
import { assertNever } from "../assert-never.ts";
import type { PushFilters, Registration, StoreOp } from "../core/types.ts";
import * as schema from "./schema.ts";
import { pushHistory, registrations, removals } from "./schema.ts";
import { userFlagWrites } from "./user-flags.ts";

/** A drizzle SQLite database of either driver, over our schema. */
export type AnyDb = BaseSQLiteDatabase<"sync" | "async", unknown, typeof schema>;

/** An unexecuted write; db.ts runs it with `.run()` or in a libSQL batch. */
export interface WriteQuery {
  run(): unknown;
}

type RegistrationRow = typeof registrations.$inferSelect;

/** Row → domain value (the columns mirror `Registration` one to one; E1/E3 columns only when set). */
export function toRegistration(row: RegistrationRow): Registration {
  const reg: Registration = {
    user: row.user,
    identifier: row.identifier,
    jid: row.jid,
    node: row.node,
    includePayload: row.includePayload,
    publishOptions: row.publishOptions,
    clientId: row.clientId,
    resource: row.resource,
    language: row.language,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    errorCount: row.errorCount,
    lastError: row.lastError,
    lastErrorAt: row.lastErrorAt,
  };
  if (row.encryptionAlg === "aes-128-gcm" && row.encryptionKey !== null) {
    reg.encryption = { alg: "aes-128-gcm", key: row.encryptionKey, maxSize: row.encryptionMaxSize };
  }
  const filters = filtersOf(row.filters);
  if (filters !== null) reg.filters = filters;
  return reg;
}

/** The E3 filters column; a row that does not hold valid JSON of the right shape has none. */
function filtersOf(text: string | null): PushFilters | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as Partial<PushFilters> | null;
    if (v === null || typeof v !== "object" || !Array.isArray(v.muted) || !Array.isArray(v.groupchat)) return null;
    return { ignoreUnknown: v.ignoreUnknown === true, muted: v.muted, groupchat: v.groupchat };
  } catch {
    return null;
  }
}

/**
 * A prepared "registrations of one user" query: the runtime loads a user before that user's
 * first event, so this is on the hot path and drizzle should build its SQL once, not per call.
 */
export function prepareSelectByUser(db: AnyDb): (user: string) => Promise<Registration[]> {
  // Sorted here rather than by ORDER BY: with it SQLite took ~3× as long for the same single
  // index search (measured with bun:sqlite, 10k users), and a user has a handful of rows.
  const query = db
    .select()
    .from(registrations)
    .where(eq(registrations.user, sql.placeholder("user")))
    .prepare();
  return async function selectByUser(user) {
    const rows = (await query.all({ user })) as RegistrationRow[];
    return rows.map(toRegistration).sort(byIdentifier);
  };
}

/** SQLite's BINARY order of TEXT (UTF-8 bytes, i.e. code points), which plain `<` on UTF-16 is not. */
function byIdentifier(a: Registration, b: Registration): number {
  return compareCodePoints(a.identifier, b.identifier);
}

function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(j)!;
    if (x !== y) return x < y ? -1 : 1;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return a.length - i === b.length - j ? 0 : i < a.length ? 1 : -1;
}

export async function selectCount(db: AnyDb): Promise<number> {
  const rows = await db.select({ n: count() }).from(registrations);
  return rows[0]?.n ?? 0;
}

export async function selectUsers(db: AnyDb, opts: { limit: number; after?: string }): Promise<string[]> {
  const rows = await db
    .selectDistinct({ user: registrations.user })
    .from(registrations)
    .where(opts.after === undefined ? undefined : gt(registrations.user, opts.after))
    .orderBy(asc(registrations.user))
    .limit(clampLimit(opts.limit));
  return rows.map((r) => r.user);
}

/** The writes for a list of ops, in order. Ops that change nothing (delete of no identifiers) add no query. */
export function writesFor(db: AnyDb, ops: StoreOp[]): WriteQuery[] {
  return ops.flatMap((op) => writesForOp(db, op));
}

function writesForOp(db: AnyDb, op: StoreOp): WriteQuery[] {
  switch (op.op) {
    case "upsert":
      return [upsert(db, op.registration)];
    case "delete":
      if (op.identifiers.length === 0) return [];
      return [
        db
          .delete(registrations)
          .where(and(eq(registrations.user, op.user), inArray(registrations.identifier, op.identifiers))),
      ];
    case "delete-user":
      // D14: the user's registrations and their history (push history and removal records) go at once.
      return [
        db.delete(registrations).where(eq(registrations.user, op.user)),
        db.delete(pushHistory).where(eq(pushHistory.user, op.user)),
        db.delete(removals).where(eq(removals.user, op.user)),
      ];
    case "user-flag":
      return userFlagWrites(db, op);
    case "error-count":
      return [
        db
          .update(registrations)
          .set({ errorCount: op.errorCount, lastError: op.lastError, lastErrorAt: op.lastErrorAt })
          .where(and(eq(registrations.user, op.user), eq(registrations.identifier, op.identifier))),
      ];
    default:
      return assertNever(op, "build store write");
  }
}

function upsert(db: AnyDb, r: Registration): WriteQuery {
  return db
    .insert(registrations)
    .values(toRow(r))
    .onConflictDoUpdate({
      target: [registrations.user, registrations.identifier],
      set: {
        jid: sql`excluded.jid`,
        node: sql`excluded.node`,
        includePayload: sql`excluded.include_payload`,
        publishOptions: sql`excluded.publish_options`,
        clientId: sql`excluded.client_id`,
        resource: sql`excluded.resource`,
        language: sql`excluded.language`,
        createdAt: sql`excluded.created_at`,
        updatedAt: sql`excluded.updated_at`,
        errorCount: sql`excluded.error_count`,
        lastError: sql`excluded.last_error`,
        lastErrorAt: sql`excluded.last_error_at`,
        encryptionAlg: sql`excluded.encryption_alg`,
        encryptionKey: sql`excluded.encryption_key`,
        encryptionMaxSize: sql`excluded.encryption_max_size`,
        filters: sql`excluded.filters`,
      },
    });
}

function toRow(r: Registration): typeof registrations.$inferInsert {
  const { encryption, filters, ...plain } = r;
  return {
    ...plain,
    encryptionAlg: encryption?.alg ?? null,
    encryptionKey: encryption?.key ?? null,
    encryptionMaxSize: encryption?.maxSize ?? null,
    filters: filters === undefined || filters === null ? null : JSON.stringify(filters),
  };
}

/** Limits come from API callers: at least 1, at most 10000. */
export function clampLimit(limit: number): number {
  if (!Number.isFinite(limit)) return 1;
  return Math.min(10_000, Math.max(1, Math.floor(limit)));
}
