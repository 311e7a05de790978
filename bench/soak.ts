/**
 * Soak: the compiled daemon fed by the synthetic bridge (bench/lib/synthetic-bridge.ts) at a steady
 * rate of offline events for users with one registration each, every publish answered at once;
 * prints the daemon's RSS every minute and, at the end, the RSS trend after the first five minutes
 * (least-squares slope, MiB per minute) and the lowest and highest RSS in that part. Memory is
 * bounded by configuration when the trend is flat: the dedupe window, the user cache and the
 * pending table all fill within minutes at this rate and then stay at their bounds.
 *
 * Run: node_modules/.bin/bun bench/soak.ts [minutes=30] [rate=500] [users=10000]
 * (BENCH_BINARY=PATH soaks another build; BENCH_DAEMON_ENV="NAME=value" adds variables.)
 * @module
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { startDaemonProcess } from "./lib/daemon-process.ts";
import { seedStore } from "./lib/seed.ts";
import { cpuSeconds, fmtInt, hasTaskset, pinSelf, result, rssByMapping, rssMiB } from "./lib/stats.ts";
import { BENCH_XMPP, daemonEnvFor, offlineEvent, startSyntheticBridge } from "./lib/synthetic-bridge.ts";

const MINUTES = Number(process.argv[2] ?? 30);
const RATE = Number(process.argv[3] ?? 500);
const USERS = Number(process.argv[4] ?? 10_000);
const TICK_MS = 10;
const { host: HOST, componentDomain: DOMAIN, secret: SECRET } = BENCH_XMPP;

const pinned = hasTaskset();
if (pinned) pinSelf(1);
console.log(
  `# soak: ${RATE} offline events/s over ${fmtInt(USERS)} users for ${MINUTES} min; RSS every minute${pinned ? "; daemon on CPU 0, driver on CPU 1" : ""}`,
);
const dataDir = mkdtempSync(join(tmpdir(), "cnd-soak-"));
await seedStore(dataDir, USERS, 1);
const bridge = startSyntheticBridge({ host: HOST, componentDomain: DOMAIN, secret: SECRET });
const daemon = await startDaemonProcess({ dataDir, cpu: pinned ? 0 : undefined, env: daemonEnvFor(bridge.port) });
let exitCode = 0;
try {
  await bridge.ready;
  await daemon.waitReady(performance.now());
  const samples: Array<{ minute: number; rss: number }> = [];
  const started = performance.now();
  const cpu0 = await cpuSeconds(daemon.pid);
  let sent = 0;
  let nextSample = 1;
  const end = started + MINUTES * 60_000;
  while (performance.now() < end) {
    // Catch up to the schedule: RATE events per second since the start, in ticks.
    const due = Math.floor(((performance.now() - started) / 1000) * RATE);
    const parts: string[] = [];
    while (sent < due) {
      sent++;
      parts.push(
        offlineEvent({
          host: HOST,
          componentDomain: DOMAIN,
          epoch: bridge.epoch,
          seq: bridge.nextSeq(),
          user: `u${sent % USERS}`,
          msgId: `s${sent}`,
        }),
      );
    }
    if (parts.length > 0) bridge.send(parts.join(""));
    if (performance.now() - started >= nextSample * 60_000) {
      const rss = await rssMiB(daemon.pid);
      samples.push({ minute: nextSample, rss });
      const lag = sent - bridge.counters.publishes;
      console.log(
        `minute ${String(nextSample).padStart(3)}: RSS ${rss.toFixed(1)} MiB; ${fmtInt(sent)} events sent, ${fmtInt(bridge.counters.publishes)} publishes, ${fmtInt(lag)} behind`,
      );
      nextSample++;
    }
    await Bun.sleep(TICK_MS);
  }
  await Bun.sleep(2000);
  const cpu = (await cpuSeconds(daemon.pid)) - cpu0;
  console.log(`daemon memory by mapping at the end: ${await rssByMapping(daemon.pid)}`);
  const tail = samples.filter((s) => s.minute > 5);
  const all = samples.map((s) => s.rss);
  result("soak.events", sent, "events");
  result("soak.publishes", bridge.counters.publishes, "publishes");
  result("soak.cpu_us_per_event", (cpu * 1e6) / Math.max(1, sent), "µs CPU");
  result("soak.rss_max", Math.max(...all), "MiB");
  if (tail.length >= 2) {
    const n = tail.length;
    const mx = tail.reduce((a, s) => a + s.minute, 0) / n;
    const my = tail.reduce((a, s) => a + s.rss, 0) / n;
    const slope = tail.reduce((a, s) => a + (s.minute - mx) * (s.rss - my), 0) / tail.reduce((a, s) => a + (s.minute - mx) ** 2, 0);
    const lo = Math.min(...tail.map((s) => s.rss));
    const hi = Math.max(...tail.map((s) => s.rss));
    console.log(`after minute 5: RSS ${lo.toFixed(1)}–${hi.toFixed(1)} MiB over ${n} samples, trend ${slope.toFixed(3)} MiB/min`);
    result("soak.rss_slope_after_5min", slope, "MiB/min");
    result("soak.rss_range_after_5min", `${lo.toFixed(1)}-${hi.toFixed(1)}`, "MiB");
  }
  if (bridge.counters.publishes < sent * 0.99) {
    console.log(`WARNING: the daemon fell behind: ${bridge.counters.publishes} publishes for ${sent} events`);
    exitCode = 1;
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  console.error(daemon.logs().slice(-3000));
  exitCode = 1;
} finally {
  await daemon.stop();
  bridge.close();
}
process.exit(exitCode);
