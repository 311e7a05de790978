/**
 * Issue 13: a store written by the previous release (migrations 0000–0003, one host, no `host`
 * column) opens with this release and everything in it belongs to the first configured host.
 */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { openStore } from "../../src/store/db.ts";
import { applyMigrations, MIGRATIONS } from "../../src/store/migrate.ts";
import type { Store } from "../../src/store/types.ts";
import { startFakeHrana } from "../helpers/fake-hrana.ts";
import { registration } from "./store-contract.ts";

const root = mkdtempSync(join(tmpdir(), "cnd-host-upgrade-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Migrations of the release before issue 13: 0000_init … 0003_registration_extensions. */
const PREVIOUS_RELEASE = MIGRATIONS.slice(0, 4);

/** A file as the previous release left it: two users' registrations, history, removals, a disabled mark. */
async function previousReleaseStore(path: string): Promise<void> {
  const old = new Database(path, { create: true, strict: true });
  await applyMigrations(drizzle({ client: old }), PREVIOUS_RELEASE);
  expect(old.query("SELECT name FROM pragma_table_info('registrations') WHERE name = 'host'").all()).toEqual([]);
  old.exec(`
    INSERT INTO registrations (user, identifier, jid, node, include_payload, publish_options, client_id, resource,
      language, created_at, updated_at, error_count, last_error, last_error_at, encryption_alg, encryption_key,
      encryption_max_size, filters)
    VALUES ('alice', 'push.example.net<a', 'push.example.net', 'a', 1, '<x/>', 'c1', 'phone', 'en', 10, 20, 2,
      'cancel/gone', 30, 'aes-128-gcm', 'a2V5', 2048, NULL),
      ('alice', 'push.example.net<b', 'push.example.net', 'b', 0, NULL, NULL, NULL, NULL, 11, 21, 0, NULL, NULL, NULL, NULL, NULL, NULL),
      ('bob', 'push.example.net<c', 'push.example.net', 'c', 0, NULL, NULL, NULL, NULL, 12, 22, 0, NULL, NULL, NULL, NULL, NULL, NULL);
    INSERT INTO push_history (at, user, identifier, publish_id, "trigger", important, outcome, latency_ms, error)
    VALUES (100, 'alice', 'push.example.net<a', 'p1', 'offline', 1, 'ok', 12, NULL),
      (101, 'bob', 'push.example.net<c', 'p2', 'offline', 0, 'error', NULL, 'cancel/gone');
    INSERT INTO removals (at, user, identifier, jid, node, reason, detail)
    VALUES (200, 'alice', 'push.example.net<z', 'push.example.net', 'z', 'evicted', NULL);
    INSERT INTO meta (key, value) VALUES ('user-disabled:bob', '300'), ('instance', 'one');
  `);
  old.close();
}

function captureLog(): { lines: string[]; info(msg: string, fields?: Record<string, unknown>): void } {
  const lines: string[] = [];
  return { lines, info: (msg, fields) => lines.push(`${msg} ${JSON.stringify(fields ?? {})}`) };
}

/** What the upgrade must give, on either driver. */
async function expectUpgraded(store: Store): Promise<void> {
  expect(await store.listUsers({ limit: 10 })).toEqual(["alice@a.example", "bob@a.example"]);
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
      encryption: { alg: "aes-128-gcm", key: "a2V5", maxSize: 2048 },
    }),
    registration({ user: "alice@a.example", identifier: "push.example.net<b", node: "b", createdAt: 11, updatedAt: 21 }),
  ]);
  expect(await store.listByUser("alice@b.example")).toEqual([]);
  expect(await store.countRegistrations()).toBe(3);
  expect((await store.listHistory({ user: "bob@a.example", limit: 10 })).map(({ id: _id, ...r }) => r)).toEqual([
    {
      at: 101,
      user: "bob@a.example",
      identifier: "push.example.net<c",
      publishId: "p2",
      trigger: "offline",
      important: false,
      outcome: "error",
      latencyMs: null,
      error: "cancel/gone",
    },
  ]);
  expect((await store.listHistory({ user: "alice@a.example", limit: 10 })).map((r) => r.publishId)).toEqual(["p1"]);
  expect((await store.listRemovals({ limit: 10 })).map((r) => [r.user, r.identifier, r.reason])).toEqual([
    ["alice@a.example", "push.example.net<z", "evicted"],
  ]);
  expect(await store.listDisabledUsers()).toEqual(["bob@a.example"]);
  // The upgraded store takes the second host's users beside the first's.
  await store.apply([{ op: "upsert", registration: registration({ user: "alice@b.example", identifier: "push.example.net<a" }) }]);
  expect((await store.listByUser("alice@b.example")).map((r) => r.user)).toEqual(["alice@b.example"]);
  expect(await store.listByUser("alice@a.example")).toHaveLength(2);
}

function rawRows(path: string, q: string): unknown[] {
  const raw = new Database(path, { readonly: true });
  try {
    return raw.query(q).all();
  } finally {
    raw.close();
  }
}

