/**
 * Disabled accounts (Prosody 13 `user-disabled` / `user-enabled`, issue 11 item 5): a user whose
 * pushes are suspended while the registrations are kept. Persisted so the suspension survives a
 * daemon restart; loaded in full at start (disabled accounts are few).
 *
 * Kept in the existing key/value `meta` table under the key `user-disabled:<local>@<host>` (the
 * bare JID; value: when, unix ms), so no table is needed. Stores written before issue 13 have
 * `user-disabled:<local>` keys (no '@': a local part never has one); `hostlessFlagWrites` renames
 * them to the first configured host at open (host-upgrade.ts). `like` with the fixed prefix is
 * safe: the prefix itself has no wildcard, whatever the user names contain.
 * @module
 */
import { and, eq, inArray, like, sql } from "drizzle-orm";
import type { StoreOp } from "../core/types.ts";
import type { AnyDb, UserKeyOf, WriteQuery } from "./registrations.ts";
import { meta } from "./schema.ts";
import { joinUser } from "./user-key.ts";

const PREFIX = "user-disabled:";
/** The old key form: the prefix, then a name without '@'. */
const hostless = sql`instr(substr(${meta.key}, ${PREFIX.length + 1}), '@') = 0`;

type UserFlagOp = Extract<StoreOp, { op: "user-flag" }>;

/** The write for one user-flag op: set (insert or replace) or clear the user's disabled mark. */
export function userFlagWrites(db: AnyDb, op: UserFlagOp, keyOf: UserKeyOf): WriteQuery[] {
  const { host, local } = keyOf(op.user);
  const key = PREFIX + joinUser(local, host);
  if (!op.disabled) return [db.delete(meta).where(eq(meta.key, key))];
  return [
    db
      .insert(meta)
      .values({ key, value: String(op.at) })
      .onConflictDoUpdate({ target: meta.key, set: { value: String(op.at) } }),
  ];
}

/** Every user marked disabled, ascending. */
export async function selectDisabledUsers(db: AnyDb): Promise<string[]> {
  const rows = await db
    .select({ key: meta.key })
    .from(meta)
    .where(like(meta.key, `${PREFIX}%`));
  return rows
    .map((r) => r.key.slice(PREFIX.length))
    .filter((user) => user !== "")
    .sort();
}

/**
 * The writes that move old `user-disabled:<local>` keys to `user-disabled:<local>@<host>`; an old
 * key whose new form already exists is dropped (the new form is kept).
 */
export function hostlessFlagWrites(db: AnyDb, host: string): WriteQuery[] {
  const renamed = sql`${meta.key} || '@' || ${host}`;
  return [
    db.delete(meta).where(and(like(meta.key, `${PREFIX}%`), hostless, inArray(renamed, db.select({ key: meta.key }).from(meta)))),
    db
      .update(meta)
      .set({ key: renamed })
      .where(and(like(meta.key, `${PREFIX}%`), hostless)),
  ];
}
