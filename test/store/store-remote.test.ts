import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/store/db.ts";
import { MIGRATIONS } from "../../src/store/migrate.ts";
import type { Store } from "../../src/store/types.ts";
import { startFakeHrana } from "../helpers/fake-hrana.ts";
import { registration, storeContract } from "./store-contract.ts";

const root = mkdtempSync(join(tmpdir(), "cnd-remote-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A fresh fake libSQL server over a fresh file; closing the store also stops the server. */
async function openRemote(): Promise<Store> {
  n += 1;
  const server = startFakeHrana({ path: join(root, `remote-${n}.db`), authToken: "sekrit" });
  const store = await openStore(server.url, { authToken: "sekrit" });
  return {
    ...store,
    async close() {
      await store.close();
      await server.stop();
    },
  };
}

storeContract("remote libSQL (fake Hrana)", openRemote);

describe("openStore() on remote libSQL", () => {
  test("openStore() migrates a remote database once and a second open is a no-op", async () => {
    const path = join(root, "migrate-once.db");
    const server = startFakeHrana({ path });
    const first = await openStore(server.url);
    expect(first.kind).toBe("libsql");
    await first.apply([{ op: "upsert", registration: registration({ user: "alice@a.example", identifier: "a" }) }]);
    await first.close();
    const second = await openStore(server.url);
    expect(await second.listByUser("alice@a.example")).toEqual([registration({ user: "alice@a.example", identifier: "a" })]);
    await second.close();
    await server.stop();
    const { Database } = await import("bun:sqlite");
    const raw = new Database(path, { readonly: true });
    const applied = raw.query("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number };
    const tables = raw.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
    raw.close();
    expect(applied.n).toBe(MIGRATIONS.length);
    expect(tables).toContainEqual({ name: "push_history" });
    expect(tables).toContainEqual({ name: "registrations" });
  });

  test("openStore() fails with a Cannot message when the auth token is wrong", async () => {
    const server = startFakeHrana({ path: join(root, "auth.db"), authToken: "right" });
    await expect(openStore(server.url, { authToken: "wrong" })).rejects.toThrow(/^Cannot open store [^ ]+: migration failed: /);
    await server.stop();
  });

  test("ping() is false when the remote server is gone", async () => {
    const server = startFakeHrana({ path: join(root, "gone.db") });
    const store = await openStore(server.url);
    expect(await store.ping()).toBe(true);
    await server.stop();
    expect(await store.ping()).toBe(false);
    await store.close();
  });
});
