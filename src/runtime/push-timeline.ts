/**
 * The last hour's final push outcomes in one-minute buckets (the admin page's chart), kept in
 * memory by the runtime as it writes the core's `history` records, bucketed by the time of the
 * outcome. Bounded: 60 buckets of a few counters each. `sent` (never answered) is not counted.
 * @module
 */
import type { Action } from "../core/types.ts";
import type { PushTimeline } from "../http/deps.ts";

export const TIMELINE_BUCKET_MS = 60_000;
export const TIMELINE_BUCKETS = 60;

export interface PushTimelineRecorder {
  record(action: Action): void;
  snapshot(now: number): PushTimeline;
}

export function createPushTimeline(): PushTimelineRecorder {
  /** bucket start (unix ms) → outcome → count; at most TIMELINE_BUCKETS + 1 entries. */
  const buckets = new Map<number, Map<string, number>>();

  function prune(now: number): void {
    const oldest = bucketOf(now) - (TIMELINE_BUCKETS - 1) * TIMELINE_BUCKET_MS;
    for (const at of buckets.keys()) if (at < oldest) buckets.delete(at);
  }

  return {
    record(action) {
      if (action.type !== "history" || action.outcome === "sent") return;
      const at = bucketOf(action.at);
      let counts = buckets.get(at);
      if (counts === undefined) {
        counts = new Map();
        buckets.set(at, counts);
        if (buckets.size > TIMELINE_BUCKETS + 1) prune(action.at);
      }
      counts.set(action.outcome, (counts.get(action.outcome) ?? 0) + 1);
    },
    snapshot(now) {
      prune(now);
      const first = bucketOf(now) - (TIMELINE_BUCKETS - 1) * TIMELINE_BUCKET_MS;
      const out: PushTimeline["buckets"] = [];
      for (let i = 0; i < TIMELINE_BUCKETS; i++) {
        const at = first + i * TIMELINE_BUCKET_MS;
        out.push({ at, counts: Object.fromEntries(buckets.get(at) ?? []) });
      }
      return { bucketMs: TIMELINE_BUCKET_MS, buckets: out };
    },
  };
}

function bucketOf(ms: number): number {
  return Math.floor(ms / TIMELINE_BUCKET_MS) * TIMELINE_BUCKET_MS;
}
