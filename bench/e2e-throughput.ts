/**
 * End to end, in one run: a flood of chat messages to offline users who registered for push,
 * through a real Prosody with (a) the bridge + the compiled daemon, then (b) Debian's
 * mod_cloud_notify (prosody-modules) instead. Registrations are made by real client enables
 * (slixmpp, test/helpers/xmpp-client.ts); messages come from raw c2s senders (bench/lib);
 * a test app service component (`app.localhost`) receives the publishes and answers results.
 * Prints, per system, publishes/s at the app service and latency p50/p99 from message sent to
 * publish received, once at a fixed moderate rate and once under the flood; then the ratios.
 *
 * Prosody's own CPU per message on this shared VM varies by ±30 % from run to run (its storage
 * does most of the work), so the two systems run BENCH_E2E_ROUNDS times (default 3), alternating
 * which goes first, each on a fresh Prosody; the RESULT lines are the medians over the rounds
 * (the ratios: the median of the per-round ratios), and every round is printed.
 *
 * Run: node_modules/.bin/bun bench/e2e-throughput.ts [messages=10000] [users=20] [senders=4] [rate=100]
 * @module
 */
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Element } from "ltx";

import { connectComponent, type TestComponent } from "../test/helpers/xml-socket.ts";
import { startClient } from "../test/helpers/xmpp-client.ts";
import { disposeProsody, startProsody, type ProsodyInstance } from "../test/helpers/prosody.ts";
import { connectSender, type C2sSender } from "./lib/c2s-sender.ts";
import { startDaemonProcess, type DaemonProcess } from "./lib/daemon-process.ts";
import { cpuSeconds, fmtInt, fmtMs, percentile, result, roundsText } from "./lib/stats.ts";

const MESSAGES = Number(process.argv[2] ?? 10_000);
const USERS = Number(process.argv[3] ?? 20);
const SENDERS = Number(process.argv[4] ?? 4);
const RATE = Number(process.argv[5] ?? 100);
/** Length of the paced phase: 10 s at 100 msg/s gives 1,000 latency samples, enough for a stable p99. */
const PACED_SECONDS = Number(process.env.BENCH_PACED_SECONDS ?? 10);
const SECRET = "bench-secret";
const APP_SECRET = "bench-app-secret";
const PASSWORD = "pw";
const NS_PUSH = "urn:xmpp:push:0";

type System = "daemon" | "mod_cloud_notify" | "no-push";

interface Phase {
  messages: number;
  publishes: number;
  seconds: number;
  latencies: number[];
  extra: number;
}

interface Run {
  paced: Phase;
  flood: Phase;
  prosodyUs: number;
  daemonUs: number;
}

const ROUNDS = Math.max(1, Number(process.env.BENCH_E2E_ROUNDS ?? 3));
const runs: Record<"daemon" | "mod_cloud_notify", Run[]> = { daemon: [], mod_cloud_notify: [] };
let exitCode = 0;

/** BENCH_PROSODY_PROFILE=1: load bench/lib/prosody/mod_bench_profile.lua (Lua sampling profiler). */
const PROFILE = process.env.BENCH_PROSODY_PROFILE === "1";
const ALL_SYSTEMS = ["no-push", "daemon", "mod_cloud_notify"] as const;
// BENCH_SYSTEMS=daemon,mod_cloud_notify runs a subset (for quick experiments).
const SYSTEMS = ALL_SYSTEMS.filter((s) => (process.env.BENCH_SYSTEMS ?? ALL_SYSTEMS.join(",")).split(",").includes(s));
const pushSystems = SYSTEMS.filter((s): s is "daemon" | "mod_cloud_notify" => s !== "no-push");
// Every round: the baseline first (it is what the other two add to), then both systems, alternating which goes first.
const order: System[] = [];
for (let r = 0; r < ROUNDS; r++) {
  if (SYSTEMS.includes("no-push")) order.push("no-push");
  order.push(...(r % 2 === 0 ? pushSystems : [...pushSystems].reverse()));
}
const baseline: Array<{ perS: number; prosodyUs: number }> = [];
for (const system of order) {
  try {
    const run = await runSystem(system);
    if (system !== "no-push") runs[system].push(run);
    else baseline.push({ perS: run.flood.messages / run.flood.seconds, prosodyUs: run.prosodyUs });
  } catch (err) {
    console.error(`${system}: ${err instanceof Error ? err.stack : err}`);
    exitCode = 1;
  }
}

