/**
 * Push history and removals are written in batches (every second, or at 50,000 rows) so that
 * recording never sits on the path of a push.
 *
 * One row per push: the core records a publish once, at its outcome (ok, error, timeout,
 * retried, …), dated at the time it was sent (`sentAt`), with its latency and error; one never
 * answered is recorded as "sent" when the daemon stops (core/outcome.ts). Inserting two rows
 * per push was the daemon's largest cost under load (docs/performance.md). Pushes in flight
 * are the core's (the admin API asks it); nothing of them is kept here.
 *
 * A write the store refuses for a reason that may pass (a full disk, a lock, a remote store
 * down; see `isTransientStoreError`) keeps its rows and is tried again with backoff (1 s
 * doubling to 60 s), up to 50,000 history rows and 10,000 removal rows; beyond that the oldest
 * are dropped and counted in `cloud_notifyd_history_rows_lost_total`. Each failure episode logs
 * one error (and one warning once rows are lost); the first write that succeeds logs how many
 * were kept and lost. A permanent error (a constraint, an SQL error) drops its batch, counted.
 *
 * Removals: a user's enable burst evicts one registration per enable beyond `push_max_devices`;
 * each batch keeps only the newest 100 removal rows per user (the store keeps no more, see
 * src/store/removals.ts), so a burst costs memory and a write bounded by 100 rows per user.
 * @module
 */
import type { Action } from "../core/types.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { isTransientStoreError, storeErrorText } from "../store/errors.ts";
import { REMOVALS_PER_USER } from "../store/removals.ts";
import type { HistoryRow, RemovalRow, Store } from "../store/types.ts";

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
/** Rows kept in memory while the store refuses them. */
export const KEEP_HISTORY_ROWS = 50_000;
export const KEEP_REMOVAL_ROWS = 10_000;
/** Trimming is done in steps of this many rows, so it is not a copy per push. */
const TRIM_SLACK = 1000;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 60_000;

export const ROWS_LOST_METRIC = "cloud_notifyd_history_rows_lost_total";
export const REMOVALS_PRUNED_METRIC = "cloud_notifyd_removals_pruned_total";

export interface HistoryBuffer {
  add(a: HistoryAction): void;
  /** D14: the account is gone: rows not yet written for it are dropped with it. */
  forgetUser(user: string): void;
  addRemoval(a: RemovedAction): void;
  /** Writes what is buffered now (even while backing off); resolves when done, never rejects. */
  flush(): Promise<void>;
  /** Whether rows of `user` are buffered or being written: a reader of the user's history flushes first then. */
  holds(user: string): boolean;
  /** Rows waiting to be written (history, removals); for tests and metrics. */
  pending(): { history: number; removals: number };
  stop(): void;
}

