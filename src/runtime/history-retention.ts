/**
 * Push history and removal records are for operators, and both grow without end: rows older
 * than `history_retention_days` are deleted at start and then every hour, and so are a user's
 * removal records beyond the newest 100 (the per-user cap is also kept at every write, see
 * src/store/removals.ts). A failed prune is logged and counted, and tried again at the next
 * hour; it never stops the daemon.
 * @module
 */
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { storeErrorText } from "../store/errors.ts";
import type { Store } from "../store/types.ts";
import { REMOVALS_PRUNED_METRIC } from "./history-buffer.ts";

const PRUNE_EVERY_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface HistoryRetention {
  /** Deletes the history rows past retention now; resolves with how many went (removal rows are counted apart). */
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
    const cutoff = now() - deps.days * DAY_MS;
    let deleted = 0;
    try {
      deleted = await deps.store.pruneHistory(cutoff);
      if (deleted > 0) deps.log.info("history pruned", { rows: deleted, retention_days: deps.days });
      deps.metrics.inc("cloud_notifyd_history_pruned_total", {}, deleted);
    } catch (err) {
      deps.metrics.inc("cloud_notifyd_store_errors_total", { op: "prune" });
      deps.log.error("history prune failed", { error: storeErrorText(err) });
    }
    try {
      const removed = await deps.store.pruneRemovals(cutoff);
      if (removed > 0) deps.log.info("removals pruned", { rows: removed, retention_days: deps.days });
      deps.metrics.inc(REMOVALS_PRUNED_METRIC, {}, removed);
    } catch (err) {
      deps.metrics.inc("cloud_notifyd_store_errors_total", { op: "prune-removals" });
      deps.log.error("removals prune failed", { error: storeErrorText(err) });
    }
    return deleted;
  }

  void prune();
  const timer = setInterval(() => void prune(), PRUNE_EVERY_MS);
  timer.unref?.();
  return { prune, stop: () => clearInterval(timer) };
}
