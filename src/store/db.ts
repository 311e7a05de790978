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
import { accessSync, closeSync, constants, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { Database } from "bun:sqlite";
import { createClient } from "@libsql/client/web";
import type { ResultSet } from "@libsql/client/web";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle as drizzleBun } from "drizzle-orm/bun-sqlite";
import { drizzle as drizzleLibsql } from "drizzle-orm/libsql/web";
import type { LibSQLDatabase } from "drizzle-orm/libsql/driver-core";
import { errorCode, isDiskFull, storeErrorText } from "./errors.ts";
import { historyWrites, prepareHistoryInsert, pruneHistoryWrite, selectHistory, selectRemovals } from "./history.ts";
import { assignHostless } from "./host-upgrade.ts";
import { applyMigrations } from "./migrate.ts";
import { capRemovalsWrite, pruneRemovalsByAgeWrite, pruneRemovalsPerUserWrite, REMOVALS_PER_USER, removalsWrite } from "./removals.ts";
import type { AnyDb, UserKeyOf, WriteQuery } from "./registrations.ts";
import { prepareSelectByUser, selectCount, selectUsers, writesFor } from "./registrations.ts";
import * as schema from "./schema.ts";
import { selectDisabledUsers } from "./user-flags.ts";
import { parseStoreUrl, redactStoreUrl } from "./store-url.ts";
import type { HistoryRow, IntegrityCheck, RemovalRow, Store, StoreKind } from "./types.ts";
import { joinUser, userKeyFor } from "./user-key.ts";

export type { Store } from "./types.ts";

export interface OpenStoreOptions {
  /** Bearer token for remote libSQL (ignored for SQLite files). */
  authToken?: string;
  /** Local files only: "normal" (default, see the module comment) or "full" (fsync every commit). */
  synchronous?: "normal" | "full";
  /** Local files only: how long a writer waits for a lock held by another process (ms). */
  busyTimeoutMs?: number;
  /**
   * The configured hosts (`config.hosts`, issue 13), default ["localhost"] like the config. Rows
   * of a single-host store (written before migration 0004) are assigned to the FIRST at open; a
   * user given without '@' means that host only when there is exactly one (user-key.ts).
   */
  hosts?: readonly string[];
  /** Gets the one info line when open assigned a single-host store's rows to the first host. */
  log?: { info(msg: string, fields?: Record<string, unknown>): void };
}

/** Runs writes in ONE transaction and returns the number of rows each changed. */
type Writer = (writes: WriteQuery[]) => Promise<number[]>;

interface Driver {
  kind: StoreKind;
  db: AnyDb;
  write: Writer;
  /** The writes that insert a batch of history rows. */
  historyRows: (rows: HistoryRow[], keyOf: UserKeyOf) => WriteQuery[];
  ping(): Promise<boolean>;
  /** Local files: `PRAGMA quick_check` (see `integrity` in types.ts); remote: always ok. */
  check(): IntegrityCheck;
  close(): void;
}

