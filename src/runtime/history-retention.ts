/**
 * Push history is for operators, and one row per push grows without end: rows older than
 * `history_retention_days` are deleted at start and then every hour. A failed prune is logged
 * and counted, and tried again at the next hour; it never stops the daemon.
 * @module
 */
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Store } from "../store/types.ts";

const PRUNE_EVERY_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface HistoryRetention {
  /** Deletes the rows past retention now; resolves with how many went. */
  prune(): Promise<number>;
  stop(): void;
}

export function startHistoryRetention(deps: {
  store: Store;
  log: Logger;
  metrics: Metrics;
  days: number;
  now?: () => number;
}): HistoryRetention {
  const now = deps.now ?? Date.now;

  async function prune(): Promise<number> {
    try {
      const deleted = await deps.store.pruneHistory(now() - deps.days * DAY_MS);
      if (deleted > 0) deps.log.info("history pruned", { rows: deleted, retention_days: deps.days });
      deps.metrics.inc("cloud_notifyd_history_pruned_total", {}, deleted);
      return deleted;
    } catch (err) {
      deps.metrics.inc("cloud_notifyd_store_errors_total", { op: "prune" });
      deps.log.error("history prune failed", { error: err instanceof Error ? err.message : String(err) });
      return 0;
    }
  }

  void prune();
  const timer = setInterval(() => void prune(), PRUNE_EVERY_MS);
  timer.unref?.();
  return { prune, stop: () => clearInterval(timer) };
}
