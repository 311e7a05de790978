/**
 * What each push system costs Prosody per message, in instructions (callgrind), which do not move
 * with the machine's load the way CPU time does. For each workload, the same fixed sequence of
 * messages goes through a fresh Prosody running under `valgrind --tool=callgrind` with
 * (0) no push module, (a) the bridge + the compiled daemon, (b) mod_cloud_notify; only the message
 * phase is counted (bench/lib/callgrind-prosody.ts: instrumentation on after the warm-up, a dump
 * once everything settled). Prints instructions per message for each system and
 * `(a − 0) / (b − 0)`: our overhead in Prosody against mod_cloud_notify's. Every system runs
 * `runs` times (default 2) and the spread between runs is printed; the daemon's own CPU per message
 * (user + sys from /proc, less its idle CPU rate measured for 10 s before the phase, times the
 * phase's length) is printed beside it (median over the runs; 10 ms ticks, so ± 0.1 ms at 100 messages).
 *
 * Workloads (one sender, s0, one message at a time: message, then a ping; the next message goes
 * after the ping's reply and once Prosody is idle again, so every run does the same work in the
 * same order):
 *   offline     messages to 10 offline users with one registration each (offline storage + MAM)
 *   hibernation messages to 20 users whose only session hibernates (XEP-0198: the client enabled
 *               stream management and push, then its TCP connection dropped without closing the
 *               stream); each user's next message comes > 1 s after the previous one, after both
 *               systems' 1 s batch timer has fired, so every message is one push
 *   archive     messages to 10 users with a desktop online (no push) and a phone offline that
 *               registered for push (MAM: the archive path)
 *
 * Run: node_modules/.bin/bun bench/prosody-cost.ts [messages=100] [--version=0.12|13] [--runs=2]
 *        [--workloads=offline,hibernation,archive] [--systems=none,daemon,cloud_notify[,bridge]] [--profile]
 *        [--bridge-dir=DIR] [--publish-from=component] [--prosody-config=LUA]
 * --prosody-config adds one line to Prosody's global configuration for every system (e.g.
 *   "network_settings = { opportunistic_writes = true }");
 * --bridge-dir loads DIR/mod_cloud_notifyd.lua instead of contrib/prosody's (to measure a bridge change);
 * --publish-from=component makes the daemon publish from its own JID (no publish-as-host relay);
 * --lua-profile adds a Lua-level profile of the phase (see LUA_PROFILE).
 * --profile prints callgrind_annotate's top functions of the last run of each system; the dumps
 * stay in the directory printed at the start. Takes ≈ 1 minute per system and run and workload.
 * @module
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Element } from "ltx";

import { BRIDGE_VERSION, NS_BRIDGE } from "../src/xmpp/ns.ts";
import { connectComponent, type TestComponent } from "../test/helpers/xml-socket.ts";
import { disposeProsody, startProsody, type ProsodyInstance } from "../test/helpers/prosody.ts";
import { DEFAULT_PROSODY_VERSION, type ProsodyVersion } from "../test/helpers/prosody-versions.ts";
import { annotate, startUnderCallgrind, type CallgrindProsody } from "./lib/callgrind-prosody.ts";
import { connectSender, type C2sSender } from "./lib/c2s-sender.ts";
import { startDaemonProcess, type DaemonProcess } from "./lib/daemon-process.ts";
import { cpuSeconds, fmtInt, percentile, result } from "./lib/stats.ts";

type Workload = "offline" | "hibernation" | "archive";
/** `bridge`: the bridge with a stand-in daemon that says hello and nothing else: what the events alone cost Prosody. */
type System = "none" | "daemon" | "cloud_notify" | "bridge";

