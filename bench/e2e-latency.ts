/**
 * End-to-end push latency: message sent by a client → publish received by the app push service.
 *
 * Starts a real Prosody with the bridge, the compiled daemon, an app service component
 * (app.localhost) that answers every publish with a result, alice (offline, with one push
 * registration) and bob (online). bob sends COUNT messages to alice at a steady RATE; each goes
 * to offline storage and is pushed once (offline path, B37). The i-th publish is matched with the
 * i-th message (one serial path end to end; the totals are checked).
 *
 * Run: node_modules/.bin/bun bench/e2e-latency.ts [count=1000] [rate_per_s=100]
 * BENCH_TIMELINE=1 also prints a sampled timeline: message sent, publish issued by the daemon
 * (from its push history; complete only for count ≤ 500), publish received.
 * Measure on an otherwise idle machine: Prosody's single Lua thread is the first to saturate.
 * Runs BENCH_ROUNDS times (default 3), each on a fresh stack; prints every round, then the median
 * and spread of p50, p99 and publishes/s.
 */
import { ensureBinary } from "../test/helpers/daemon.ts";
import { enable, startPushStack } from "../test/helpers/push-stack.ts";
import type { ClientEvent } from "../test/helpers/xmpp-client.ts";
import { result, roundsText } from "./lib/stats.ts";

const COUNT = Number(process.argv[2] ?? 1000);
const RATE = Number(process.argv[3] ?? 100);
if (!(COUNT >= 1) || !(RATE > 0)) {
  console.error("usage: bun bench/e2e-latency.ts [count] [rate_per_s]");
  process.exit(2);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

const ms = (x: number) => `${x.toFixed(1)} ms`;

await ensureBinary();
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const rounds: Array<{ p50: number; p99: number; perS: number }> = [];
for (let r = 1; r <= ROUNDS; r++) {
  console.log(`# round ${r}/${ROUNDS}`);
  rounds.push(await oneRound());
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] as number;
console.log(
  `p50 per round: ${roundsText(
    rounds.map((x) => x.p50),
    ms,
  )}`,
);
console.log(
  `p99 per round: ${roundsText(
    rounds.map((x) => x.p99),
    ms,
  )}`,
);
console.log(
  `publishes/s per round: ${roundsText(
    rounds.map((x) => x.perS),
    (x) => x.toFixed(1),
  )}`,
);
result("e2e_latency.p50", med(rounds.map((x) => x.p50)), "ms (median round)");
result("e2e_latency.p99", med(rounds.map((x) => x.p99)), "ms (median round)");

async function oneRound(): Promise<{ p50: number; p99: number; perS: number }> {
  const stack = await startPushStack({
    users: ["alice", "bob"],
    // a debug log line for every stanza would dominate the measurement: warnings only
    prosody: { extraGlobalConfig: `log = { warn = "*stdout" }` },
    daemonEnv: {
      CLOUD_NOTIFYD_LOG_LEVEL: "info",
      ...(process.env.BENCH_PUBLISH_FROM ? { CLOUD_NOTIFYD_PUBLISH_FROM: process.env.BENCH_PUBLISH_FROM } : {}),
    },
  });
  try {
    const phone = await stack.client("alice", "phone");
    await enable(phone, "bench");
    await phone.quit();
    const bob = await stack.client("bob", "pc");

    // warm-up: one message through the whole path
    bob.command({ cmd: "message", to: "alice@localhost", body: "warm-up", id: "warm-up" });
    await stack.app.waitForCount(1, 10000);
    const skip = stack.app.publishes.length;

    const intervalMs = 1000 / RATE;
    const started = performance.now();
    bob.command({ cmd: "flood", to: "alice@localhost", count: COUNT, interval_ms: intervalMs, prefix: "b", body: "benchmark message" });
    const expectedSeconds = COUNT / RATE;
    await bob.waitFor((e) => e.event === "flood_done", (expectedSeconds + 30) * 1000, "the end of the flood");
    await stack.app.waitForCount(skip + COUNT, 60000);
    const elapsed = (performance.now() - started) / 1000;
    await Bun.sleep(1000);

    const sent = bob.events.filter((e): e is ClientEvent & { at: number } => e.event === "sent" && typeof e.at === "number");
    const publishes = stack.app.publishes.slice(skip);
    if (sent.length !== COUNT || publishes.length !== COUNT) {
      throw new Error(`Cannot match messages to publishes: ${sent.length} sent, ${publishes.length} publishes`);
    }
    const inOrder = sent.map((s, i) => (publishes[i]?.wallAt ?? Number.NaN) - s.at);
    const latencies = [...inOrder].sort((a, b) => a - b);
    const tenth = Math.max(1, Math.floor(COUNT / 10));
    const byTenth: string[] = [];
    for (let i = 0; i < COUNT; i += tenth) {
      const part = inOrder.slice(i, i + tenth).sort((a, b) => a - b);
      byTenth.push(percentile(part, 50).toFixed(0));
    }
    const first = publishes[0]?.wallAt ?? 0;
    const last = publishes[publishes.length - 1]?.wallAt ?? 0;
    const sendSpan = (sent[sent.length - 1]?.at ?? 0) - (sent[0]?.at ?? 0);

    console.log(`e2e push latency: ${COUNT} messages at ${RATE}/s (offline path, publish-as-host, compiled daemon, Debian Prosody)`);
    console.log(`  sent over       ${(sendSpan / 1000).toFixed(2)} s (${((COUNT - 1) / (sendSpan / 1000)).toFixed(1)} msg/s actual)`);
    console.log(`  p50             ${ms(percentile(latencies, 50))}`);
    console.log(`  p90             ${ms(percentile(latencies, 90))}`);
    console.log(`  p99             ${ms(percentile(latencies, 99))}`);
    console.log(`  max             ${ms(latencies[latencies.length - 1] ?? Number.NaN)}`);
    console.log(`  min             ${ms(latencies[0] ?? Number.NaN)}`);
    console.log(
      `  publishes/s     ${((COUNT - 1) / ((last - first) / 1000)).toFixed(1)} (first→last publish), total ${elapsed.toFixed(2)} s`,
    );
    if (process.env.BENCH_TIMELINE) {
      const t0 = sent[0]?.at ?? 0;
      const h = await stack.admin<{ history: Array<{ publishId: string; outcome: string; at: string }> }>(
        "/users/alice/history?limit=1000",
      );
      const sentAt = new Map(h.body.history.map((r) => [r.publishId, Date.parse(r.at)])); // one row per push, at = when it was sent
      for (let i = 0; i < COUNT; i += Math.max(1, Math.floor(COUNT / 40))) {
        const issued = sentAt.get(publishes[i]?.iq.attrs.id ?? "");
        const daemonAt = issued === undefined ? "?" : `+${(issued - t0).toFixed(0)} ms`;
        console.log(
          `    #${i} sent +${((sent[i]?.at ?? 0) - t0).toFixed(0)} ms, daemon ${daemonAt}, published +${((publishes[i]?.wallAt ?? 0) - t0).toFixed(0)} ms`,
        );
      }
    }
    console.log(`  p50 by tenth    ${byTenth.join(" ")} ms (first → last tenth of the run)`);
    const extra = stack.app.publishes.length - skip - COUNT;
    if (extra !== 0) console.log(`  WARNING: ${extra} extra publishes`);
    return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), perS: (COUNT - 1) / ((last - first) / 1000) };
  } finally {
    await stack.dispose();
  }
}
