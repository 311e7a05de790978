/**
 * Bench-only entry: runs the daemon from source (src/main.ts) and, on SIGUSR2, forces a full
 * garbage collection and appends one JSON line of heap figures to $BENCH_HEAP_OUT: RSS, JSC heap
 * size and capacity, and the most numerous object types (bun:jsc heapStats). Used by
 * bench/lib/daemon-process.ts when BENCH_DAEMON_HEAP_PROBE=1, to find what holds the daemon's memory.
 * @module
 */
import { appendFileSync } from "node:fs";
import { heapStats } from "bun:jsc";

const out = process.env.BENCH_HEAP_OUT ?? "/dev/stderr";
process.on("SIGUSR2", () => {
  const before = process.memoryUsage();
  Bun.gc(true);
  const after = process.memoryUsage();
  const s = heapStats();
  const top = Object.entries(s.objectTypeCounts as Record<string, number>)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 25);
  appendFileSync(
    out,
    JSON.stringify({
      rssMiB: +(after.rss / 1048576).toFixed(1),
      rssBeforeGcMiB: +(before.rss / 1048576).toFixed(1),
      heapSizeMiB: +(s.heapSize / 1048576).toFixed(1),
      heapCapacityMiB: +(s.heapCapacity / 1048576).toFixed(1),
      extraMemoryMiB: +(s.extraMemorySize / 1048576).toFixed(1),
      objectCount: s.objectCount,
      top,
    }) + "\n",
  );
});
await import("../../src/main.ts");