const positional = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const MESSAGES = Number(positional[0] ?? 100);
const RUNS = Math.max(1, Number(flag("runs") ?? 2));
const VERSION = (flag("version") ?? DEFAULT_PROSODY_VERSION) as ProsodyVersion;
const WORKLOADS = (flag("workloads") ?? "offline,hibernation,archive").split(",") as Workload[];
const SYSTEMS = (flag("systems") ?? "none,daemon,cloud_notify").split(",") as System[];
const PROFILE = process.argv.includes("--profile");
/** A bridge to load instead of contrib/prosody/mod_cloud_notifyd.lua (a directory holding mod_cloud_notifyd.lua), to measure a change. */
const BRIDGE_DIR = flag("bridge-dir");
/** --publish-from=component: the daemon publishes from its component JID (D15 off): no publish-as-host relay through the bridge. */
const PUBLISH_FROM = flag("publish-from");
/**
 * --lua-profile: also load bench/lib/prosody/mod_bench_profile.lua (a Lua VM-instruction sampler,
 * deterministic like callgrind, counting the phase only) and sum its stacks by module with
 * bench/lib/prosody-profile.py. The hook costs instructions itself: a profiled run's counts are not
 * comparable with the others.
 */
const LUA_PROFILE = process.argv.includes("--lua-profile");
/** --prosody-config=LUA: one more line of Prosody's global configuration for every system (e.g. network_settings). */
const PROSODY_CONFIG = flag("prosody-config") ?? "";
const PROFILE_DIR = join(import.meta.dir, "lib/prosody");
const USERS: Record<Workload, number> = { offline: 10, hibernation: 20, archive: 10 };
const SECRET = "bench-secret";
const APP_SECRET = "bench-app-secret";
const PASSWORD = "pw";
const NS_PUSH = "urn:xmpp:push:0";
/** Fixed-width ids and bodies: every message has the same size in every run. */
const BODY = "Hi there, this is a benchmark message of fixed length.";

const outRoot = mkdtempSync(join(tmpdir(), "cnd-prosody-cost-"));
console.log(
  `# Prosody ${VERSION} under callgrind: ${MESSAGES} messages per workload (${WORKLOADS.join(", ")}), systems ${SYSTEMS.join(", ")}, ` +
    `${RUNS} run(s) each${BRIDGE_DIR ? `; bridge from ${BRIDGE_DIR}` : ""}${PUBLISH_FROM ? `; publish_from = ${PUBLISH_FROM}` : ""}; dumps in ${outRoot}`,
);

interface Measure {
  instructions: number;
  publishes: number;
  daemonUs: number;
  file: string;
}

const results: Record<string, Measure[]> = {};
let exitCode = 0;
for (const workload of WORKLOADS) {
  for (let run = 1; run <= RUNS; run++) {
    for (const system of SYSTEMS) {
      const key = `${workload}/${system}`;
      try {
        const m = await measure(workload, system, run);
        (results[key] ??= []).push(m);
        console.log(
          `${key} run ${run}: ${fmtInt(m.instructions / MESSAGES)} instructions/message, ${m.publishes} publishes` +
            (system === "daemon" ? `, daemon CPU ${m.daemonUs.toFixed(0)} µs/message` : ""),
        );
      } catch (err) {
        console.error(`${key} run ${run}: ${err instanceof Error ? err.message : err}`);
        exitCode = 1;
      }
    }
  }
}

