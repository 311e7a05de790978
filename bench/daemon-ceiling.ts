/**
 * The daemon's own ceiling: the compiled binary, pinned to one CPU, fed by a synthetic bridge
 * over a real XEP-0114 socket with a flood of `offline` events for users who have registrations;
 * every publish-as-host is answered at once with a publish-result. Then, for comparison, the
 * raw ceilings of this machine: parsing the same event stream with src/xmpp/stream-parser.ts
 * (and classifying it with parseInbound), and writing publish stanzas to a loopback socket.
 *
 * The flood is measured BENCH_ROUNDS times (default 3) on the same daemon; the RESULT lines are
 * the median round (this shared VM varies ±15 % from run to run), each round is printed too.
 *
 * Run: node_modules/.bin/bun bench/daemon-ceiling.ts [events=200000] [users=10000] [regsPerUser=1]
 * @module
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { parseInbound } from "../src/xmpp/parse-bridge.ts";
import { createStreamParser } from "../src/xmpp/stream-parser.ts";
import { startDaemonProcess, ROOT } from "./lib/daemon-process.ts";
import { seedStore } from "./lib/seed.ts";
import { cpuSeconds, fmtInt, fmtMs, hasTaskset, percentile, pinSelf, result, roundsText, rssByMapping, rssMiB } from "./lib/stats.ts";
import { BENCH_XMPP, daemonEnvFor, offlineEvent, startSyntheticBridge } from "./lib/synthetic-bridge.ts";
import { createWriter } from "./lib/writer.ts";

const EVENTS = Number(process.argv[2] ?? 200_000);
const USERS = Number(process.argv[3] ?? 10_000);
const REGS = Number(process.argv[4] ?? 1);
/** Most events sent and not yet acknowledged; 0 = unbounded flood (the daemon reads ahead without limit). */
const WINDOW = Number(process.env.BENCH_WINDOW ?? 5_000);
const WARMUP = 5_000;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const { host: HOST, componentDomain: DOMAIN, secret: SECRET } = BENCH_XMPP;
const TIMEOUT_MS = 120_000;

const pinned = hasTaskset();
if (pinned) pinSelf(1);
console.log(
  `# daemon ceiling: ${fmtInt(EVENTS)} offline events over ${fmtInt(USERS)} users × ${REGS} registration(s)` +
    `; window ${WINDOW > 0 ? fmtInt(WINDOW) + " unacked events" : "unbounded"}` +
    `${pinned ? "; daemon pinned to CPU 0, benchmark driver to CPU 1" : "; not pinned"}`,
);

const dataDir = mkdtempSync(join(tmpdir(), "cnd-ceiling-"));
const t = performance.now();
await seedStore(dataDir, USERS, REGS);
console.log(`seeded ${fmtInt(USERS * REGS)} registrations in ${((performance.now() - t) / 1000).toFixed(1)} s`);

const bridge = startSyntheticBridge({ host: HOST, componentDomain: DOMAIN, secret: SECRET });
const daemon = await startDaemonProcess({
  dataDir,
  cpu: pinned ? 0 : undefined,
  env: daemonEnvFor(bridge.port),
});