export function createHistoryBuffer(deps: { store: Store; log: Logger; metrics: Metrics; now?: () => number }): HistoryBuffer {
  const now = deps.now ?? Date.now;
  let rows: HistoryRow[] = [];
  let removalRows: RemovalRow[] = [];
  let flushing: Promise<void> = Promise.resolve();
  /** The history batch being written (holds() must see it until the store has it). */
  let writing: HistoryRow[] = [];
  let writeQueued = false; // a writeBatch is chained and has not taken its batch yet
  // Failure episode: set while the store refuses writes.
  let failing = false;
  let retryDelay = RETRY_FIRST_MS;
  let nextTryAt = 0;
  let lostInEpisode = 0;
  const timer = setInterval(function tick() {
    if (failing && now() < nextTryAt) return;
    void flush();
  }, FLUSH_MS);
  timer.unref?.();

  function lose(table: "push_history" | "removals", n: number, why: string): void {
    if (n <= 0) return;
    deps.metrics.inc(ROWS_LOST_METRIC, { table }, n);
    if (lostInEpisode === 0) {
      deps.log.warn("history rows lost: the store cannot take them", { table, rows: n, reason: why });
    }
    lostInEpisode += n;
  }

  /** While failing, keeps at most KEEP_* rows in memory: the oldest go first. */
  function trim(): void {
    if (rows.length > KEEP_HISTORY_ROWS + (failing ? 0 : FLUSH_ROWS)) {
      const excess = rows.length - KEEP_HISTORY_ROWS;
      rows = rows.slice(excess);
      lose("push_history", excess, "too many rows waiting");
    }
    if (removalRows.length > KEEP_REMOVAL_ROWS) {
      const excess = removalRows.length - KEEP_REMOVAL_ROWS;
      removalRows = removalRows.slice(excess);
      lose("removals", excess, "too many rows waiting");
    }
  }

  function failed(err: unknown, kept: number): void {
    if (!failing) {
      failing = true;
      deps.log.error("history write failed: rows kept and retried", { rows: kept, error: storeErrorText(err) });
    } else {
      retryDelay = Math.min(RETRY_MAX_MS, retryDelay * 2);
    }
    nextTryAt = now() + retryDelay;
  }

  function recovered(written: number): void {
    if (!failing) return;
    failing = false;
    retryDelay = RETRY_FIRST_MS;
    deps.log.info("history written again", { rows: written, lost: lostInEpisode });
    lostInEpisode = 0;
  }

  function flush(): Promise<void> {
    if ((rows.length === 0 && removalRows.length === 0) || writeQueued) return flushing;
    writeQueued = true;
    flushing = flushing.then(async function writeBatch() {
      // The batch is taken when the write runs, not when it was asked for: a user deleted in
      // between (forgetUser, D14) must not have rows written after the store deleted theirs.
      writeQueued = false;
      const batch = rows;
      rows = [];
      writing = batch;
      const removalBatch = newestPerUser(removalRows, REMOVALS_PER_USER);
      if (removalBatch.length < removalRows.length) deps.metrics.inc(REMOVALS_PRUNED_METRIC, {}, removalRows.length - removalBatch.length);
      removalRows = [];
      let ok = true;
      let transient: unknown;
      let written = 0;
      if (batch.length > 0) {
        try {
          await deps.store.addHistory(batch);
          written += batch.length;
        } catch (err) {
          ok = false;
          deps.metrics.inc("cloud_notifyd_store_errors_total", { op: "history" });
          if (isTransientStoreError(err)) {
            rows = batch.concat(rows); // oldest first, as if never taken
            transient ??= err;
          } else {
            deps.log.error("history write failed: rows dropped", { rows: batch.length, error: storeErrorText(err) });
            lose("push_history", batch.length, storeErrorText(err));
          }
        }
        writing = [];
      }
      if (removalBatch.length > 0) {
        try {
          const capped = await deps.store.addRemovals(removalBatch);
          if (capped > 0) deps.metrics.inc(REMOVALS_PRUNED_METRIC, {}, capped);
          written += removalBatch.length;
        } catch (err) {
          ok = false;
          deps.metrics.inc("cloud_notifyd_store_errors_total", { op: "removal" });
          if (isTransientStoreError(err)) {
            removalRows = removalBatch.concat(removalRows);
            transient ??= err;
          } else {
            deps.log.error("removal write failed: rows dropped", { rows: removalBatch.length, error: storeErrorText(err) });
            lose("removals", removalBatch.length, storeErrorText(err));
          }
        }
      }
      if (ok) recovered(written);
      else {
        if (transient !== undefined) failed(transient, rows.length + removalRows.length);
        trim();
      }
    });
    return flushing;
  }

  return {
    add(a) {
      rows.push({
        at: a.sentAt ?? a.at, // a publish's row is dated at its send
        user: a.user,
        identifier: a.identifier,
        publishId: a.publishId,
        trigger: a.trigger,
        important: a.important,
        outcome: a.outcome,
        latencyMs: a.latencyMs ?? null,
        error: a.error ?? null,
      });
      if (failing) {
        if (rows.length > KEEP_HISTORY_ROWS + TRIM_SLACK) trim();
      } else if (rows.length >= FLUSH_ROWS) void flush();
    },
    holds(user) {
      return rows.some((r) => r.user === user) || writing.some((r) => r.user === user);
    },
    forgetUser(user) {
      rows = rows.filter((r) => r.user !== user);
    },
    addRemoval(a) {
      const cut = a.identifier.indexOf("<");
      removalRows.push({
        at: a.at,
        user: a.user,
        identifier: a.identifier,
        jid: cut < 0 ? a.identifier : a.identifier.slice(0, cut),
        node: cut < 0 || cut === a.identifier.length - 1 ? null : a.identifier.slice(cut + 1),
        reason: a.reason,
        detail: a.detail ?? null,
      });
      if (removalRows.length > KEEP_REMOVAL_ROWS + TRIM_SLACK) {
        // A burst: keep each user's newest 100 now rather than waiting for the write.
        const kept = newestPerUser(removalRows, REMOVALS_PER_USER);
        deps.metrics.inc(REMOVALS_PRUNED_METRIC, {}, removalRows.length - kept.length);
        removalRows = kept;
        trim();
      }
    },
    flush,
    pending: () => ({ history: rows.length, removals: removalRows.length }),
    stop() {
      clearInterval(timer);
      void flush();
    },
  };
}

/** The newest `keep` rows of each user (rows arrive oldest first), in their original order. */
function newestPerUser(rows: RemovalRow[], keep: number): RemovalRow[] {
  const seen = new Map<string, number>();
  const out: RemovalRow[] = [];
  for (let i = rows.length - 1; i >= 0; i--) {
    const r = rows[i]!;
    const n = seen.get(r.user) ?? 0;
    if (n >= keep) continue;
    seen.set(r.user, n + 1);
    out.push(r);
  }
  return out.reverse();
}
