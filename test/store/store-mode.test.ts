/**
 * Issue 15 item 6: the store holds publish-options secrets and device tokens, so a new SQLite
 * store, its WAL and its shared-memory file are 0600 (its new directory 0700) whatever the
 * umask; an existing file keeps the mode its operator gave it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { openStore } from "../../src/store/db.ts";

const root = mkdtempSync(join(tmpdir(), "cnd-mode-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe("store file modes", () => {
  test("a new store, its -wal and -shm are 0600 and its new directory 0700 under umask 022", async () => {
    const old = process.umask(0o022);
    try {
      const dir = join(root, "new", "data");
      const path = join(dir, "cloud-notifyd.db");
      const store = await openStore(`file:${path}`); // the migrations write: the WAL exists
      expect(existsSync(`${path}-wal`)).toBe(true);
      expect(existsSync(`${path}-shm`)).toBe(true);
      expect([modeOf(path), modeOf(`${path}-wal`), modeOf(`${path}-shm`)]).toEqual(["600", "600", "600"]);
      expect(modeOf(dir)).toBe("700");
      await store.close();
    } finally {
      process.umask(old);
    }
  });

  test("an existing store file keeps its mode", async () => {
    const path = join(root, "existing.db");
    writeFileSync(path, "");
    chmodSync(path, 0o640);
    const store = await openStore(`file:${path}`);
    expect(modeOf(path)).toBe("640");
    await store.close();
  });
});
