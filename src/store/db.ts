/**
 * Opens the registration store: bun:sqlite for local files (and `:memory:`), the pure-JS
 * `@libsql/client/web` for remote libSQL. Migrations are applied at open.
 *
 * Durability (local files): WAL with `synchronous = NORMAL`. A commit is in the WAL, in the OS
 * page cache, when `apply()` resolves, so it survives the process being killed (kill -9, OOM,
 * crash): our requirement. A power loss or kernel crash can lose the last transactions committed
 * since the previous WAL sync (the database stays consistent, it is never corrupted).
 * `synchronous = FULL` would fsync every commit; see the throughput numbers in the store tests.
 * @module
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { Database } from "bun:sqlite";
import { createClient } from "@libsql/client/web";
import type { ResultSet } from "@libsql/client/web";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle as drizzleBun } from "drizzle-orm/bun-sqlite";
import { drizzle as drizzleLibsql } from "drizzle-orm/libsql/web";
import type { LibSQLDatabase } from "drizzle-orm/libsql/driver-core";
import { historyWrites, prepareHistoryInsert, pruneHistoryWrite, removalWrite, selectHistory, selectRemovals } from "./history.ts";
import { applyMigrations } from "./migrate.ts";
import type { AnyDb, WriteQuery } from "./registrations.ts";
import { prepareSelectByUser, selectCount, selectUsers, writesFor } from "./registrations.ts";
import * as schema from "./schema.ts";
import { parseStoreUrl } from "./store-url.ts";
import type { HistoryRow, Store, StoreKind } from "./types.ts";

export type { Store } from "./types.ts";

export interface OpenStoreOptions {
  /** Bearer token for remote libSQL (ignored for SQLite files). */
  authToken?: string;
  /** Local files only: "normal" (default, see the module comment) or "full" (fsync every commit). */
  synchronous?: "normal" | "full";
  /** Local files only: how long a writer waits for a lock held by another process (ms). */
  busyTimeoutMs?: number;
}

/** Runs writes in ONE transaction and returns the number of rows each changed. */
type Writer = (writes: WriteQuery[]) => Promise<number[]>;

interface Driver {
  kind: StoreKind;
  db: AnyDb;
  write: Writer;
  /** The writes that insert a batch of history rows. */
  historyRows: (rows: HistoryRow[]) => WriteQuery[];
  ping(): Promise<boolean>;
  close(): void;
}

/**
 * Opens (creating if needed) and migrates the store at `url`. Throws an Error whose message
 * starts with "Cannot open store:" when the URL is invalid, the file cannot be opened, or a
 * migration fails.
 */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const parsed = parseStoreUrl(url);
  if (!parsed.ok) throw new Error(`Cannot open store: store URL ${parsed.error}`);
  const driver =
    parsed.target.kind === "sqlite" ? openSqlite(parsed.target.path, opts) : openLibsql(parsed.target.url, opts);
  try {
    await applyMigrations(driver.db);
  } catch (err) {
    driver.close();
    throw new Error(`Cannot open store: migration failed: ${errorMessage(err)}`, { cause: err });
  }
  return storeOver(driver);
}

function openSqlite(path: string, opts: OpenStoreOptions): Driver {
  let sqlite: Database;
  try {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    sqlite = new Database(path, { create: true, strict: true });
    sqlite.exec("PRAGMA journal_mode = WAL");
    sqlite.exec(`PRAGMA synchronous = ${opts.synchronous === "full" ? "FULL" : "NORMAL"}`);
    sqlite.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
    // Checkpoint the WAL every 4000 pages (16 MiB) rather than 1000: push history inserts dirty
    // index pages all over the file, and copying each back every 1000 pages cost ~30 % of the
    // CPU per history row (docs/performance.md). A checkpoint pause stays a few ms.
    sqlite.exec("PRAGMA wal_autocheckpoint = 4000");
  } catch (err) {
    throw new Error(`Cannot open store: ${path}: ${errorMessage(err)}`, { cause: err });
  }
  const db = drizzleBun({ client: sqlite, schema }) as unknown as AnyDb;
  // Prepared after the migrations created the table (first use), then reused.
  let historyInsert: ((rows: HistoryRow[]) => WriteQuery[]) | null = null;
  return {
    kind: "sqlite",
    db,
    historyRows: (rows) => (historyInsert ??= prepareHistoryInsert(sqlite))(rows),
    async write(writes) {
      if (writes.length === 0) return [];
      const runAll = sqlite.transaction(function runWrites() {
        return writes.map((w) => (w.run() as { changes: number }).changes);
      });
      // IMMEDIATE takes the write lock up front, so a second process waits (busy_timeout) instead of failing mid-way.
      return runAll.immediate();
    },
    async ping() {
      try {
        return sqlite.query("SELECT 1 AS ok").get() !== null;
      } catch {
        return false;
      }
    },
    close() {
      sqlite.close();
    },
  };
}

function openLibsql(url: string, opts: OpenStoreOptions): Driver {
  const client = createClient(opts.authToken === undefined ? { url } : { url, authToken: opts.authToken });
  const libsql: LibSQLDatabase<typeof schema> = drizzleLibsql({ client, schema });
  return {
    kind: "libsql",
    db: libsql as unknown as AnyDb,
    // Remote libSQL wants few statements per round trip: multi-row INSERTs.
    historyRows: (rows) => historyWrites(libsql as unknown as AnyDb, rows),
    async write(writes) {
      if (writes.length === 0) return [];
      // One round trip; the client wraps the statements in BEGIN … COMMIT, rolled back on the first failure.
      const items = writes as unknown as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]];
      const results = (await libsql.batch(items)) as unknown as ResultSet[];
      return results.map((r) => r.rowsAffected);
    },
    async ping() {
      try {
        await client.execute("SELECT 1");
        return true;
      } catch {
        return false;
      }
    },
    close() {
      client.close();
    },
  };
}

function storeOver(driver: Driver): Store {
  const { db, write } = driver;
  let closed = false;
  const selectByUser = prepareSelectByUser(db);
  return {
    kind: driver.kind,
    ping: () => (closed ? Promise.resolve(false) : driver.ping()),
    listByUser: selectByUser,
    async apply(ops) {
      await write(writesFor(db, ops));
    },
    countRegistrations: () => selectCount(db),
    listUsers: (opts) => selectUsers(db, opts),
    async addHistory(rows) {
      await write(driver.historyRows(rows));
    },
    listHistory: (q) => selectHistory(db, q),
    async addRemoval(row) {
      await write([removalWrite(db, row)]);
    },
    listRemovals: (q) => selectRemovals(db, q),
    async pruneHistory(olderThan) {
      const [deleted] = await write([pruneHistoryWrite(db, olderThan)]);
      return deleted ?? 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      driver.close();
    },
  };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
