/**
 * Prints the compiled binary's size, the time from spawn to the first 200 on /healthz
 * (median of N runs) and the idle RSS 2 s after start. Usage: bun bench/startup.ts [runs]
 */
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { BINARY, ensureBinary, freePort } from "../test/helpers/daemon.ts";

const runs = Number(process.argv[2] ?? 9);
await ensureBinary();

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

const times: number[] = [];
let idleRss = 0;
for (let i = 0; i < runs; i++) {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "cnd-start-"));
  const started = performance.now();
  const proc = Bun.spawn([BINARY], {
    env: { CLOUD_NOTIFYD_ADMIN_PORT: String(port), CLOUD_NOTIFYD_DATA_DIR: dataDir, CLOUD_NOTIFYD_LOG_LEVEL: "error" },
    stdout: "ignore",
    stderr: "ignore",
  });
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) break;
    } catch {}
    await Bun.sleep(1);
  }
  times.push(performance.now() - started);
  if (i === runs - 1) {
    await Bun.sleep(2000);
    idleRss = rssMb(proc.pid);
  }
  proc.kill("SIGTERM");
  await proc.exited;
}
times.sort((a, b) => a - b);
console.log(`binary: ${BINARY} ${(statSync(BINARY).size / 1048576).toFixed(1)} MiB`);
console.log(
  `spawn → /healthz 200: median ${times[Math.floor(times.length / 2)]!.toFixed(1)} ms, min ${times[0]!.toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms (${runs} runs, fresh data dir each)`,
);
console.log(`idle RSS 2 s after start: ${idleRss.toFixed(1)} MB`);
