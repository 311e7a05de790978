/**
 * Bun macro: reads the drizzle-kit migration folder at build/transpile time, so the SQL and
 * journal are inlined into the bundle and the compiled binary needs no files at run time.
 * Import it with `with { type: "macro" }` (see migrate.ts). Called normally, it reads the
 * folder at run time, which the tests use to check that the inlined copy is current.
 * @module
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

/** Same shape as drizzle-orm's `MigrationMeta` (kept structural so the macro returns plain JSON). */
export interface EmbeddedMigration {
  sql: string[];
  bps: boolean;
  folderMillis: number;
  hash: string;
}

interface JournalEntry {
  tag: string;
  when: number;
  breakpoints: boolean;
}

/** Reads `<dir>/meta/_journal.json` and each `<tag>.sql` exactly as drizzle's `readMigrationFiles` does. */
export function embeddedMigrations(dir: string = `${import.meta.dir}/migrations`): EmbeddedMigration[] {
  const journal = JSON.parse(readFileSync(`${dir}/meta/_journal.json`, "utf8")) as { entries: JournalEntry[] };
  return journal.entries.map(function readEntry(entry) {
    const query = readFileSync(`${dir}/${entry.tag}.sql`, "utf8");
    return {
      sql: query.split("--> statement-breakpoint"),
      bps: entry.breakpoints,
      folderMillis: entry.when,
      hash: createHash("sha256").update(query).digest("hex"),
    };
  });
}