describe("issue 13 store upgrade from the previous release (migrations 0000–0003)", () => {
  test("a single-host store opens with every row and the disabled mark assigned to the first host, one info line", async () => {
    const path = join(root, "previous.db");
    await previousReleaseStore(path);
    const log = captureLog();
    const store = await openStore(`file:${path}`, { hosts: ["a.example", "b.example"], log });
    expect(log.lines).toEqual([
      'assigned 3 registrations of the previous single-host store to a.example {"host":"a.example","history_rows":2,"removal_rows":1,"disabled_marks":1}',
    ]);
    await expectUpgraded(store);
    await store.close();

    // Nothing host-less is left (drizzle-kit's generated copy would have written host = 'host').
    for (const table of ["registrations", "push_history", "removals"]) {
      expect(rawRows(path, `SELECT DISTINCT host FROM ${table} ORDER BY host`)).toEqual(
        table === "registrations" ? [{ host: "a.example" }, { host: "b.example" }] : [{ host: "a.example" }],
      );
    }
    expect(rawRows(path, "SELECT key, value FROM meta ORDER BY key")).toEqual([
      { key: "instance", value: "one" },
      { key: "user-disabled:bob@a.example", value: "300" },
    ]);
    // The primary key is (host, user, identifier).
    expect(rawRows(path, "SELECT name FROM pragma_table_info('registrations') WHERE pk > 0 ORDER BY pk")).toEqual([
      { name: "host" },
      { name: "user" },
      { name: "identifier" },
    ]);

    // A second open, even with another first host, assigns nothing and logs nothing.
    const again = captureLog();
    const reopened = await openStore(`file:${path}`, { hosts: ["b.example", "a.example"], log: again });
    expect(again.lines).toEqual([]);
    expect(await reopened.listUsers({ limit: 10 })).toEqual(["alice@a.example", "bob@a.example", "alice@b.example"]);
    await reopened.close();
  });

  test("an old disabled mark whose new form already exists is merged into it", async () => {
    const path = join(root, "both-marks.db");
    await previousReleaseStore(path);
    const raw = new Database(path);
    raw.query("INSERT INTO meta (key, value) VALUES ('user-disabled:bob@a.example', '400')").run();
    raw.close();
    const store = await openStore(`file:${path}`, { hosts: ["a.example"] });
    expect(await store.listDisabledUsers()).toEqual(["bob@a.example"]);
    await store.close();
    expect(rawRows(path, "SELECT key, value FROM meta WHERE key LIKE 'user-disabled:%'")).toEqual([
      { key: "user-disabled:bob@a.example", value: "400" },
    ]);
  });

  test("a remote libSQL store (fake Hrana) of the previous release is upgraded the same way", async () => {
    const path = join(root, "previous-remote.db");
    await previousReleaseStore(path);
    const server = startFakeHrana({ path });
    try {
      const log = captureLog();
      const store = await openStore(server.url, { hosts: ["a.example", "b.example"], log });
      expect(store.kind).toBe("libsql");
      expect(log.lines).toHaveLength(1);
      expect(log.lines[0]).toStartWith("assigned 3 registrations of the previous single-host store to a.example ");
      await expectUpgraded(store);
      await store.close();
    } finally {
      await server.stop();
    }
  });

  test("the hot paths use the (host, user) indexes", () => {
    const path = join(root, "previous.db");
    const plan = (q: string) => (rawRows(path, `EXPLAIN QUERY PLAN ${q}`) as Array<{ detail: string }>).map((r) => r.detail).join("; ");
    expect(plan("SELECT * FROM registrations WHERE host = 'a' AND user = 'b'")).toMatch(
      /USING INDEX sqlite_autoindex_registrations_1 \(host=\? AND user=\?\)/,
    );
    expect(plan("SELECT * FROM push_history WHERE host = 'a' AND user = 'b' ORDER BY at DESC")).toContain(
      "push_history_host_user_at_idx (host=? AND user=?)",
    );
    expect(plan("SELECT * FROM removals WHERE host = 'a' AND user = 'b' ORDER BY at DESC")).toContain(
      "removals_host_user_at_idx (host=? AND user=?)",
    );
    expect(plan("UPDATE registrations SET host = 'a' WHERE host = ''")).toContain("sqlite_autoindex_registrations_1 (host=?)");
  });
});

describe("issue 13 user strings in the store", () => {
  test("with several hosts a user without @host is refused; with one host it means that host", async () => {
    const several = await openStore(":memory:", { hosts: ["a.example", "b.example"] });
    await expect(several.listByUser("alice")).rejects.toThrow(
      'Cannot use user "alice" in the store: no @host and several hosts are configured',
    );
    await expect(several.apply([{ op: "upsert", registration: registration({ user: "alice", identifier: "i" }) }])).rejects.toThrow(
      /^Cannot use user/,
    );
    await several.close();
    const one = await openStore(":memory:", { hosts: ["a.example"] });
    await one.apply([{ op: "upsert", registration: registration({ user: "alice", identifier: "i" }) }]);
    expect((await one.listByUser("alice@a.example")).map((r) => r.user)).toEqual(["alice@a.example"]);
    expect(await one.listByUser("alice")).toHaveLength(1);
    await one.close();
  });

  test("openStore() with no host fails with a Cannot message", async () => {
    await expect(openStore(":memory:", { hosts: [] })).rejects.toThrow("Cannot open store :memory:: no host configured");
  });
});
