import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/store/db.ts";
import { registration, storeContract } from "./store-contract.ts";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cnd-store-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

storeContract("sqlite :memory:", () => openStore(":memory:"));
storeContract("sqlite file", () => openStore(`file:${tempDir()}/store.db`));

describe("openStore() on SQLite files", () => {
  test("openStore() creates missing parent directories and reports kind sqlite", async () => {
    const path = join(tempDir(), "a", "b", "c.db");
    const store = await openStore(`file:${path}`);
    expect(store.kind).toBe("sqlite");
    expect(existsSync(path)).toBe(true);
    await store.close();
  });

  test("openStore() accepts a plain path and a file:/// URL", async () => {
    const dir = tempDir();
    const plain = await openStore(join(dir, "plain.db"));
    await plain.close();
    const url = await openStore(`file://${join(dir, "url.db")}`);
    await url.close();
    expect(existsSync(join(dir, "plain.db"))).toBe(true);
    expect(existsSync(join(dir, "url.db"))).toBe(true);
  });

  test("openStore() puts the database file in WAL mode", async () => {
    const path = join(tempDir(), "wal.db");
    const store = await openStore(`file:${path}`);
    await store.close();
    const raw = new Database(path, { readonly: true });
    expect(raw.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    raw.close();
  });

  test("D13 registrations and error counts survive closing and reopening the store", async () => {
    const url = `file:${join(tempDir(), "persist.db")}`;
    const first = await openStore(url);
    await first.apply([{ op: "upsert", registration: registration({ user: "alice@a.example", identifier: "a" }) }]);
    await first.apply([
      { op: "error-count", user: "alice@a.example", identifier: "a", errorCount: 4, lastError: "cancel/gone", lastErrorAt: 9 },
    ]);
    await first.close();
    const second = await openStore(url);
    expect(await second.listByUser("alice@a.example")).toEqual([
      registration({ user: "alice@a.example", identifier: "a", errorCount: 4, lastError: "cancel/gone", lastErrorAt: 9 }),
    ]);
    await second.close();
  });

  test("two stores on the same file see each other's committed writes", async () => {
    const url = `file:${join(tempDir(), "shared.db")}`;
    const a = await openStore(url);
    const b = await openStore(url);
    await a.apply([{ op: "upsert", registration: registration({ user: "alice@a.example", identifier: "a" }) }]);
    await b.apply([{ op: "upsert", registration: registration({ user: "bob@a.example", identifier: "b" }) }]);
    expect(await a.listUsers({ limit: 10 })).toEqual(["alice@a.example", "bob@a.example"]);
    expect(await b.countRegistrations()).toBe(2);
    await a.close();
    await b.close();
  });

  test("openStore() rejects an unsupported URL scheme with a Cannot message", async () => {
    await expect(openStore("postgres://db.internal/x")).rejects.toThrow(
      'Cannot open store: store URL has an unsupported scheme "postgres:"',
    );
  });

  test("openStore() rejects a path it cannot create", async () => {
    const dir = tempDir();
    await Bun.write(join(dir, "file"), "not a directory");
    await expect(openStore(`file:${join(dir, "file", "x.db")}`)).rejects.toThrow(/^Cannot open store file:[^ ]+: EEXIST: /);
  });
});
