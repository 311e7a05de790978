/**
 * Prosody under `valgrind --tool=callgrind`, for counting the instructions a phase of work costs it
 * (instructions do not depend on the machine's load, unlike CPU time). The Prosody is configured by
 * test/helpers/prosody.ts (same config file, ports and data), stopped, and started again here as
 * `valgrind --tool=callgrind --instr-atstart=no lua5.4 /usr/bin/prosody -F --config …`; the phase is
 * bracketed with `callgrind_control -i on` and `callgrind_control -d` (the dump holds exactly the
 * instructions since instrumentation was switched on). Prosody 13 runs the same way inside the chroot
 * of scripts/prosody13-chroot.sh: the host's valgrind launcher (a copy in the temp dir) and its tools
 * (/usr/libexec/valgrind, bind-mounted) run inside it.
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";

import type { ProsodyInstance } from "../../test/helpers/prosody.ts";
import { ensureVisibleInChroot, prosody13Root } from "../../test/helpers/prosody13-chroot.ts";

const VALGRIND_LIB = "/usr/libexec/valgrind";

export interface CallgrindProsody {
  pid: number;
  /** Switches instrumentation on: counting starts now. */
  start(): void;
  /** Dumps the counts since start(); returns the dump's total instructions (Ir) and its file. */
  dump(): Promise<{ instructions: number; file: string }>;
  /** User + system CPU ticks of the process so far (to tell busy from idle). */
  ticks(): number;
  stop(): Promise<void>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      ok(true);
    });
    socket.once("error", () => ok(false));
  });
}

function control(args: string[]): string {
  const r = spawnSync("callgrind_control", args, { encoding: "utf8" });
  if (r.status !== 0 || !/OK/.test(r.stdout)) {
    throw new Error(`Cannot run callgrind_control ${args.join(" ")}: ${(r.stdout + r.stderr).trim().split("\n").slice(-2).join(" ")}`);
  }
  return r.stdout;
}

/** Restarts the (stopped) Prosody `p` under callgrind, writing dumps to `outDir`; resolves when its ports accept. */
export async function startUnderCallgrind(p: ProsodyInstance, outDir: string): Promise<CallgrindProsody> {
  const valgrindArgs = ["--tool=callgrind", "--instr-atstart=no", `--callgrind-out-file=${join(outDir, "callgrind.out")}`];
  let cmd: string;
  let args: string[];
  let env: Record<string, string> | undefined;
  if (p.version === "13") {
    // The chroot has no valgrind: the host's launcher (copied under the temp dir, which is mounted
    // inside) runs in it with its tools from VALGRIND_LIB, bind-mounted at the same path.
    const launcherDir = join(tmpdir(), "cnd-valgrind-launcher");
    mkdirSync(launcherDir, { recursive: true });
    const launcher = join(launcherDir, "valgrind.bin"); // callgrind_control looks for "valgrind.bin" in the command
    // (/usr/bin/valgrind is Debian's shell wrapper around valgrind.bin.)
    if (!existsSync(launcher)) copyFileSync(existsSync("/usr/bin/valgrind.bin") ? "/usr/bin/valgrind.bin" : "/usr/bin/valgrind", launcher);
    ensureVisibleInChroot([VALGRIND_LIB, tmpdir(), outDir]);
    cmd = "/usr/sbin/chroot";
    args = [prosody13Root(), launcher, ...valgrindArgs, "/usr/bin/lua5.4", "/usr/bin/prosody", "-F", "--config", p.configPath];
    const passOn = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("BENCH_PROFILE_"))) as Record<
      string,
      string
    >;
    env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8", VALGRIND_LIB, ...passOn };
  } else {
    cmd = "/usr/bin/valgrind";
    args = [...valgrindArgs, "lua5.4", "/usr/bin/prosody", "-F", "--config", p.configPath];
  }
  const child: ChildProcess = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], cwd: p.version === "13" ? "/" : undefined, env });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  let dead = false;
  const exited = new Promise<void>((ok) => child.once("exit", () => ((dead = true), ok())));
  const killAtExit = () => child.kill("SIGKILL");
  process.once("exit", killAtExit);
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (dead) throw new Error(`Cannot start Prosody under callgrind: it exited\n${output.slice(-2000)}`);
    if ((await canConnect(p.c2sPort)) && (await canConnect(p.componentPort))) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`Cannot start Prosody under callgrind: ports not ready after 120 s\n${output.slice(-2000)}`);
    }
    await Bun.sleep(200);
  }
  const pid = child.pid as number;
  let dumps = 0;
  return {
    pid,
    start() {
      control(["-i", "on", String(pid)]);
    },
    async dump() {
      control(["-d", String(pid)]);
      dumps++;
      const until = Date.now() + 30_000;
      for (;;) {
        const file = readdirSync(outDir)
          .map((f) => join(outDir, f))
          .find((f) => new RegExp(`callgrind\\.out.*\\.${dumps}$`).test(f));
        if (file !== undefined && existsSync(file)) {
          const text = readFileSync(file, "utf8");
          const m = /^(?:summary|totals): (\d+)/m.exec(text.slice(-4096)) ?? /^(?:summary|totals): (\d+)/m.exec(text);
          if (m && Number(m[1]) > 0) return { instructions: Number(m[1]), file };
        }
        if (Date.now() > until) throw new Error(`Cannot read callgrind dump ${dumps} in ${outDir}`);
        await Bun.sleep(100);
      }
    },
    ticks() {
      try {
        // For Prosody 13 the traced process is the same pid (chroot execs).
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return Number(f[11]) + Number(f[12]);
      } catch {
        return Number.NaN;
      }
    },
    async stop() {
      process.removeListener("exit", killAtExit);
      if (dead) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `callgrind_annotate` of a dump: the `limit` functions with the highest self cost, as printed. */
export function annotate(file: string, limit = 25, inclusive = false): string {
  const r = spawnSync("callgrind_annotate", [`--threshold=100`, ...(inclusive ? ["--inclusive=yes"] : []), file], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const lines = (r.stdout ?? "").split("\n");
  const at = lines.findIndex((l) => /file:function/.test(l));
  return lines.slice(Math.max(at, 0), Math.max(at, 0) + limit + 2).join("\n");
}
