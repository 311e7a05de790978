/**
 * E1's cost: the daemon ceiling (bench/daemon-ceiling.ts) with plain registrations and with every
 * registration encrypted (BENCH_ENCRYPTED=1: AES-128-GCM payload per push), alternating in one run
 * on the same machine, then the ratio of the medians.
 *
 * Run: node_modules/.bin/bun bench/encrypted-ceiling.ts [events=100000] [users=10000] [pairs=2]
 * @module
 */
import { result } from "./lib/stats.ts";

const EVENTS = process.argv[2] ?? "100000";
const USERS = process.argv[3] ?? "10000";
const PAIRS = Math.max(1, Number(process.argv[4] ?? 2));

async function ceiling(encrypted: boolean): Promise<Map<string, number>> {
  const proc = Bun.spawn([process.execPath, "bench/daemon-ceiling.ts", EVENTS, USERS, "1"], {
    cwd: `${import.meta.dir}/..`,
    env: { ...process.env, BENCH_ENCRYPTED: encrypted ? "1" : "0" },
    stdout: "pipe",
    stderr: "inherit",
  });
  const text = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`Cannot run the ${encrypted ? "encrypted" : "plain"} ceiling:\n${text.slice(-2000)}`);
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^RESULT (daemon\.[a-z_0-9]+) ([0-9.]+)/.exec(line);
    if (m !== null) values.set(m[1] as string, Number(m[2]));
  }
  return values;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;
const runs: Record<"plain" | "encrypted", Array<Map<string, number>>> = { plain: [], encrypted: [] };
for (let i = 0; i < PAIRS; i++) {
  for (const kind of i % 2 === 0 ? (["plain", "encrypted"] as const) : (["encrypted", "plain"] as const)) {
    const r = await ceiling(kind === "encrypted");
    runs[kind].push(r);
    console.log(
      `${kind} run ${runs[kind].length}: ${r.get("daemon.publishes_per_s")} publishes/s, ${r.get("daemon.cpu_us_per_push")} µs CPU per push`,
    );
  }
}
for (const key of ["daemon.publishes_per_s", "daemon.cpu_us_per_push"]) {
  const plain = median(runs.plain.map((r) => r.get(key) ?? Number.NaN));
  const enc = median(runs.encrypted.map((r) => r.get(key) ?? Number.NaN));
  result(`encrypted.${key.slice(7)}.plain`, plain);
  result(`encrypted.${key.slice(7)}.encrypted`, enc);
  result(`encrypted.${key.slice(7)}.ratio`, enc / plain, "encrypted/plain");
}
