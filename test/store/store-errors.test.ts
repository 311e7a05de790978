/**
 * Store errors and credentials as operators see them: one line with the cause, URLs redacted,
 * and a store with corrupted pages reported by the check at open.
 */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/store/db.ts";
import { isTransientStoreError, storeErrorText } from "../../src/store/errors.ts";
import { redactStoreUrl } from "../../src/store/store-url.ts";
import { historyRow } from "./store-contract.ts";

const root = mkdtempSync(join(tmpdir(), "cnd-store-errors-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("redactStoreUrl()", () => {
  test("hides the password of user:password@ and keeps the user", () => {
    expect(redactStoreUrl("libsql://alice:s3cr%40t@db.example.net:8080/x")).toBe("libsql://alice:***@db.example.net:8080/x");
    expect(redactStoreUrl("https://alice@db.example.net")).toBe("https://alice@db.example.net");
  });

  test("hides secret-looking query parameters and keeps the others", () => {
    expect(redactStoreUrl("libsql://db.example.net?authToken=eyJhbGc.x.y&tls=1")).toBe("libsql://db.example.net?authToken=***&tls=1");
    expect(redactStoreUrl("https://h/?token=a&password=b&secret=c&key=d&api_key=e&mode=f")).toBe(
      "https://h/?token=***&password=***&secret=***&key=***&api_key=***&mode=f",
    );
  });

  test("leaves URLs without credentials unchanged", () => {
    for (const url of ["file:./data/cloud-notifyd.db", "file:///var/lib/x.db", ":memory:", "http://127.0.0.1:8080"]) {
      expect(redactStoreUrl(url)).toBe(url);
    }
  });
});

describe("storeErrorText()", () => {
  test("names the driver's cause with its code, never drizzle's SQL text, in one line", () => {
    const cause = Object.assign(new TypeError("ECONNREFUSED: Unable to connect. Is the computer able to access the url?"), {
      code: "ECONNREFUSED",
    });
    const wrapped = new Error("Failed query: \n\t\tCREATE TABLE IF NOT EXISTS x (\n\t\tid SERIAL)\nparams: ", { cause });
    expect(storeErrorText(wrapped)).toBe("ECONNREFUSED: Unable to connect. Is the computer able to access the url?");
    expect(storeErrorText(Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" }))).toBe(
      "database or disk is full (SQLITE_FULL)",
    );
    expect(storeErrorText(new Error("a\nb\r\nc"))).toBe("a b c");
    expect(storeErrorText(new Error("x".repeat(1000))).length).toBeLessThanOrEqual(300);
  });

  test("a full disk, a lock and a network error are transient; a constraint is not", () => {
    expect(isTransientStoreError(Object.assign(new Error("full"), { code: "SQLITE_FULL" }))).toBe(true);
    expect(isTransientStoreError(Object.assign(new Error("locked"), { code: "SQLITE_BUSY" }))).toBe(true);
    expect(isTransientStoreError(Object.assign(new Error("io"), { code: "SQLITE_IOERR_WRITE" }))).toBe(true);
    expect(isTransientStoreError(new Error("x", { cause: Object.assign(new Error("refused"), { code: "ECONNREFUSED" }) }))).toBe(true);
    expect(isTransientStoreError(Object.assign(new Error("NOT NULL"), { code: "SQLITE_CONSTRAINT_NOTNULL" }))).toBe(false);
  });
});

describe("openStore() errors and the integrity check", () => {
  test("a file that is not a database fails with one line naming the file and the cause", async () => {
    const path = join(root, "garbage.db");
    await Bun.write(path, "x".repeat(8192));
    const err = await openStore(`file:${path}`).catch((e: Error) => e);
    expect((err as Error).message).toBe(`Cannot open store file:${path}: file is not a database (SQLITE_NOTADB)`);
  });

  test("an unreachable remote store names the connection error and the redacted URL, not SQL", async () => {
    const err = (await openStore("libsql://bob:pw@127.0.0.1:1?authToken=abc").catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/^Cannot open store libsql:\/\/bob:\*\*\*@127\.0\.0\.1:1\?authToken=\*\*\*: .*ECONNREFUSED/);
    expect(err.message).not.toMatch(/CREATE|pw|abc|\n/);
  });

  test("a healthy file passes the check at open; a file with corrupted pages opens and reports it", async () => {
    const path = join(root, "corrupt.db");
    const store = await openStore(`file:${path}`);
    expect(store.integrity).toEqual({ ok: true });
    await store.addHistory(Array.from({ length: 5000 }, (_, i) => historyRow({ at: i, user: `u${i % 50}`, publishId: `p${i}` })));
    await store.close();
    const raw = new Database(path);
    raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    // The last leaf page of the history table itself (not of an index): which page that is depends on the schema.
    const page = raw.query("SELECT max(pageno) AS n FROM dbstat WHERE name = 'push_history' AND pagetype = 'leaf'").get() as { n: number };
    raw.close();
    const pages = statSync(path).size / 4096;
    expect(pages).toBeGreaterThan(20);
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, (page.n - 1) * 4096); // a history page
    closeSync(fd);
    const again = await openStore(`file:${path}`);
    expect(again.integrity.ok).toBe(false);
    expect(again.integrity.ok ? "" : again.integrity.reason).toMatch(/^quick_check failed: .*(malformed|corrupt)/i);
    expect(await again.ping()).toBe(true);
    await again.close();
  });
});
