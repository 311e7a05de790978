/**
 * Runs every benchmark of docs/performance.md one after the other and prints the machine and a
 * summary of their RESULT lines. Each script stays under 3 minutes (e2e-throughput under 10);
 * bench/prosody-cost.ts (instruction counts under callgrind, ≈ 20 minutes) and bench/soak.ts
 * (30 minutes) are run on their own;
 * loopback only.
 * Run: node_modules/.bin/bun bench/run-all.ts
 * @module
 */
import { cpus, totalmem } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const SCRIPTS: Array<{ file: string; args: string[]; limitMs?: number }> = [
  { file: "bench/core.ts", args: [] },
  { file: "bench/daemon-ceiling.ts", args: [] },
  // Three rounds of the baseline and both systems (alternating) on fresh Prosodys: ≈ 4–6 minutes.
  { file: "bench/e2e-throughput.ts", args: [], limitMs: 600_000 },
  { file: "bench/scale.ts", args: [] },
];
const LIMIT_MS = 180_000;

function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return r.stdout.toString().trim().split("\n")[0] ?? "";
}

console.log(`machine: ${cpus().length} CPU(s), ${cpus()[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`);
console.log(
  `bun ${Bun.version}; ${sh(["dpkg-query", "-W", "-f", "prosody ${Version}", "prosody"])}; ${sh(["dpkg-query", "-W", "-f", "prosody-modules ${Version}", "prosody-modules"])}`,
);

const summary: string[] = [];
let failed = 0;
for (const { file, args, limitMs = LIMIT_MS } of SCRIPTS) {
  console.log(`\n=== ${file} ${args.join(" ")}`);
  const started = performance.now();
  const proc = Bun.spawn([process.execPath, join(ROOT, file), ...args], { cwd: ROOT, stdout: "pipe", stderr: "inherit" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), limitMs);
  const decoder = new TextDecoder();
  for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
    const text = decoder.decode(chunk, { stream: true });
    process.stdout.write(text);
    for (const line of text.split("\n")) if (line.startsWith("RESULT ")) summary.push(line.slice(7));
  }
  const code = await proc.exited;
  clearTimeout(timer);
  console.log(`=== ${file}: exit ${code} after ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (code !== 0) failed++;
}
console.log("\n=== summary");
for (const line of summary) console.log(line);
console.log(`${SCRIPTS.length - failed} benchmarks finished, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
