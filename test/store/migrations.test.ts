import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { openStore } from "../../src/store/db.ts";
import { embeddedMigrations } from "../../src/store/embedded-migrations.ts";
import { applyMigrations, MIGRATIONS } from "../../src/store/migrate.ts";
import { registration } from "./store-contract.ts";

const MIGRATIONS_DIR = join(import.meta.dir, "../../src/store/migrations");
const root = mkdtempSync(join(tmpdir(), "cnd-migrate-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function tableNames(path: string): string[] {
  const raw = new Database(path, { readonly: true });
  const rows = raw.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>;
  raw.close();
  return rows.map((r) => r.name);
}

function appliedCount(path: string): number {
  const raw = new Database(path, { readonly: true });
  const row = raw.query("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number };
  raw.close();
  return row.n;
}

describe("embedded migrations", () => {
  test("the compiled-in migrations equal the migration folder read at run time", () => {
    expect([...MIGRATIONS]).toEqual(embeddedMigrations(MIGRATIONS_DIR));
  });

  test("the compiled-in migrations equal what drizzle's own folder reader produces", () => {
    expect([...MIGRATIONS]).toEqual(readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR }));
  });

  test("every .sql file in the folder is in the journal, in order, with increasing timestamps", () => {
    const files = readdirSync(MIGRATIONS_DIR)
      .filter((f) => f.endsWith(".sql"))
      .sort();
    expect(files.length).toBe(MIGRATIONS.length);
    expect(MIGRATIONS.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < MIGRATIONS.length; i++) {
      expect(MIGRATIONS[i]!.folderMillis).toBeGreaterThan(MIGRATIONS[i - 1]!.folderMillis);
    }
  });
});

describe("migrating databases", () => {
  test("a fresh database gets every table through the real migrations, and reopening applies nothing", async () => {
    const path = join(root, "fresh.db");
    await (await openStore(`file:${path}`)).close();
    expect(tableNames(path)).toEqual(
      ["__drizzle_migrations", "meta", "push_history", "registrations", "removals", "sqlite_sequence"].sort(),
    );
    expect(appliedCount(path)).toBe(MIGRATIONS.length);
    await (await openStore(`file:${path}`)).close();
    expect(appliedCount(path)).toBe(MIGRATIONS.length);
  });

  test("a database made by migration 0000 only is upgraded and keeps its data", async () => {
    const path = join(root, "upgrade.db");
    const old = new Database(path, { create: true, strict: true });
    await applyMigrations(drizzle({ client: old }), MIGRATIONS.slice(0, 1));
    expect(tableNames(path)).not.toContain("push_history");
    old
      .query(
        `INSERT INTO registrations (user, identifier, jid, node, include_payload, publish_options, client_id, resource,
           language, created_at, updated_at, error_count, last_error, last_error_at)
         VALUES ('alice', 'push.example.net<a', 'push.example.net', 'a', 1, '<x/>', 'c1', 'phone', 'en', 10, 20, 2, 'cancel/gone', 30)`,
      )
      .run();
    old.query("INSERT INTO meta (key, value) VALUES ('instance', 'one')").run();
    old.close();

    const store = await openStore(`file:${path}`, { hosts: ["a.example"] });
    expect(await store.listByUser("alice@a.example")).toEqual([
      registration({
        user: "alice@a.example",
        identifier: "push.example.net<a",
        node: "a",
        includePayload: true,
        publishOptions: "<x/>",
        clientId: "c1",
        resource: "phone",
        language: "en",
        createdAt: 10,
        updatedAt: 20,
        errorCount: 2,
        lastError: "cancel/gone",
        lastErrorAt: 30,
      }),
    ]);
    await store.addHistory([
      { at: 1, user: "alice@a.example", identifier: "push.example.net<a", publishId: null, trigger: null, important: false, outcome: "ok" },
    ]);
    expect(await store.listHistory({ user: "alice@a.example", limit: 5 })).toHaveLength(1);
    await store.close();
    expect(appliedCount(path)).toBe(MIGRATIONS.length);
    const raw = new Database(path, { readonly: true });
    expect(raw.query("SELECT value FROM meta WHERE key = 'instance'").get()).toEqual({ value: "one" });
    raw.close();
  });

  test("a failing migration rolls back, leaves the data alone and fails openStore() with a Cannot message", async () => {
    const path = join(root, "conflict.db");
    const old = new Database(path, { create: true, strict: true });
    await applyMigrations(drizzle({ client: old }), MIGRATIONS.slice(0, 1));
    // A table 0001 wants to create already exists: its CREATE TABLE push_history fails.
    old.exec("CREATE TABLE push_history (x integer)");
    old.query("INSERT INTO meta (key, value) VALUES ('k', 'v')").run();
    old.close();
    await expect(openStore(`file:${path}`)).rejects.toThrow(/^Cannot open store [^ ]+: migration failed: /);
    expect(tableNames(path)).not.toContain("removals");
    expect(appliedCount(path)).toBe(1);
  });
});