const thr = (p: Phase) => p.publishes / p.seconds;
if (baseline.length > 0) {
  console.log(`no-push, ${baseline.length} round(s):`);
  console.log(
    `  messages/s stored: ${roundsText(
      baseline.map((b) => b.perS),
      fmtInt,
    )}`,
  );
  console.log(
    `  Prosody µs/message: ${roundsText(
      baseline.map((b) => b.prosodyUs),
      fmtInt,
    )}`,
  );
  result(
    "e2e.no_push.messages_per_s",
    Math.round(
      percentile(
        baseline.map((b) => b.perS),
        0.5,
      ),
    ),
    "messages/s (median)",
  );
  result(
    "e2e.no_push.prosody_us_per_message",
    Math.round(
      percentile(
        baseline.map((b) => b.prosodyUs),
        0.5,
      ),
    ),
    "µs CPU (median)",
  );
}
const p99 = (p: Phase) => percentile(p.latencies, 0.99);
const median = (xs: number[]) => percentile(xs, 0.5);
for (const [system, list] of Object.entries(runs)) {
  if (list.length === 0) continue;
  const key = system === "daemon" ? "daemon" : "cloud_notify";
  console.log(`${system}, ${list.length} round(s):`);
  console.log(
    `  flood publishes/s: ${roundsText(
      list.map((x) => thr(x.flood)),
      fmtInt,
    )}`,
  );
  console.log(
    `  Prosody µs/message (flood): ${roundsText(
      list.map((x) => x.prosodyUs),
      fmtInt,
    )}`,
  );
  if (system === "daemon")
    console.log(
      `  daemon µs/message (flood): ${roundsText(
        list.map((x) => x.daemonUs),
        fmtInt,
      )}`,
    );
  console.log(
    `  paced p50 / p99: ${roundsText(
      list.map((x) => percentile(x.paced.latencies, 0.5)),
      fmtMs,
    )}; ${roundsText(
      list.map((x) => p99(x.paced)),
      fmtMs,
    )}`,
  );
  console.log(
    `  flood p50 / p99: ${roundsText(
      list.map((x) => percentile(x.flood.latencies, 0.5)),
      fmtMs,
    )}; ${roundsText(
      list.map((x) => p99(x.flood)),
      fmtMs,
    )}`,
  );
  result(`e2e.${key}.prosody_us_per_message`, Math.round(median(list.map((x) => x.prosodyUs))), "µs CPU (median)");
  if (system === "daemon") result(`e2e.${key}.daemon_us_per_message`, Math.round(median(list.map((x) => x.daemonUs))), "µs CPU (median)");
  result(`e2e.${key}.flood_publishes_per_s`, Math.round(median(list.map((x) => thr(x.flood)))), "publishes/s (median)");
  result(`e2e.${key}.flood_p50`, median(list.map((x) => percentile(x.flood.latencies, 0.5))), "ms (median)");
  result(`e2e.${key}.flood_p99`, median(list.map((x) => p99(x.flood))), "ms (median)");
  result(`e2e.${key}.paced_p50`, median(list.map((x) => percentile(x.paced.latencies, 0.5))), "ms (median)");
  result(`e2e.${key}.paced_p99`, median(list.map((x) => p99(x.paced))), "ms (median)");
}
const pairs = Math.min(runs.daemon.length, runs.mod_cloud_notify.length);
if (pairs > 0) {
  const ratios = (f: (p: Run) => number) => Array.from({ length: pairs }, (_, i) => f(runs.daemon[i]!) / f(runs.mod_cloud_notify[i]!));
  const report = (name: string, values: number[], unit: string) => {
    console.log(`${name} per round: ${roundsText(values)}`);
    result(name, median(values), unit);
  };
  report(
    "e2e.throughput_ratio",
    ratios((x) => thr(x.flood)),
    "× (daemon / mod_cloud_notify, flood; median round)",
  );
  report(
    "e2e.p99_ratio_paced",
    ratios((x) => p99(x.paced)),
    `× (daemon / mod_cloud_notify, ${RATE} msg/s; median round)`,
  );
  report(
    "e2e.p99_ratio_flood",
    ratios((x) => p99(x.flood)),
    "× (daemon / mod_cloud_notify, flood; median round)",
  );
}
process.exit(exitCode);

