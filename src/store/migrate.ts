/**
 * Applies the embedded migrations (inlined at build time by a Bun macro) to an open drizzle db.
 * @module
 */
import type { MigrationMeta } from "drizzle-orm/migrator";
import { embeddedMigrations } from "./embedded-migrations.ts" with { type: "macro" };

/** All migrations of this build, oldest first. */
export const MIGRATIONS: readonly MigrationMeta[] = embeddedMigrations();

/** drizzle-orm 0.45.4 internals (pinned): both the sync and the async dialect have `migrate`. */
interface MigratorInternals {
  dialect: { migrate(migrations: MigrationMeta[], session: unknown, config: object): void | Promise<void> };
  session: unknown;
}

/**
 * Applies every migration newer than the newest one recorded in `__drizzle_migrations`,
 * in one transaction. Works for drizzle-orm/bun-sqlite and drizzle-orm/libsql/web databases.
 * Drizzle decides by the journal's `when`, not by hash: never regenerate a committed migration.
 */
export async function applyMigrations(db: object, migrations: readonly MigrationMeta[] = MIGRATIONS): Promise<void> {
  const internals = db as MigratorInternals;
  await internals.dialect.migrate([...migrations], internals.session, {});
}
