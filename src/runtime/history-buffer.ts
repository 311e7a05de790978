/**
 * Push history and removals are written in batches (every second, or at 500 rows) so that
 * recording never sits on the path of a push. A failed write is logged and counted; the rows
 * are dropped rather than kept growing (history is for operators, not for correctness).
 * @module
 */
import type { Action } from "../core/types.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { HistoryRow, Store } from "../store/types.ts";

type HistoryAction = Extract<Action, { type: "history" }>;
type RemovedAction = Extract<Action, { type: "removed" }>;

const FLUSH_ROWS = 500;
const FLUSH_MS = 1000;

export interface HistoryBuffer {
  add(a: HistoryAction): void;
  addRemoval(a: RemovedAction): void;
  flush(): Promise<void>;
  stop(): void;
}

export function createHistoryBuffer(deps: { store: Store; log: Logger; metrics: Metrics }): HistoryBuffer {
  let rows: HistoryRow[] = [];
  let flushing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => void flush(), FLUSH_MS);
  timer.unref?.();

  function flush(): Promise<void> {
    if (rows.length === 0) return flushing;
    const batch = rows;
    rows = [];
    flushing = flushing.then(async function writeHistory() {
      try {
        await deps.store.addHistory(batch);
      } catch (err) {
        deps.metrics.inc("cloud_notifyd_store_errors_total", { op: "history" });
        deps.log.error("history write failed", { rows: batch.length, error: err instanceof Error ? err.message : String(err) });
      }
    });
    return flushing;
  }

  return {
    add(a) {
      rows.push({
        at: a.at,
        user: a.user,
        identifier: a.identifier,
        publishId: a.publishId,
        trigger: a.trigger,
        important: a.important,
        outcome: a.outcome,
        latencyMs: a.latencyMs ?? null,
        error: a.error ?? null,
      });
      if (rows.length >= FLUSH_ROWS) void flush();
    },
    addRemoval(a) {
      void flush();
      flushing = flushing.then(async function writeRemoval() {
        try {
          const cut = a.identifier.indexOf("<");
          await deps.store.addRemoval({
            at: a.at,
            user: a.user,
            identifier: a.identifier,
            jid: cut < 0 ? a.identifier : a.identifier.slice(0, cut),
            node: cut < 0 || cut === a.identifier.length - 1 ? null : a.identifier.slice(cut + 1),
            reason: a.reason,
            detail: a.detail ?? null,
          });
        } catch (err) {
          deps.metrics.inc("cloud_notifyd_store_errors_total", { op: "removal" });
          deps.log.error("removal write failed", { error: err instanceof Error ? err.message : String(err) });
        }
      });
    },
    flush,
    stop: () => clearInterval(timer),
  };
}