let exitCode = 0;
try {
  await bridge.ready;
  await daemon.waitReady(performance.now());

  let msg = 0;
  /** Sends `count` events round-robin over the users and resolves when all their publishes arrived and the last seq was acked. */
  async function flood(count: number): Promise<{ ms: number; lastPublishMs: number }> {
    const wantPublishes = bridge.counters.publishes + count * REGS;
    const started = performance.now();
    const CHUNK = 500;
    let lastSeq = 0;
    for (let sent = 0; sent < count; ) {
      const n = Math.min(CHUNK, count - sent);
      const parts: string[] = [];
      for (let i = 0; i < n; i++) {
        lastSeq = bridge.nextSeq();
        const user = `u${msg % USERS}`;
        parts.push(offlineEvent({ host: HOST, componentDomain: DOMAIN, epoch: bridge.epoch, seq: lastSeq, user, msgId: `m${++msg}` }));
      }
      bridge.send(parts.join(""));
      sent += n;
      await bridge.whenBelow(4 * 1024 * 1024);
      while (WINDOW > 0 && lastSeq - bridge.counters.ackedSeq > WINDOW) await Bun.sleep(1);
    }
    const deadline = started + TIMEOUT_MS;
    while (bridge.counters.publishes < wantPublishes || bridge.counters.ackedSeq < lastSeq) {
      if (performance.now() > deadline) {
        throw new Error(
          `Cannot finish the flood: ${bridge.counters.publishes}/${wantPublishes} publishes, acked ${bridge.counters.ackedSeq}/${lastSeq}`,
        );
      }
      await Bun.sleep(1);
    }
    return { ms: performance.now() - started, lastPublishMs: bridge.counters.lastPublishAt - started };
  }

  async function okCount(): Promise<number> {
    return daemon.metric("cloud_notifyd_pushes_total", { outcome: "ok" });
  }

  await flood(WARMUP);

  // Latency of the daemon alone: one event every 5 ms (200/s), event written → publish received.
  {
    const latencies: number[] = [];
    let sentAt = 0;
    bridge.onPublish((_outer, _inner, _to, at) => {
      if (sentAt > 0) latencies.push(at - sentAt);
    });
    for (let i = 0; i < 1000; i++) {
      sentAt = performance.now();
      bridge.send(
        offlineEvent({
          host: HOST,
          componentDomain: DOMAIN,
          epoch: bridge.epoch,
          seq: bridge.nextSeq(),
          user: `u${msg % USERS}`,
          msgId: `m${++msg}`,
        }),
      );
      await Bun.sleep(5);
    }
    await Bun.sleep(100);
    sentAt = 0;
    console.log(
      `paced 200 events/s: ${latencies.length} publishes, event → publish p50 ${fmtMs(percentile(latencies, 0.5))}, p99 ${fmtMs(percentile(latencies, 0.99))}`,
    );
    result("daemon.paced_latency_p50", percentile(latencies, 0.5), "ms");
    result("daemon.paced_latency_p99", percentile(latencies, 0.99), "ms");
  }
  const rounds: Round[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const round = await measureRound();
    rounds.push(round);
    console.log(
      `round ${r}/${ROUNDS}: ${fmtInt(round.pushes)} publishes in ${(round.publishMs / 1000).toFixed(2)} s = ${fmtInt(round.publishesPerS)}/s; ` +
        `events acked ${fmtInt(round.ackedPerS)}/s; ok recorded ${fmtInt(round.ok)} = ${fmtInt(round.okPerS)}/s; ` +
        `CPU ${round.cpu.toFixed(2)} s = ${fmtInt(round.perCpuSecond)} pushes per CPU-second; RSS ${round.rss.toFixed(0)} MiB`,
    );
    console.log(`  daemon memory by mapping: ${await rssByMapping(daemon.pid)}`);
    if (process.env.BENCH_DAEMON_HEAP_PROBE === "1") {
      daemon.proc.kill("SIGUSR2"); // bench/lib/heap-probe.ts: full GC, then heap figures to $BENCH_HEAP_OUT
      await Bun.sleep(3000);
    }
    if (round.ok < round.pushes) {
      console.log(`WARNING: only ${round.ok} of ${round.pushes} publishes recorded ok`);
      exitCode = 1;
    }
  }
  const median = [...rounds].sort((a, b) => a.publishesPerS - b.publishesPerS)[Math.floor((rounds.length - 1) / 2)]!;
  const range = (f: (x: Round) => number) => `${fmtInt(Math.min(...rounds.map(f)))}–${fmtInt(Math.max(...rounds.map(f)))}`;
  console.log(
    `median of ${rounds.length} round(s): ${fmtInt(median.publishesPerS)} publishes/s (range ${range((x) => x.publishesPerS)}), ${fmtInt(median.perCpuSecond)} pushes per CPU-second (range ${range((x) => x.perCpuSecond)})`,
  );
  console.log(
    `publishes/s per round: ${roundsText(
      rounds.map((x) => x.publishesPerS),
      fmtInt,
    )}; pushes per CPU-second: ${roundsText(
      rounds.map((x) => x.perCpuSecond),
      fmtInt,
    )}`,
  );
  result("daemon.publishes_per_s", median.publishesPerS, "publishes/s (received by the bridge; median round)");
  result("daemon.events_acked_per_s", median.ackedPerS, "events/s (acked by the daemon)");
  result("daemon.pushes_ok_per_s", median.okPerS, "pushes/s (publish-result processed, outcome ok)");
  result("daemon.cpu_seconds", median.cpu, "s");
  result("daemon.pushes_per_cpu_second", median.perCpuSecond, "pushes per CPU-second");
  result("daemon.cpu_us_per_push", (median.cpu * 1e6) / median.pushes, "µs");
  result("daemon.rss_after", rounds[rounds.length - 1]!.rss, "MiB");

  /** One flood of EVENTS events, measured. */
  async function measureRound(): Promise<Round> {
    const okBefore = await okCount();
    const cpuBefore = await cpuSeconds(daemon.pid);
    const run = await flood(EVENTS);
    // Publish results are processed after the publishes went out: wait until every one is recorded as ok.
    const wantOk = okBefore + EVENTS * REGS;
    const okStarted = performance.now();
    let ok = await okCount();
    while (ok < wantOk && performance.now() - okStarted < 30_000) {
      await Bun.sleep(20);
      ok = await okCount();
    }
    const okMs = run.ms + (performance.now() - okStarted);
    const cpu = (await cpuSeconds(daemon.pid)) - cpuBefore;
    const pushes = EVENTS * REGS;
    return {
      pushes,
      publishMs: run.lastPublishMs,
      publishesPerS: Math.round(pushes / (run.lastPublishMs / 1000)),
      ackedPerS: Math.round(EVENTS / (run.ms / 1000)),
      ok: ok - okBefore,
      okPerS: Math.round((ok - okBefore) / (okMs / 1000)),
      cpu,
      perCpuSecond: Math.round(pushes / cpu),
      rss: await rssMiB(daemon.pid),
    };
  }

  // Raw ceilings on this machine, for comparison.
  await rawParse();
  if (bridge.counters.sample !== null) await rawWrite(bridge.counters.sample);
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  console.error(daemon.logs().slice(-3000));
  exitCode = 1;
} finally {
  await daemon.stop();
  bridge.close();
}
process.exit(exitCode);