console.log(`\n## Prosody ${VERSION}: instructions per message (median of ${RUNS} run(s); spread = (max − min) / min)`);
const median = (xs: number[]) => percentile(xs, 0.5);
for (const workload of WORKLOADS) {
  const per = (s: System) => (results[`${workload}/${s}`] ?? []).map((m) => m.instructions / MESSAGES);
  const cells: string[] = [];
  for (const s of SYSTEMS) {
    const xs = per(s);
    if (xs.length === 0) continue;
    const spread = (Math.max(...xs) - Math.min(...xs)) / Math.min(...xs);
    cells.push(`${s} ${fmtInt(median(xs))} (runs ${xs.map(fmtInt).join(" / ")}, spread ${(spread * 100).toFixed(2)} %)`);
    result(
      `cost.${VERSION}.${workload}.${s}.instructions_per_message`,
      Math.round(median(xs)),
      `instructions (spread ${(spread * 100).toFixed(2)} %)`,
    );
  }
  console.log(`${workload}: ${cells.join("; ")}`);
  const base = per("none");
  const a = per("daemon");
  const b = per("cloud_notify");
  if (base.length > 0 && a.length > 0 && b.length > 0) {
    const ratios = Array.from({ length: Math.min(base.length, a.length, b.length) }, (_, i) => (a[i]! - base[i]!) / (b[i]! - base[i]!));
    console.log(
      `${workload}: overhead bridge + daemon ${fmtInt(median(a) - median(base))}, mod_cloud_notify ${fmtInt(median(b) - median(base))} instructions/message; ` +
        `(a − 0)/(b − 0) = ${((median(a) - median(base)) / (median(b) - median(base))).toFixed(3)} (per run ${ratios.map((r) => r.toFixed(3)).join(", ")})`,
    );
    result(`cost.${VERSION}.${workload}.ratio`, (median(a) - median(base)) / (median(b) - median(base)), "(a − 0)/(b − 0) (target ≤ 0.5)");
  }
  const events = per("bridge");
  if (base.length > 0 && events.length > 0) {
    console.log(
      `${workload}: the bridge's events alone (stand-in daemon, no acks, no publishes): ${fmtInt(median(events) - median(base))} instructions/message`,
    );
    result(`cost.${VERSION}.${workload}.bridge_events_only`, Math.round(median(events) - median(base)), "instructions/message over none");
  }
  const d = (results[`${workload}/daemon`] ?? []).map((m) => m.daemonUs);
  if (d.length > 0) {
    console.log(`${workload}: daemon CPU per message ${d.map((x) => x.toFixed(0)).join(" / ")} µs (median ${median(d).toFixed(0)})`);
    result(`cost.${VERSION}.${workload}.daemon_us_per_message`, Math.round(median(d)), "µs CPU (median of runs; user+sys from /proc)");
  }
}
if (PROFILE) {
  for (const [key, list] of Object.entries(results)) {
    const last = list[list.length - 1];
    if (last === undefined) continue;
    console.log(`\n## ${key}: callgrind_annotate (self cost), ${last.file}\n${annotate(last.file, 30)}`);
  }
}
process.exit(exitCode);

