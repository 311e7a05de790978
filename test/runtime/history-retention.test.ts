/**
 * History retention against a real SQLite store: rows older than `history_retention_days` go at
 * start and on every prune; newer rows stay; a failing store is logged and counted, not thrown.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { createNullLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics.ts";
import { startHistoryRetention } from "../../src/runtime/history-retention.ts";
import { openStore } from "../../src/store/db.ts";
import type { Store } from "../../src/store/types.ts";
import { historyRow } from "../store/store-contract.ts";

const DAY = 24 * 60 * 60 * 1000;
const NOW = Date.UTC(2026, 10, 25);
const cleanup: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn();
});

async function storeWithHistory(ages: number[]): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), "cnd-retention-"));
  const store = await openStore(`file:${join(dir, "t.db")}`);
  cleanup.push(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await store.addHistory(ages.map((days) => historyRow({ at: NOW - days * DAY })));
  return store;
}

test("history_retention_days: rows older than the retention go at start; newer rows stay", async () => {
  const store = await storeWithHistory([40, 31, 29, 1, 0]);
  const metrics = createMetrics();
  const retention = startHistoryRetention({ store, log: createNullLogger(), metrics, days: 30, now: () => NOW });
  cleanup.push(() => retention.stop());
  await Bun.sleep(50); // the prune at start runs in the background
  expect(await retention.prune()).toBe(0); // it already took them
  const left = await store.listHistory({ user: "alice@a.example", limit: 10 });
  expect(left.map((r) => Math.round((NOW - r.at) / DAY))).toEqual([0, 1, 29]);
  expect(metrics.render()).toMatch(/cloud_notifyd_history_pruned_total 2\b/);
});

test("history_retention_days: a store that fails to prune is logged and counted, never thrown", async () => {
  const store = await storeWithHistory([]);
  const failing: Store = { ...store, pruneHistory: () => Promise.reject(new Error("disk I/O error")) };
  const metrics = createMetrics();
  const lines: string[] = [];
  const log = { ...createNullLogger(), error: (msg: string) => void lines.push(msg) };
  const retention = startHistoryRetention({ store: failing, log, metrics, days: 30, now: () => NOW });
  cleanup.push(() => retention.stop());
  expect(await retention.prune()).toBe(0);
  expect(lines).toContain("history prune failed");
  expect(metrics.render()).toMatch(/cloud_notifyd_store_errors_total\{op="prune"\} 2\b/);
});