/**
 * Opens (creating if needed) and migrates the store at `url`, then checks a local file's pages
 * (`PRAGMA quick_check`, result in `store.integrity`). Throws an Error with a one-line message
 * "Cannot open store <url, credentials redacted>: <cause>" when the URL is invalid, the file
 * cannot be opened, or a migration fails ("…: migration failed: <cause>"); the cause is the
 * driver's own error (e.g. `file is not a database (SQLITE_NOTADB)`, `ECONNREFUSED: …`), never
 * drizzle's SQL text. A store written before issue 13 (one host, migration 0004 just applied)
 * gets its rows assigned to the first of `opts.hosts` (host-upgrade.ts).
 */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const parsed = parseStoreUrl(url);
  if (!parsed.ok) throw new Error(`Cannot open store: store URL ${parsed.error}`);
  const shown = redactStoreUrl(url);
  let driver: Driver;
  try {
    driver = parsed.target.kind === "sqlite" ? openSqlite(parsed.target.path, opts) : openLibsql(parsed.target.url, opts);
  } catch (err) {
    throw new Error(`Cannot open store ${shown}: ${storeErrorText(err)}`, { cause: err });
  }
  const hosts = opts.hosts ?? ["localhost"];
  if (hosts.length === 0) {
    driver.close();
    throw new Error(`Cannot open store ${shown}: no host configured`);
  }
  try {
    await applyMigrations(driver.db);
  } catch (err) {
    driver.close();
    // A store that cannot be reached is not a failed migration: say only why it cannot be reached.
    const step = /^E[A-Z]+$/.test(errorCode(err) ?? "") ? "" : "migration failed: ";
    throw new Error(`Cannot open store ${shown}: ${step}${storeErrorText(err)}`, { cause: err });
  }
  const integrity = driver.check();
  const first = hosts[0]!;
  try {
    const assigned = await assignHostless(driver.db, driver.write, first);
    if (assigned.registrations + assigned.history + assigned.removals + assigned.disabled > 0) {
      opts.log?.info(`assigned ${assigned.registrations} registrations of the previous single-host store to ${first}`, {
        host: first,
        history_rows: assigned.history,
        removal_rows: assigned.removals,
        disabled_marks: assigned.disabled,
      });
    }
  } catch (err) {
    // A store with damaged pages still opens, so that /readyz can say why (`integrity`).
    if (integrity.ok) {
      driver.close();
      throw new Error(`Cannot open store ${shown}: cannot assign the single-host store's rows to ${first}: ${storeErrorText(err)}`, {
        cause: err,
      });
    }
  }
  return storeOver(driver, integrity, userKeyFor(hosts));
}

/**
 * WAL bound (local files). SQLite checkpoints after a commit leaves 4000 pages (16 MiB) in the
 * WAL, and `journal_size_limit` truncates the file back to 16 MiB after a checkpoint, so the WAL
 * is at most 16 MiB plus the largest single write (a history batch). When a write fails with
 * SQLITE_FULL the store runs `wal_checkpoint(TRUNCATE)`, which gives the WAL's space back to the
 * disk, and tries the write once more: the WAL never keeps a full disk full by itself.
 */
const WAL_AUTOCHECKPOINT_PAGES = 4000;
const JOURNAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;

/**
 * A new store file is created 0600 before SQLite opens it (the store holds publish-options
 * secrets and device tokens; outside systemd's UMask=0077 the umask is usually 022, and SQLite
 * would create it 0644). SQLite gives the `-wal` and `-shm` files the database file's mode, so
 * they are 0600 too. A directory it creates is 0700. An existing file keeps its mode.
 */
function createPrivate(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, "wx", 0o600));
  } catch {
    // EEXIST: keep it as it is; anything else: SQLite's own open reports it
  }
}

