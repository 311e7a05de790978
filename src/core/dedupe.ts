/**
 * D8: one stanza is pushed at most once per registration across all trigger paths, keyed by
 * the adapter's stable stanza key, in a window bounded by count (`dedupeWindow`, over all
 * registrations) and age (`dedupeTtlMs`). Each registration keeps its own small map of seen
 * keys (a removed or re-created registration starts clean); one FIFO orders all entries.
 * @module
 */
import type { CoreState, RegEntry } from "./state.ts";
import { fifoPeek, fifoPush, fifoShift } from "./fifo.ts";

/** True if `key` was already seen for this registration (within the window); otherwise records it. */
export function seenBefore(state: CoreState, entry: RegEntry, key: string, now: number): boolean {
  let seen = entry.seen;
  if (seen === null) {
    seen = new Map();
    entry.seen = seen;
  }
  const expires = seen.get(key);
  if (expires !== undefined && expires > now) return true;
  const expiry = now + state.config.dedupeTtlMs;
  if (expires === undefined) state.dedupeSize++;
  seen.set(key, expiry);
  fifoPush(state.dedupeOrder, { entry, key, expiry });
  while (state.dedupeSize > state.config.dedupeWindow) dropOldest(state);
  return false;
}

/** Drops the oldest entry of the order queue (and its map entry if it is still that insertion). */
function dropOldest(state: CoreState): void {
  const oldest = fifoShift(state.dedupeOrder);
  if (oldest === undefined) {
    state.dedupeSize = 0;
    return;
  }
  const seen = oldest.entry.seen;
  if (seen !== null && seen.get(oldest.key) === oldest.expiry) {
    seen.delete(oldest.key);
    state.dedupeSize--;
  }
}

/** Drops expired entries from the front of the window (entries are in expiry order). */
export function purgeDedupe(state: CoreState, now: number): void {
  for (let oldest = fifoPeek(state.dedupeOrder); oldest !== undefined && oldest.expiry <= now; oldest = fifoPeek(state.dedupeOrder)) {
    dropOldest(state);
  }
}
