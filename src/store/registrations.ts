/**
 * Registration queries, written once for both drivers. Writes are returned as unexecuted
 * drizzle queries so db.ts can run a whole batch in one transaction (bun:sqlite) or one
 * atomic libSQL batch (remote).
 * @module
 */
import { and, asc, count, eq, inArray, sql } from "drizzle-orm";
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";
import { assertNever } from "../assert-never.ts";
import type { PushFilters, Registration, StoreOp } from "../core/types.ts";
import type * as schema from "./schema.ts";
import { pushHistory, registrations, removals } from "./schema.ts";
import { userFlagWrites } from "./user-flags.ts";
import type { UserKey } from "./user-key.ts";
import { joinUser } from "./user-key.ts";

/** How the store reads a user string (bare JID `local@host`) into its two columns: user-key.ts. */
export type UserKeyOf = (user: string) => UserKey;

/** A drizzle SQLite database of either driver, over our schema. */
export type AnyDb = BaseSQLiteDatabase<"sync" | "async", unknown, typeof schema>;

/** An unexecuted write; db.ts runs it with `.run()` or in a libSQL batch. */
export interface WriteQuery {
  run(): unknown;
}

type RegistrationRow = typeof registrations.$inferSelect;

/** Row → domain value (the columns mirror `Registration`, host + user joined; E1/E3 columns only when set). */
export function toRegistration(row: RegistrationRow): Registration {
  const reg: Registration = {
    user: joinUser(row.user, row.host),
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
export function prepareSelectByUser(db: AnyDb, keyOf: UserKeyOf): (user: string) => Promise<Registration[]> {
  // Sorted here rather than by ORDER BY: with it SQLite took ~3× as long for the same single
  // index search (measured with bun:sqlite, 10k users), and a user has a handful of rows.
  const query = db
    .select()
    .from(registrations)
    .where(and(eq(registrations.host, sql.placeholder("host")), eq(registrations.user, sql.placeholder("user"))))
    .prepare();
  return async function selectByUser(user) {
    const { host, local } = keyOf(user);
    const rows = (await query.all({ host, user: local })) as RegistrationRow[];
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

/**
 * Distinct users with a registration, as bare JIDs, ordered by (host, local part) — the primary
 * key's order, so a page is one index range — strictly after the cursor `after` (a bare JID).
 */
export async function selectUsers(db: AnyDb, opts: { limit: number; after?: string }, keyOf: UserKeyOf): Promise<string[]> {
  const after = opts.after === undefined ? undefined : keyOf(opts.after);
  const rows = await db
    .selectDistinct({ host: registrations.host, user: registrations.user })
    .from(registrations)
    .where(after === undefined ? undefined : sql`(${registrations.host}, ${registrations.user}) > (${after.host}, ${after.local})`)
    .orderBy(asc(registrations.host), asc(registrations.user))
    .limit(clampLimit(opts.limit));
  return rows.map((r) => joinUser(r.user, r.host));
}

/** The writes for a list of ops, in order. Ops that change nothing (delete of no identifiers) add no query. */
export function writesFor(db: AnyDb, ops: StoreOp[], keyOf: UserKeyOf): WriteQuery[] {
  return ops.flatMap((op) => writesForOp(db, op, keyOf));
}

function writesForOp(db: AnyDb, op: StoreOp, keyOf: UserKeyOf): WriteQuery[] {
  switch (op.op) {
    case "upsert":
      return [upsert(db, op.registration, keyOf)];
    case "delete": {
      if (op.identifiers.length === 0) return [];
      const { host, local } = keyOf(op.user);
      return [
        db
          .delete(registrations)
          .where(and(eq(registrations.host, host), eq(registrations.user, local), inArray(registrations.identifier, op.identifiers))),
      ];
    }
    case "delete-user": {
      // D14: the user's registrations and their history (push history and removal records) go at once.
      const { host, local } = keyOf(op.user);
      return [
        db.delete(registrations).where(and(eq(registrations.host, host), eq(registrations.user, local))),
        db.delete(pushHistory).where(and(eq(pushHistory.host, host), eq(pushHistory.user, local))),
        db.delete(removals).where(and(eq(removals.host, host), eq(removals.user, local))),
      ];
    }
    case "user-flag":
      return userFlagWrites(db, op, keyOf);
    case "error-count": {
      const { host, local } = keyOf(op.user);
      return [
        db
          .update(registrations)
          .set({ errorCount: op.errorCount, lastError: op.lastError, lastErrorAt: op.lastErrorAt })
          .where(and(eq(registrations.host, host), eq(registrations.user, local), eq(registrations.identifier, op.identifier))),
      ];
    }
    default:
      return assertNever(op, "build store write");
  }
}

function upsert(db: AnyDb, r: Registration, keyOf: UserKeyOf): WriteQuery {
  return db
    .insert(registrations)
    .values(toRow(r, keyOf))
    .onConflictDoUpdate({
      target: [registrations.host, registrations.user, registrations.identifier],
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

function toRow(r: Registration, keyOf: UserKeyOf): typeof registrations.$inferInsert {
  const { encryption, filters, user, ...plain } = r;
  const { host, local } = keyOf(user);
  return {
    ...plain,
    host,
    user: local,
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
