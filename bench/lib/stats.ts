/** Small numeric helpers for the benchmark scripts. @module */

/** The q-quantile (0..1) of `values` by nearest rank; NaN when empty. Sorts a copy. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en");
}

export function fmtMs(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(n < 10 ? 2 : 1)} ms` : "n/a";
}

/** User + system CPU seconds of a process so far (Linux /proc). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text();
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** Resident set size of a process in MiB (VmRSS), or NaN. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Pins the calling process to one CPU with taskset, when there is more than one CPU and taskset exists. */
export function pinSelf(cpu: number): boolean {
  const r = Bun.spawnSync(["taskset", "-pc", String(cpu), String(process.pid)], { stdout: "ignore", stderr: "ignore" });
  return r.exitCode === 0;
}

export function hasTaskset(): boolean {
  return Bun.which("taskset") !== null && navigator.hardwareConcurrency > 1;
}

/** Prints a result line in a grep-friendly form: `RESULT name value unit`. */
export function result(name: string, value: number | string, unit = ""): void {
  console.log(`RESULT ${name} ${typeof value === "number" ? (Number.isInteger(value) ? value : value.toFixed(2)) : value}${unit ? ` ${unit}` : ""}`);
}
