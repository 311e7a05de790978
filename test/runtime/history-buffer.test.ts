/**
 * The history buffer against real SQLite stores: removal bursts stay bounded per user, rows the
 * store refuses for a passing reason are kept (bounded) and written later, the rest are counted.
 */
import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { createNullLogger, type Logger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics.ts";
import { createHistoryBuffer, KEEP_HISTORY_ROWS, type HistoryBuffer } from "../../src/runtime/history-buffer.ts";
import { startHistoryRetention } from "../../src/runtime/history-retention.ts";
import { openStore } from "../../src/store/db.ts";
import type { Store } from "../../src/store/types.ts";

const cleanup: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function fileStore(): Promise<{ store: Store; path: string }> {
  const dir = mkdtempSync(join(tmpdir(), "cnd-hbuf-"));
  const path = join(dir, "t.db");
  const store = await openStore(`file:${path}`);
  cleanup.push(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, path };
}

function buffer(store: Store, log: Logger = createNullLogger()) {
  const metrics = createMetrics();
  const b = createHistoryBuffer({ store, log, metrics });
  cleanup.push(() => b.stop());
  return { b, metrics };
}

function recordingLog(): { log: Logger; lines: Array<[string, string]> } {
  const lines: Array<[string, string]> = [];
  const log: Logger = {
    debug: (m) => void lines.push(["debug", m]),
    info: (m) => void lines.push(["info", m]),
    warn: (m) => void lines.push(["warn", m]),
    error: (m) => void lines.push(["error", m]),
  };
  return { log, lines };
}

function push(b: HistoryBuffer, i: number, user = "alice"): void {
  b.add({ type: "history", at: 1_000 + i, user, identifier: "app<n", publishId: null, trigger: "offline", important: true, outcome: "ok" });
}

function evict(b: HistoryBuffer, i: number, user = "alice"): void {
  b.addRemoval({ type: "removed", at: 1_000 + i, user, identifier: `app<n${i}`, reason: "evicted", detail: null });
}

function diskFull(): Error {
  return Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
}

function removalRows(path: string, user: string): number {
  const raw = new Database(path, { readonly: true });
  const { n } = raw.query("SELECT count(*) AS n FROM removals WHERE user = ?").get(user) as { n: number };
  raw.close();
  return n;
}

test("10,000 evictions of one user through the buffer leave at most 100 removal rows, the newest", async () => {
  const { store, path } = await fileStore();
  const { b, metrics } = buffer(store);
  for (let i = 0; i < 10_000; i++) evict(b, i);
  evict(b, 0, "bob");
  expect(b.pending().removals).toBeLessThanOrEqual(11_000);
  await b.flush();
  expect(removalRows(path, "alice")).toBe(100);
  expect(removalRows(path, "bob")).toBe(1);
  const newest = await store.listRemovals({ user: "alice", limit: 1 });
  expect(newest[0]!.identifier).toBe("app<n9999");
  expect(metrics.get("cloud_notifyd_removals_pruned_total")).toBe(9_900);
});

test("10,000 evictions of one user written one by one leave at most 100 rows, and the 10,000th costs what the 1,000th did", async () => {
  const { store, path } = await fileStore();
  const spans: number[] = [];
  let started = performance.now();
  for (let i = 0; i < 10_000; i++) {
    await store.addRemoval({ at: i, user: "alice", identifier: `app<n${i}`, jid: "app", node: `n${i}`, reason: "evicted", detail: null });
    if (i % 1000 === 999) {
      spans.push(performance.now() - started);
      started = performance.now();
    }
  }
  expect(removalRows(path, "alice")).toBe(100);
  // The cap's delete reads at most 101 index entries: the work per write does not grow with
  // the evictions so far (the median of the later thousands against the second thousand).
  const later = spans.slice(2).sort((a, b) => a - b)[3]!;
  expect(later).toBeLessThan(spans[1]! * 3 + 50);
}, 60_000);

test("history_retention_days also prunes removal records by age and per-user cap at start", async () => {
  const { store, path } = await fileStore();
  const DAY = 86_400_000;
  const NOW = Date.UTC(2026, 10, 25);
  // A store from before the cap: 150 rows of one user, written directly.
  const raw = new Database(path);
  const insert = raw.prepare("INSERT INTO removals (at, host, user, identifier, reason) VALUES (?, 'localhost', ?, ?, 'evicted')");
  for (let i = 0; i < 150; i++) insert.run(NOW - i * 1000, "alice", `a${i}`);
  insert.run(NOW - 40 * DAY, "bob", "old");
  insert.run(NOW - DAY, "bob", "new");
  raw.close();
  const metrics = createMetrics();
  const retention = startHistoryRetention({ store, log: createNullLogger(), metrics, days: 30, now: () => NOW });
  cleanup.push(() => retention.stop());
  await retention.prune();
  expect(removalRows(path, "alice")).toBe(100);
  expect((await store.listRemovals({ user: "bob", limit: 10 })).map((r) => r.identifier)).toEqual(["new"]);
  expect(metrics.get("cloud_notifyd_removals_pruned_total")).toBe(51);
});

test("history rows refused with SQLITE_FULL are kept, retried, and written once the store takes them again", async () => {
  const { store } = await fileStore();
  let refuse = true;
  const flaky: Store = { ...store, addHistory: (rows) => (refuse ? Promise.reject(diskFull()) : store.addHistory(rows)) };
  const { log, lines } = recordingLog();
  const { b, metrics } = buffer(flaky, log);
  for (let i = 0; i < 10; i++) push(b, i);
  await b.flush();
  for (let i = 10; i < 20; i++) push(b, i);
  await b.flush();
  expect(b.pending().history).toBe(20);
  expect(lines.filter(([level]) => level === "error")).toHaveLength(1);
  refuse = false;
  await b.flush();
  expect(b.pending().history).toBe(0);
  const written = await store.listHistory({ user: "alice", limit: 100 });
  expect(written.map((r) => r.at)).toEqual(Array.from({ length: 20 }, (_, i) => 1_019 - i));
  expect(metrics.get("cloud_notifyd_history_rows_lost_total", { table: "push_history" })).toBeUndefined();
  expect(lines).toContainEqual(["info", "history written again"]);
});

test("history kept while the store refuses is bounded: the oldest are dropped, counted, with one warning", async () => {
  const { store } = await fileStore();
  const failing: Store = { ...store, addHistory: () => Promise.reject(diskFull()) };
  const { log, lines } = recordingLog();
  const { b, metrics } = buffer(failing, log);
  push(b, 0);
  await b.flush();
  const extra = 20_000;
  for (let i = 1; i <= KEEP_HISTORY_ROWS + extra; i++) push(b, i);
  await b.flush();
  expect(b.pending().history).toBe(KEEP_HISTORY_ROWS);
  expect(metrics.get("cloud_notifyd_history_rows_lost_total", { table: "push_history" })).toBe(extra + 1);
  expect(lines.filter(([level]) => level === "warn")).toHaveLength(1);
  expect(lines.filter(([level]) => level === "error")).toHaveLength(1);
});

test("history rows refused for good (a constraint) are dropped and counted, not retried", async () => {
  const { store } = await fileStore();
  const broken: Store = {
    ...store,
    addHistory: () => Promise.reject(Object.assign(new Error("NOT NULL constraint failed"), { code: "SQLITE_CONSTRAINT_NOTNULL" })),
  };
  const { b, metrics } = buffer(broken);
  push(b, 0);
  push(b, 1);
  await b.flush();
  expect(b.pending().history).toBe(0);
  expect(metrics.get("cloud_notifyd_history_rows_lost_total", { table: "push_history" })).toBe(2);
});

test("D21 holds(user) is true while the user's rows are buffered or being written, and only for that user", async () => {
  const { store } = await fileStore();
  let release: () => void = () => {};
  const slow: Store = {
    ...store,
    addHistory: async (rows) => {
      await new Promise<void>((r) => {
        release = r;
      });
      return store.addHistory(rows);
    },
  };
  const { b } = buffer(slow);
  expect(b.holds("alice")).toBe(false);
  push(b, 1, "alice");
  expect(b.holds("alice")).toBe(true);
  expect(b.holds("bob")).toBe(false);
  const flushed = b.flush();
  await Bun.sleep(0); // the write has taken the batch and waits for the store
  expect(b.pending().history).toBe(0);
  expect(b.holds("alice")).toBe(true);
  release();
  await flushed;
  expect(b.holds("alice")).toBe(false);
  expect((await store.listHistory({ user: "alice", limit: 10 })).length).toBe(1);
});