function openSqlite(path: string, opts: OpenStoreOptions): Driver {
  if (path !== ":memory:") createPrivate(path);
  let sqlite: Database;
  try {
    sqlite = new Database(path, { create: true, strict: true });
  } catch (err) {
    // SQLite says only "unable to open database file"; the directory's permissions usually say why.
    if (path !== ":memory:") accessSync(dirname(path), constants.R_OK | constants.W_OK | constants.X_OK);
    throw err;
  }
  try {
    sqlite.exec("PRAGMA journal_mode = WAL");
    sqlite.exec(`PRAGMA synchronous = ${opts.synchronous === "full" ? "FULL" : "NORMAL"}`);
    sqlite.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
    // Checkpoint the WAL every 4000 pages (16 MiB) rather than 1000: push history inserts dirty
    // index pages all over the file, and copying each back every 1000 pages cost ~30 % of the
    // CPU per history row (docs/performance.md). A checkpoint pause stays a few ms.
    sqlite.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    sqlite.exec(`PRAGMA journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
  } catch (err) {
    sqlite.close();
    throw err;
  }
  const db = drizzleBun({ client: sqlite, schema }) as unknown as AnyDb;
  // Prepared after the migrations created the table (first use), then reused.
  let historyInsert: ((rows: HistoryRow[]) => WriteQuery[]) | null = null;
  return {
    kind: "sqlite",
    db,
    historyRows: (rows, keyOf) => (historyInsert ??= prepareHistoryInsert(sqlite, keyOf))(rows),
    async write(writes) {
      if (writes.length === 0) return [];
      const runAll = sqlite.transaction(function runWrites() {
        return writes.map((w) => (w.run() as { changes: number }).changes);
      });
      // IMMEDIATE takes the write lock up front, so a second process waits (busy_timeout) instead of failing mid-way.
      try {
        return runAll.immediate();
      } catch (err) {
        if (!isDiskFull(err) || path === ":memory:") throw err;
        // The transaction was rolled back. Give the WAL's space back to the disk, then try once more.
        try {
          sqlite.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        } catch {
          throw err;
        }
        return runAll.immediate();
      }
    },
    check() {
      return path === ":memory:" ? { ok: true } : quickCheck(sqlite, path);
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
    historyRows: (rows, keyOf) => historyWrites(libsql as unknown as AnyDb, rows, keyOf),
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
    check() {
      // The libSQL server owns its pages; checking them is its job (a full check would read the whole database over the network).
      return { ok: true };
    },
    close() {
      client.close();
    },
  };
}

/** Files up to this size get a whole-file check at open; larger ones only the registrations table's. */
export const FULL_CHECK_MAX_BYTES = 64 * 1024 * 1024;

/**
 * `PRAGMA quick_check`: reads pages and checks the b-tree structure (not that indexes match
 * their rows, which `integrity_check` would), in time proportional to what it reads: ~5 ms per
 * MiB from the page cache, ~50 ms per MiB from a slow disk (docs/operations.md). bun:sqlite is
 * synchronous, so the check delays start: a file above 64 MiB (push history) gets the check of
 * the `registrations` table and its index only, the data pushes depend on.
 */
function quickCheck(sqlite: Database, path: string): IntegrityCheck {
  let size = 0;
  try {
    size = statSync(path).size;
  } catch {
    // size unknown: check everything
  }
  const whole = size <= FULL_CHECK_MAX_BYTES;
  try {
    const rows = sqlite.query(whole ? "PRAGMA quick_check(5)" : "PRAGMA quick_check(registrations)").values() as unknown[][];
    const problems = rows.map((r) => String(r[0])).filter((t) => t !== "ok");
    if (problems.length === 0) return { ok: true };
    return { ok: false, reason: `quick_check failed: ${problems.join("; ").replace(/\s+/g, " ").slice(0, 300)}` };
  } catch (err) {
    return { ok: false, reason: `quick_check failed: ${storeErrorText(err)}` };
  }
}

function storeOver(driver: Driver, integrity: IntegrityCheck, keyOf: UserKeyOf): Store {
  const { db, write } = driver;
  let closed = false;
  const selectByUser = prepareSelectByUser(db, keyOf);
  async function addRemovals(rows: RemovalRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    // One cap per (host, user): "alice" and "alice@<the one host>" are the same user.
    const users = new Map<string, string>();
    for (const r of rows) {
      const { host, local } = keyOf(r.user);
      users.set(joinUser(local, host), r.user);
    }
    const caps = [...users.values()].map((u) => capRemovalsWrite(db, u, REMOVALS_PER_USER, keyOf));
    const changes = await write([...removalsWrite(db, rows, keyOf), ...caps]);
    return changes.slice(changes.length - caps.length).reduce((a, b) => a + b, 0);
  }
  return {
    kind: driver.kind,
    integrity,
    ping: () => (closed ? Promise.resolve(false) : driver.ping()),
    listByUser: selectByUser,
    async apply(ops) {
      await write(writesFor(db, ops, keyOf));
    },
    countRegistrations: () => selectCount(db),
    listDisabledUsers: () => selectDisabledUsers(db),
    listUsers: (opts) => selectUsers(db, opts, keyOf),
    async addHistory(rows) {
      await write(driver.historyRows(rows, keyOf));
    },
    listHistory: (q) => selectHistory(db, q, keyOf),
    async addRemoval(row) {
      await addRemovals([row]);
    },
    addRemovals,
    listRemovals: (q) => selectRemovals(db, q, keyOf),
    async pruneHistory(olderThan) {
      const [deleted] = await write([pruneHistoryWrite(db, olderThan)]);
      return deleted ?? 0;
    },
    async pruneRemovals(olderThan) {
      const changes = await write([pruneRemovalsByAgeWrite(db, olderThan), pruneRemovalsPerUserWrite(db, REMOVALS_PER_USER)]);
      return changes.reduce((a, b) => a + b, 0);
    },
    async close() {
      if (closed) return;
      closed = true;
      driver.close();
    },
  };
}
