/**
 * Starts the compiled daemon (dist/cloud-notifyd, built when missing) as a child process,
 * configured through CLOUD_NOTIFYD_* variables, optionally pinned to one CPU with taskset.
 * @module
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = resolve(import.meta.dir, "../..");
/** BENCH_BINARY=PATH runs that build instead of dist/cloud-notifyd (built there when missing). */
export const BINARY = process.env.BENCH_BINARY ?? join(ROOT, "dist/cloud-notifyd");

export async function ensureBinary(): Promise<void> {
  if (existsSync(BINARY)) return;
  const proc = Bun.spawn([process.execPath, "run", "build.ts", `--outfile=${BINARY}`], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
  if ((await proc.exited) !== 0 || !existsSync(BINARY)) throw new Error(`Cannot build ${BINARY}`);
}

export async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export interface DaemonProcess {
  proc: Subprocess;
  pid: number;
  adminPort: number;
  dataDir: string;
  url(path: string): string;
  logs(): string;
  /** Polls /readyz until 200; returns the ms it took from `since` (performance.now()). */
  waitReady(since: number, timeoutMs?: number): Promise<number>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

export async function startDaemonProcess(opts: {
  env: Record<string, string>;
  dataDir?: string;
  /** CPU to pin the daemon to (taskset -c); undefined = not pinned. */
  cpu?: number;
}): Promise<DaemonProcess> {
  await ensureBinary();
  const adminPort = await freePort();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "cnd-bench-"));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    CLOUD_NOTIFYD_ADMIN_PORT: String(adminPort),
    CLOUD_NOTIFYD_DATA_DIR: dataDir,
    CLOUD_NOTIFYD_LOG_LEVEL: "info",
    // As contrib/systemd/cloud-notifyd.service runs it (BENCH_DAEMON_ENV="BUN_JSC_forceRAMSize=0" for JSC's own sizing).
    BUN_JSC_forceRAMSize: "134217728",
    ...(process.env.BENCH_HEAP_OUT ? { BENCH_HEAP_OUT: process.env.BENCH_HEAP_OUT } : {}),
    ...opts.env,
    // BENCH_DAEMON_ENV="NAME=value NAME2=value2": extra variables for the daemon (e.g. allocator or JSC options).
    ...Object.fromEntries(
      (process.env.BENCH_DAEMON_ENV ?? "")
        .split(" ")
        .filter((kv) => kv.includes("="))
        .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
    ),
  };
  // BENCH_DAEMON_FROM_SOURCE="--cpu-prof --cpu-prof-dir=/tmp/prof" runs src/main.ts under bun with those flags (profiling).
  const fromSource = process.env.BENCH_DAEMON_FROM_SOURCE;
  // BENCH_DAEMON_HEAP_PROBE=1 runs src/main.ts through bench/lib/heap-probe.ts (heap figures on SIGUSR2, see there).
  const probe = process.env.BENCH_DAEMON_HEAP_PROBE === "1";
  const entry = join(ROOT, probe ? "bench/lib/heap-probe.ts" : "src/main.ts");
  const command =
    fromSource !== undefined || probe ? [process.execPath, ...(fromSource ?? "").split(" ").filter(Boolean), entry] : [BINARY];
  const argv = opts.cpu !== undefined && Bun.which("taskset") !== null ? ["taskset", "-c", String(opts.cpu), ...command] : command;
  const proc = Bun.spawn(argv, { env, stdout: "pipe", stderr: "pipe" });
  let text = "";
  for (const stream of [proc.stdout, proc.stderr]) {
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream as ReadableStream<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        if (text.length > 1_000_000) text = text.slice(-200_000);
      }
    })();
  }
  const url = (path: string) => `http://127.0.0.1:${adminPort}${path}`;
  return {
    proc,
    pid: proc.pid, // taskset execs the binary: same pid
    adminPort,
    dataDir,
    url,
    logs: () => text,
    async waitReady(since, timeoutMs = 30_000) {
      const deadline = performance.now() + timeoutMs;
      let last = "";
      while (performance.now() < deadline) {
        try {
          const res = await fetch(url("/readyz"));
          last = await res.text();
          if (res.status === 200) return performance.now() - since;
        } catch (err) {
          last = String(err);
        }
        if (proc.exitCode !== null) break;
        await Bun.sleep(5);
      }
      throw new Error(`Cannot get the daemon ready within ${timeoutMs} ms: ${last}\n${text.slice(-3000)}`);
    },
    async metric(name, labels = {}) {
      const body = await (await fetch(url("/metrics"))).text();
      let sum = 0;
      for (const line of body.split("\n")) {
        if (!line.startsWith(name)) continue;
        const rest = line.slice(name.length);
        if (rest[0] !== "{" && rest[0] !== " ") continue;
        if (!Object.entries(labels).every(([k, v]) => rest.includes(`${k}="${v}"`))) continue;
        sum += Number(line.slice(line.lastIndexOf(" ") + 1));
      }
      return sum;
    },
    async stop() {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}
