/**
 * Push history and removals are written in batches (every second, or at 50,000 rows) so that
 * recording never sits on the path of a push. A failed write is logged and counted; the rows
 * are dropped rather than kept growing (history is for operators, not for correctness).
 *
 * One row per push: the core reports a publish as "sent" and later its outcome (ok, error,
 * timeout, retried); the "sent" record waits here and is written once, with the outcome, its
 * latency and error, at the time it was sent. Inserting two rows per push was the daemon's
 * largest cost under load (docs/performance.md). Pushes still in flight are listed from memory
 * (`inflight`) and written as "sent" on stop or when too many wait.
 * @module
 */
import type { Action } from "../core/types.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { HistoryRow, Store } from "../store/types.ts";

type HistoryAction = Extract<Action, { type: "history" }>;
type RemovedAction = Extract<Action, { type: "removed" }>;

/**
 * Rows per write, at most; below that, one write a second. Each write dirties about one page of
 * the `(user, at)` history index per user in it, whatever its size, so few big writes are what
 * keeps the cost per row flat as the table grows: at 5,000 rows a write the daemon's ceiling
 * fell by a quarter with every 200k rows of history, at one write a second it stays put
 * (docs/performance.md).
 */
const FLUSH_ROWS = 50_000;
const FLUSH_MS = 1000;
const MAX_INFLIGHT = 100_000;

export interface HistoryBuffer {
  add(a: HistoryAction): void;
  /** Pushes of the user sent and not yet answered, newest first. */
  inflight(user: string, identifier?: string): HistoryRow[];
  /** D14: the account is gone: rows not yet written for it are dropped with it. */
  forgetUser(user: string): void;
  addRemoval(a: RemovedAction): void;
  flush(): Promise<void>;
  stop(): void;
}

export function createHistoryBuffer(deps: { store: Store; log: Logger; metrics: Metrics }): HistoryBuffer {
  let rows: HistoryRow[] = [];
  const waiting = new Map<string, HistoryRow>(); // publishId → its "sent" row
  let flushing: Promise<void> = Promise.resolve();
  let writeQueued = false; // a writeHistory is chained and has not taken its batch yet
  const timer = setInterval(() => void flush(), FLUSH_MS);
  timer.unref?.();

  function flush(): Promise<void> {
    if (rows.length === 0 || writeQueued) return flushing;
    writeQueued = true;
    flushing = flushing.then(async function writeHistory() {
      // The batch is taken when the write runs, not when it was asked for: a user deleted in
      // between (forgetUser, D14) must not have rows written after the store deleted theirs.
      writeQueued = false;
      const batch = rows;
      rows = [];
      if (batch.length === 0) return;
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
      const row: HistoryRow = {
        at: a.at,
        user: a.user,
        identifier: a.identifier,
        publishId: a.publishId,
        trigger: a.trigger,
        important: a.important,
        outcome: a.outcome,
        latencyMs: a.latencyMs ?? null,
        error: a.error ?? null,
      };
      if (a.outcome === "sent" && a.publishId !== null) {
        if (waiting.size >= MAX_INFLIGHT) {
          const oldest = waiting.keys().next().value as string;
          rows.push(waiting.get(oldest)!);
          waiting.delete(oldest);
        }
        waiting.set(a.publishId, row);
        return;
      }
      const sent = a.publishId === null ? undefined : waiting.get(a.publishId);
      if (sent !== undefined) {
        waiting.delete(a.publishId as string);
        rows.push({
          at: sent.at,
          user: sent.user,
          identifier: sent.identifier,
          publishId: sent.publishId,
          trigger: sent.trigger,
          important: sent.important,
          outcome: row.outcome,
          latencyMs: row.latencyMs,
          error: row.error,
        });
      } else {
        rows.push(row);
      }
      if (rows.length >= FLUSH_ROWS) void flush();
    },
    forgetUser(user) {
      rows = rows.filter((r) => r.user !== user);
      for (const [id, row] of waiting) if (row.user === user) waiting.delete(id);
    },
    inflight(user, identifier) {
      const found: HistoryRow[] = [];
      for (const row of waiting.values()) if (row.user === user && (identifier === undefined || row.identifier === identifier)) found.push(row);
      return found.reverse();
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
    stop() {
      clearInterval(timer);
      // What never got an answer is still history: written as "sent".
      rows.push(...waiting.values());
      waiting.clear();
      void flush();
    },
  };
}