async function measure(workload: Workload, system: System, run: number): Promise<Measure> {
  const outDir = join(outRoot, `${workload}-${system}-${run}`);
  mkdirSync(outDir, { recursive: true });
  const prosody = await startProsody({
    version: VERSION,
    componentSecret: SECRET,
    bridge: (system === "daemon" || system === "bridge") && BRIDGE_DIR === undefined,
    extraModules: [
      ...(system === "cloud_notify" ? ["cloud_notify"] : system !== "none" && BRIDGE_DIR !== undefined ? ["cloud_notifyd"] : []),
      ...(LUA_PROFILE ? ["bench_profile"] : []),
    ],
    pluginPaths: [
      ...(system !== "none" && system !== "cloud_notify" && BRIDGE_DIR !== undefined ? [BRIDGE_DIR] : []),
      ...(LUA_PROFILE ? [PROFILE_DIR] : []),
    ],
    hostConfig:
      system !== "none" && system !== "cloud_notify" && BRIDGE_DIR !== undefined
        ? `  cloud_notifyd_component = "push.localhost"`
        : undefined,
    extraGlobalConfig: `log = { warn = ${JSON.stringify(join(outDir, "prosody.log"))} }\n${PROSODY_CONFIG}\n`,
    extraConfig: `Component "app.localhost"\n  component_secret = "${APP_SECRET}"\n`,
  });
  let cg: CallgrindProsody | null = null;
  let daemon: DaemonProcess | null = null;
  let app: TestComponent | null = null;
  let standIn: TestComponent | null = null;
  const clients: C2sSender[] = [];
  try {
    const users = Array.from({ length: USERS[workload] }, (_, i) => `${workload[0]}${String(i).padStart(2, "0")}`);
    writeAccounts(prosody, [...users, "s0"]);
    await prosody.stop();
    const luaProfile = join(outDir, "lua-profile.txt");
    process.env.BENCH_PROFILE_OUT = luaProfile; // read by mod_bench_profile (inherited by Prosody)
    process.env.BENCH_PROFILE_ON_REQUEST = "1";
    cg = await startUnderCallgrind(prosody, outDir);
    const vg = cg;
    if (system === "daemon") {
      daemon = await startDaemonProcess({
        env: {
          CLOUD_NOTIFYD_HOST: prosody.host,
          CLOUD_NOTIFYD_COMPONENT_DOMAIN: prosody.componentDomain,
          CLOUD_NOTIFYD_COMPONENT_PORT: String(prosody.componentPort),
          CLOUD_NOTIFYD_COMPONENT_SECRET: SECRET,
          CLOUD_NOTIFYD_LOG_LEVEL: "warn",
          ...(PUBLISH_FROM ? { CLOUD_NOTIFYD_PUBLISH_FROM: PUBLISH_FROM } : {}),
        },
      });
      await daemon.waitReady(performance.now(), 120_000);
    }
    if (system === "bridge") {
      // Says hello (the daemon's protocol version) so that the bridge sends its events live; never acknowledges them.
      standIn = await connectComponent({ port: prosody.componentPort, domain: prosody.componentDomain, secret: SECRET });
      const reply = await standIn.iq(
        new Element("iq", { type: "get", from: prosody.componentDomain, to: prosody.host, id: "hello-1" })
          .c("hello", { xmlns: NS_BRIDGE, version: BRIDGE_VERSION })
          .root(),
        120_000,
      );
      if (reply.attrs.type !== "result") throw new Error(`Cannot say hello to the bridge: ${reply.toString().slice(0, 200)}`);
    }
    const appService = await connectComponent({ port: prosody.componentPort, domain: "app.localhost", secret: APP_SECRET });
    app = appService;
    let publishes = 0;
    appService.onStanza((el) => {
      if (el.name !== "iq" || el.attrs.type !== "set" || el.getChild("pubsub")?.getChild("publish") === undefined) return false;
      appService.send(new Element("iq", { type: "result", from: "app.localhost", to: el.attrs.from, id: el.attrs.id }));
      publishes++;
      return true;
    });
    const login = (user: string, resource: string, more: { sm?: boolean; presence?: boolean } = {}) =>
      connectSender({ port: prosody.c2sPort, host: prosody.host, user, password: PASSWORD, resource, ...more });
    const pushes = system === "daemon" || system === "cloud_notify";
    async function enablePush(client: C2sSender, user: string): Promise<void> {
      await client.send(`<iq type='set' id='en-${user}'><enable xmlns='${NS_PUSH}' jid='app.localhost' node='${user}'/></iq>`);
      const reply = await client.waitFor(
        (s) => s.includes(`'en-${user}'`) || s.includes(`"en-${user}"`),
        `the enable reply for ${user}`,
        60_000,
      );
      if (!/type=['"]result['"]/.test(reply)) throw new Error(`Cannot enable push for ${user}: ${reply.slice(0, 200)}`);
    }

    // Set-up: who is online, hibernating or offline, and who registered.
    for (const user of users) {
      if (workload === "offline") {
        if (!pushes) continue;
        const phone = await login(user, "phone");
        await enablePush(phone, user);
        phone.close();
      } else if (workload === "hibernation") {
        const phone = await login(user, "phone", { sm: true, presence: true });
        if (pushes) await enablePush(phone, user);
        phone.drop();
      } else {
        if (pushes) {
          const phone = await login(user, "phone");
          await enablePush(phone, user);
          phone.close();
        }
        clients.push(await login(user, "desktop", { presence: true }));
      }
    }
    const sender = await login("s0", "bench");
    clients.push(sender);
    await idle(vg, 1500);

    let counter = 0;
    async function message(user: string): Promise<void> {
      const n = String(++counter).padStart(6, "0");
      await sender.send(
        `<message to='${user}@${prosody.host}' type='chat' id='m${n}'><body>${BODY}</body></message><iq type='get' to='${prosody.host}' id='p${n}'><ping xmlns='urn:xmpp:ping'/></iq>`,
      );
      await sender.waitFor((s) => s.includes(`'p${n}'`) || s.includes(`"p${n}"`), `the ping reply p${n}`, 60_000);
      await idle(vg, 120);
    }

    // Warm-up: one message per user (for hibernation: each session's first push, which restores its timeout).
    for (const user of users) await message(user);
    await idle(vg, 3000);
    // The daemon's CPU while nothing happens (timers: history flush, metrics), subtracted below.
    let idleRate = 0;
    if (daemon !== null) {
      const c0 = await cpuSeconds(daemon.pid);
      const t0 = performance.now();
      await Bun.sleep(10_000);
      idleRate = ((await cpuSeconds(daemon.pid)) - c0) / ((performance.now() - t0) / 1000);
    }

    const publishesBefore = publishes;
    const daemonCpu0 = daemon === null ? 0 : await cpuSeconds(daemon.pid);
    if (LUA_PROFILE) {
      writeFileSync(`${luaProfile}.reset`, "");
      while (existsSync(`${luaProfile}.reset`)) await Bun.sleep(50);
    }
    const phaseStart = performance.now();
    vg.start();
    for (let i = 0; i < MESSAGES; i++) await message(users[i % users.length]!);
    // Everything the phase started: batch timers (1 s), the daemon's answers, the app's results, acks.
    const want = publishesBefore + (pushes ? MESSAGES : 0);
    const until = performance.now() + 60_000;
    while (publishes < want && performance.now() < until) await Bun.sleep(20);
    await idle(vg, 3000);
    const dump = await vg.dump();
    const phaseSeconds = (performance.now() - phaseStart) / 1000;
    const daemonCpu = daemon === null ? 0 : Math.max(0, (await cpuSeconds(daemon.pid)) - daemonCpu0 - idleRate * phaseSeconds);
    const got = publishes - publishesBefore;
    if (LUA_PROFILE) {
      writeFileSync(`${luaProfile}.dump`, ""); // the profiler writes its counts within a second
      while (existsSync(`${luaProfile}.dump`)) await Bun.sleep(50);
      const r = Bun.spawnSync(["python3", join(PROFILE_DIR, "../prosody-profile.py"), luaProfile], { stdout: "pipe", stderr: "pipe" });
      console.log(`${workload}/${system} Lua profile (${luaProfile}):\n${r.stdout.toString()}`);
    }
    if (pushes && got !== MESSAGES) console.log(`WARNING: ${workload}/${system}: ${got} publishes for ${MESSAGES} messages`);
    return { instructions: dump.instructions, publishes: got, daemonUs: (daemonCpu / MESSAGES) * 1e6, file: dump.file };
  } finally {
    for (const c of clients) c.close();
    await app?.close();
    await standIn?.close();
    await daemon?.stop();
    await cg?.stop();
    await disposeProsody(prosody);
  }
}

/** Waits until Prosody has used no CPU for `quietMs` (its CPU ticks stand still). */
async function idle(cg: CallgrindProsody, quietMs: number): Promise<void> {
  const step = Math.min(60, quietMs);
  let last = cg.ticks();
  let quietSince = performance.now();
  const deadline = performance.now() + 120_000;
  while (performance.now() - quietSince < quietMs) {
    if (performance.now() > deadline) throw new Error("Cannot see Prosody go idle within 120 s");
    await Bun.sleep(step);
    const now = cg.ticks();
    if (now !== last) {
      last = now;
      quietSince = performance.now();
    }
  }
}

/** internal_plain accounts written straight into Prosody's data directory. */
function writeAccounts(prosody: ProsodyInstance, names: string[]): void {
  const dir = join(prosody.dir, "data", encodeURIComponent(prosody.host).replaceAll("%", "%25"), "accounts");
  mkdirSync(dir, { recursive: true });
  for (const name of names) writeFileSync(join(dir, `${name}.dat`), `return {\n\t["password"] = ${JSON.stringify(PASSWORD)};\n};\n`);
}
