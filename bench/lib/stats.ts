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

/** Whether to pin (taskset, more than one CPU, and not BENCH_NO_PIN=1: e.g. while another benchmark holds CPU 0). */
export function hasTaskset(): boolean {
  if (process.env.BENCH_NO_PIN === "1") return false;
  return Bun.which("taskset") !== null && navigator.hardwareConcurrency > 1;
}

/** Prints a result line in a grep-friendly form: `RESULT name value unit`. */
export function result(name: string, value: number | string, unit = ""): void {
  console.log(
    `RESULT ${name} ${typeof value === "number" ? (Number.isInteger(value) ? value : value.toFixed(2)) : value}${unit ? ` ${unit}` : ""}`,
  );
}

/** RSS of a process split by mapping (Linux smaps): `[heap]`, anonymous, and file-backed, in MiB, plus the largest anonymous ones. */
export async function rssByMapping(pid: number): Promise<string> {
  const text = await Bun.file(`/proc/${pid}/smaps`).text();
  const sums = new Map<string, number>();
  const anon: Array<[number, number]> = [];
  let name = "";
  let size = 0;
  for (const line of text.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      size = (parseInt(head[2]!, 16) - parseInt(head[1]!, 16)) / 1024;
      name = head[3] === "" ? "anon" : head[3]!.startsWith("[") ? head[3]! : "file";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss === null) continue;
    const kb = Number(rss[1]);
    sums.set(name, (sums.get(name) ?? 0) + kb);
    if (name === "anon") anon.push([size, kb]);
  }
  const parts = [...sums].sort((a, b) => b[1] - a[1]).map(([k, kb]) => `${k} ${(kb / 1024).toFixed(1)}`);
  const top = anon
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([s, kb]) => `${(kb / 1024).toFixed(0)}/${(s / 1024).toFixed(0)}`);
  return `${parts.join(", ")} MiB; largest anonymous (rss/size MiB): ${top.join(" ")}`;
}

/** "a / b / c → median M, spread S %" for per-round figures; spread = (max − min) / median. */
export function roundsText(values: readonly number[], fmt: (n: number) => string = (n) => n.toFixed(2)): string {
  if (values.length === 0) return "no rounds";
  const m = percentile(values, 0.5);
  const spread = m === 0 ? 0 : ((Math.max(...values) - Math.min(...values)) / Math.abs(m)) * 100;
  return `${values.map(fmt).join(" / ")} → median ${fmt(m)}, spread ${spread.toFixed(0)} %`;
}
