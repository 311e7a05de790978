/**
 * Disabled accounts (Prosody 13 `user-disabled` / `user-enabled`, issue 11 item 5): a user whose
 * pushes are suspended while the registrations are kept. Persisted so the suspension survives a
 * daemon restart; loaded in full at start (disabled accounts are few).
 *
 * Kept in the existing key/value `meta` table under the key `user-disabled:<local part>` (value:
 * when, unix ms), so no migration is needed. `like` with the fixed prefix is safe: the prefix
 * itself has no wildcard, whatever the user names contain.
 * @module
 */
import { eq, like } from "drizzle-orm";
import type { StoreOp } from "../core/types.ts";
import type { AnyDb, WriteQuery } from "./registrations.ts";
import { meta } from "./schema.ts";

const PREFIX = "user-disabled:";

type UserFlagOp = Extract<StoreOp, { op: "user-flag" }>;

/** The write for one user-flag op: set (insert or replace) or clear the user's disabled mark. */
export function userFlagWrites(db: AnyDb, op: UserFlagOp): WriteQuery[] {
  const key = PREFIX + op.user;
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
  const rows = await db.select({ key: meta.key }).from(meta).where(like(meta.key, `${PREFIX}%`));
  return rows
    .map((r) => r.key.slice(PREFIX.length))
    .filter((user) => user !== "")
    .sort();
}
