/**
 * Builds the real executable once per test run and starts it as a child process, the way an
 * operator would: configuration through CLOUD_NOTIFYD_* variables, logs on stderr.
 */
import { mkdtempSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = resolve(import.meta.dir, "../..");
export const BINARY = join(ROOT, "dist/cloud-notifyd");

let built: Promise<void> | null = null;

/** Builds dist/cloud-notifyd (once per process; CI builds before the tests, so usually a no-op rebuild). */
export function ensureBinary(): Promise<void> {
  built ??= (async () => {
    const proc = Bun.spawn([process.execPath, "run", "build.ts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const code = await proc.exited;
    if (code !== 0 || !existsSync(BINARY)) {
      throw new Error(`Cannot build the binary: exit ${code}: ${await new Response(proc.stderr).text()}`);
    }
  })();
  return built;
}

export async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export interface Daemon {
  proc: Subprocess;
  adminPort: number;
  dataDir: string;
  url(path: string): string;
  /** Everything the process wrote to stderr/stdout so far. */
  logs(): string;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  waitReady(timeoutMs?: number): Promise<void>;
  stop(): Promise<number>;
  kill9(): Promise<void>;
}

export interface DaemonOptions {
  env: Record<string, string>;
  dataDir?: string;
  args?: string[];
  /** Variables of the defaults above to leave out (e.g. CLOUD_NOTIFYD_LOG_LEVEL, so a config file's counts). */
  unset?: string[];
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  await ensureBinary();
  const adminPort = await freePort();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "cnd-data-"));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    CLOUD_NOTIFYD_ADMIN_PORT: String(adminPort),
    CLOUD_NOTIFYD_DATA_DIR: dataDir,
    CLOUD_NOTIFYD_LOG_LEVEL: "debug",
    ...opts.env,
  };
  for (const name of opts.unset ?? []) delete env[name];
  const proc = Bun.spawn([BINARY, ...(opts.args ?? [])], { env, stdout: "pipe", stderr: "pipe" });
  let text = "";
  const waiters = new Set<() => void>();
  for (const stream of [proc.stdout, proc.stderr]) {
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream as ReadableStream<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        for (const w of waiters) w();
      }
    })();
  }
  const daemon: Daemon = {
    proc,
    adminPort,
    dataDir,
    url: (path) => `http://127.0.0.1:${adminPort}${path}`,
    logs: () => text,
    waitForLog(pattern, timeoutMs = 15000) {
      return new Promise((resolvePromise, reject) => {
        const check = () => {
          const m = text.match(pattern);
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            resolvePromise(m[0]);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`Cannot see ${pattern} in daemon logs within ${timeoutMs} ms:\n${text.slice(-3000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async waitReady(timeoutMs = 20000) {
      const deadline = Date.now() + timeoutMs;
      let last = "";
      while (Date.now() < deadline) {
        try {
          const res = await fetch(daemon.url("/readyz"));
          last = await res.text();
          if (res.status === 200) return;
        } catch (err) {
          last = String(err);
        }
        await Bun.sleep(50);
      }
      throw new Error(`Daemon not ready within ${timeoutMs} ms: ${last}\n${text.slice(-3000)}`);
    },
    async stop() {
      proc.kill("SIGTERM");
      return proc.exited;
    },
    async kill9() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
  return daemon;
}