async function runSystem(system: System): Promise<Run> {
  console.log(
    `# ${system}: ${fmtInt(MESSAGES)} messages to ${USERS} offline users from ${SENDERS} raw c2s senders; paced phase ${RATE} msg/s for ${PACED_SECONDS} s`,
  );
  const logDir = mkdtempSync(join(tmpdir(), "cnd-e2e-log-"));
  const prosody = await startProsody({
    componentSecret: SECRET,
    bridge: system === "daemon",
    extraModules: [...(system === "mod_cloud_notify" ? ["cloud_notify"] : []), ...(PROFILE ? ["bench_profile"] : [])],
    pluginPaths: PROFILE ? [join(import.meta.dir, "lib/prosody")] : [],
    // The helper logs at debug level; a benchmark must not pay for that: warnings only.
    extraGlobalConfig:
      `log = { warn = ${JSON.stringify(join(logDir, "prosody.log"))} }\n` +
      (process.env.BENCH_PROSODY_NODELAY ? "network_settings = { nagle = false }\n" : ""),
    extraConfig: `Component "app.localhost"\n  component_secret = "${APP_SECRET}"\n`,
  });
  let daemon: DaemonProcess | null = null;
  let app: TestComponent | null = null;
  const senders: C2sSender[] = [];
  try {
    writeAccounts(prosody, [...users(), ...senderNames()]);
    if (system === "daemon") {
      daemon = await startDaemonProcess({
        env: {
          CLOUD_NOTIFYD_HOST: prosody.host,
          CLOUD_NOTIFYD_COMPONENT_DOMAIN: prosody.componentDomain,
          CLOUD_NOTIFYD_COMPONENT_PORT: String(prosody.componentPort),
          CLOUD_NOTIFYD_COMPONENT_SECRET: SECRET,
          ...(process.env.BENCH_PUBLISH_FROM ? { CLOUD_NOTIFYD_PUBLISH_FROM: process.env.BENCH_PUBLISH_FROM } : {}),
        },
      });
      await daemon.waitReady(performance.now());
    }
    const appService = await connectComponent({ port: prosody.componentPort, domain: "app.localhost", secret: APP_SECRET });
    app = appService;
    const queues = new Map<string, number[]>(); // node → send times of messages not yet pushed
    let publishes = 0;
    let extra = 0;
    let lastPublishAt = 0;
    let latencies: number[] = [];
    appService.onStanza((el) => {
      if (el.name !== "iq" || el.attrs.type !== "set") return false;
      const publish = el.getChild("pubsub")?.getChild("publish");
      if (publish === undefined) return false;
      const now = performance.now();
      appService.send(new Element("iq", { type: "result", from: "app.localhost", to: el.attrs.from, id: el.attrs.id }));
      publishes++;
      lastPublishAt = now;
      const sentAt = queues.get(String(publish.attrs.node))?.shift();
      if (sentAt === undefined) extra++;
      else latencies.push(now - sentAt);
      return true;
    });

    if (system !== "no-push") await enableAll(prosody);
    for (let i = 0; i < SENDERS; i++) {
      senders.push(await connectSender({ port: prosody.c2sPort, host: prosody.host, user: `s${i}`, password: PASSWORD }));
    }

    let counter = 0;
    async function sendOne(sender: C2sSender, target: number): Promise<void> {
      const user = `t${target}`;
      const id = `m${++counter}`;
      let q = queues.get(user);
      if (q === undefined) queues.set(user, (q = []));
      q.push(performance.now());
      await sender.send(`<message to='${user}@${prosody.host}' type='chat' id='${id}'><body>benchmark message ${id}</body></message>`);
    }
    const prosodyPid = findProsodyPid(prosody);
    if (system === "no-push") {
      // Baseline: Prosody alone storing the flood offline (no push module). Each sender's c2s stream is handled
      // in order, so the reply to a ping sent after its messages marks them all handled.
      for (let i = 0; i < 200; i++) await sendOne(senders[i % SENDERS] as C2sSender, i % USERS);
      await pingAll(senders, prosody.host, "warm");
      const cpu0 = await cpuSeconds(prosodyPid);
      const t0 = performance.now();
      await Promise.all(
        senders.map(async (sender, s) => {
          for (let i = s; i < MESSAGES; i += SENDERS) await sendOne(sender, i % USERS);
        }),
      );
      await pingAll(senders, prosody.host, "done");
      const secs = (performance.now() - t0) / 1000;
      const cpu = (await cpuSeconds(prosodyPid)) - cpu0;
      console.log(
        `no-push: Prosody stored ${fmtInt(MESSAGES)} offline messages in ${secs.toFixed(2)} s → ${fmtInt(MESSAGES / secs)} msg/s; Prosody CPU ${cpu.toFixed(2)} s (${((cpu / MESSAGES) * 1e6).toFixed(0)} µs/message)`,
      );
      const flood = { ...emptyPhase(), messages: MESSAGES, seconds: secs };
      return { paced: emptyPhase(), flood, prosodyUs: (cpu / MESSAGES) * 1e6, daemonUs: 0 };
    }
    async function waitPublishes(want: number, timeoutMs: number): Promise<void> {
      const deadline = performance.now() + timeoutMs;
      while (publishes < want && performance.now() < deadline) await Bun.sleep(2);
      if (publishes < want) throw new Error(`Cannot receive all publishes: ${publishes} of ${want} after ${timeoutMs} ms`);
    }
    function phase(startPublishes: number, startedAt: number, messages: number): Phase {
      const p: Phase = { messages, publishes: publishes - startPublishes, seconds: (lastPublishAt - startedAt) / 1000, latencies, extra };
      latencies = [];
      extra = 0;
      return p;
    }

    // Warm-up (JIT, storage files, caches).
    for (let i = 0; i < 200; i++) await sendOne(senders[i % SENDERS] as C2sSender, i % USERS);
    await waitPublishes(200, 30_000);
    latencies = [];

    // Paced: RATE msg/s, sent in 10 ms ticks.
    let base = publishes;
    let started = performance.now();
    const pacedCount = RATE * PACED_SECONDS;
    for (let i = 0; i < pacedCount; ) {
      const due = Math.min(pacedCount, Math.floor(((performance.now() - started) / 1000) * RATE) + 1);
      while (i < due) {
        await sendOne(senders[i % SENDERS] as C2sSender, i % USERS);
        i++;
      }
      await Bun.sleep(10);
    }
    await waitPublishes(base + pacedCount, 60_000);
    const paced = phase(base, started, pacedCount);

    // Flood: every sender writes its share as fast as its socket takes it.
    base = publishes;
    const prosodyCpu0 = await cpuSeconds(prosodyPid);
    const daemonCpu0 = daemon === null ? 0 : await cpuSeconds(daemon.pid);
    started = performance.now();
    await Promise.all(
      senders.map(async (sender, s) => {
        for (let i = s; i < MESSAGES; i += SENDERS) await sendOne(sender, i % USERS);
      }),
    );
    const sentSeconds = (performance.now() - started) / 1000;
    await waitPublishes(base + MESSAGES, 150_000);
    const flood = phase(base, started, MESSAGES);
    const prosodyCpu = (await cpuSeconds(prosodyPid)) - prosodyCpu0;
    const daemonCpu = daemon === null ? 0 : (await cpuSeconds(daemon.pid)) - daemonCpu0;
    await Bun.sleep(200);
    const late = extra;

    for (const [name, p] of [
      ["paced", paced],
      ["flood", flood],
    ] as const) {
      console.log(
        `${system} ${name}: ${fmtInt(p.publishes)} publishes for ${fmtInt(p.messages)} messages in ${p.seconds.toFixed(2)} s → ` +
          `${fmtInt(p.publishes / p.seconds)} publishes/s; latency p50 ${fmtMs(percentile(p.latencies, 0.5))}, p99 ${fmtMs(percentile(p.latencies, 0.99))}` +
          `${p.extra + (name === "flood" ? late : 0) > 0 ? `; ${p.extra} unmatched publishes` : ""}`,
      );
    }
    console.log(`${system}: the senders handed the flood to the kernel in ${sentSeconds.toFixed(2)} s`);
    console.log(
      `${system} flood CPU: Prosody ${prosodyCpu.toFixed(2)} s (${((prosodyCpu / MESSAGES) * 1e6).toFixed(0)} µs/message)` +
        (daemon === null ? "" : `, daemon ${daemonCpu.toFixed(2)} s (${((daemonCpu / MESSAGES) * 1e6).toFixed(0)} µs/message)`),
    );
    return { paced, flood, prosodyUs: (prosodyCpu / MESSAGES) * 1e6, daemonUs: (daemonCpu / MESSAGES) * 1e6 };
  } finally {
    for (const s of senders) s.close();
    await app?.close();
    await daemon?.stop();
    await disposeProsody(prosody);
  }
}