interface Round {
  pushes: number;
  publishMs: number;
  publishesPerS: number;
  ackedPerS: number;
  ok: number;
  okPerS: number;
  cpu: number;
  perCpuSecond: number;
  rss: number;
}

async function rawParse(): Promise<void> {
  const parts: string[] = [];
  for (let i = 1; i <= EVENTS; i++) {
    parts.push(offlineEvent({ host: HOST, componentDomain: DOMAIN, epoch: "raw", seq: i, user: `u${i % USERS}`, msgId: `r${i}` }));
  }
  const bytes = new TextEncoder().encode(parts.join(""));
  const header = new TextEncoder().encode(
    `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='${DOMAIN}' id='x'>`,
  );
  const CHUNK = 64 * 1024;
  for (const classify of [false, true]) {
    const parser = createStreamParser();
    parser.write(header);
    let stanzas = 0;
    const started = performance.now();
    for (let at = 0; at < bytes.length; at += CHUNK) {
      for (const ev of parser.write(bytes.subarray(at, at + CHUNK))) {
        if (ev.type !== "stanza") continue;
        stanzas++;
        if (classify) parseInbound(ev.element, { host: HOST, componentDomain: DOMAIN, now: Date.now() });
      }
    }
    const s = (performance.now() - started) / 1000;
    const name = classify ? "raw.parse_and_classify" : "raw.stream_parse";
    console.log(`${name}: ${fmtInt(stanzas)} event stanzas (${(bytes.length / 1048576).toFixed(1)} MiB) in ${s.toFixed(2)} s`);
    result(`${name}_per_s`, Math.round(stanzas / s), "stanzas/s");
  }
}

async function rawWrite(sample: string): Promise<void> {
  const sink = Bun.spawn([process.execPath, join(ROOT, "bench/lib/tcp-sink.ts")], { stdout: "pipe", stderr: "inherit" });
  const reader = (sink.stdout as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let out = "";
  while (!/PORT \d+/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error("Cannot start the TCP sink");
    out += decoder.decode(value);
  }
  const port = Number(/PORT (\d+)/.exec(out)?.[1]);
  const count = EVENTS;
  let writer: ReturnType<typeof createWriter> | null = null;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: { data() {}, drain: () => writer?.drain(), error() {} },
  });
  writer = createWriter(socket);
  const started = performance.now();
  const batch = sample.repeat(100);
  for (let i = 0; i < count; i += 100) {
    writer.write(batch);
    await writer.whenBelow(4 * 1024 * 1024);
  }
  await writer.whenBelow(1);
  socket.end();
  while (!/BYTES \d+/.test(out)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value);
  }
  const s = (performance.now() - started) / 1000;
  const total = Number(/BYTES (\d+)/.exec(out)?.[1] ?? 0);
  console.log(
    `raw.socket_write: ${fmtInt(count)} publish-as-host stanzas of ${sample.length} bytes (${(total / 1048576).toFixed(1)} MiB) in ${s.toFixed(2)} s`,
  );
  result("raw.socket_write_per_s", Math.round(count / s), "stanzas/s");
  result("raw.socket_write_mib_per_s", total / 1048576 / s, "MiB/s");
  await sink.exited;
}
