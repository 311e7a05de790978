/** store/user-flags.ts: the disabled-account mark survives a reopen; odd user names are kept apart. */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/store/db.ts";

test("user-flag ops set and clear the disabled mark; it survives closing and reopening the store", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cnd-flags-"));
  try {
    const path = join(dir, "store.db");
    const store = await openStore(path);
    expect(await store.listDisabledUsers()).toEqual([]);
    await store.apply([
      { op: "user-flag", user: "alice@a.example", disabled: true, at: 1 },
      { op: "user-flag", user: "b%_ob@a.example", disabled: true, at: 2 },
      { op: "user-flag", user: "alice@a.example", disabled: true, at: 3 }, // again: still one mark
    ]);
    expect(await store.listDisabledUsers()).toEqual(["alice@a.example", "b%_ob@a.example"]);
    await store.close();
    const again = await openStore(path);
    expect(await again.listDisabledUsers()).toEqual(["alice@a.example", "b%_ob@a.example"]);
    await again.apply([
      { op: "delete-user", user: "alice@a.example" },
      { op: "user-flag", user: "alice@a.example", disabled: false, at: 4 },
    ]);
    expect(await again.listDisabledUsers()).toEqual(["b%_ob@a.example"]);
    expect(await again.countRegistrations()).toBe(0); // the mark is not a registration
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