function emptyPhase(): Phase {
  return { messages: 0, publishes: 0, seconds: 0, latencies: [], extra: 0 };
}

/** The pid of this Prosody (the process whose command line names its config file). */
function findProsodyPid(prosody: ProsodyInstance): number {
  for (const entry of new Bun.Glob("[0-9]*").scanSync({ cwd: "/proc", onlyFiles: false })) {
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmd.includes(prosody.configPath) && cmd.includes("prosody")) return Number(entry);
    } catch {
      // process gone
    }
  }
  throw new Error("Cannot find the Prosody process");
}

/** Pings the server on every sender's stream and waits for all replies. */
async function pingAll(senders: C2sSender[], host: string, tag: string): Promise<void> {
  await Promise.all(
    senders.map(async (sender, i) => {
      const id = `ping-${tag}-${i}`;
      await sender.send(`<iq type='get' to='${host}' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
      const deadline = performance.now() + 150_000;
      while (!sender.received.some((st) => st.includes(id))) {
        if (performance.now() > deadline) throw new Error(`Cannot get the ping reply ${id}`);
        await Bun.sleep(2);
      }
    }),
  );
}

function users(): string[] {
  return Array.from({ length: USERS }, (_, i) => `t${i}`);
}

function senderNames(): string[] {
  return Array.from({ length: SENDERS }, (_, i) => `s${i}`);
}

/** internal_plain accounts written straight into Prosody's data directory (prosodyctl costs ~0.5 s per user). */
function writeAccounts(prosody: ProsodyInstance, names: string[]): void {
  const dir = join(prosody.dir, "data", encodeURIComponent(prosody.host).replaceAll("%", "%25"), "accounts");
  mkdirSync(dir, { recursive: true });
  for (const name of names) writeFileSync(join(dir, `${name}.dat`), `return {\n\t["password"] = ${JSON.stringify(PASSWORD)};\n};\n`);
}

/** Every target user enables push once with a real client (slixmpp), node = user name, then logs out. */
async function enableAll(prosody: ProsodyInstance): Promise<void> {
  const names = users();
  const BATCH = 10;
  for (let i = 0; i < names.length; i += BATCH) {
    await Promise.all(
      names.slice(i, i + BATCH).map(async (name) => {
        const client = await startClient({
          jid: `${name}@${prosody.host}`,
          password: PASSWORD,
          port: prosody.c2sPort,
          sm: false,
          presence: false,
        });
        try {
          const reply = await client.iq(
            `<iq type='set' id='en-${name}'><enable xmlns='${NS_PUSH}' jid='app.localhost' node='${name}'/></iq>`,
            `en-${name}`,
            15_000,
          );
          if (reply.type !== "result") throw new Error(`Cannot enable push for ${name}: ${String(reply.xml)}`);
        } finally {
          await client.quit();
        }
      }),
    );
  }
}
