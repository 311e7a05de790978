/**
 * Scale: 1M registrations in the store, then the compiled daemon started on it (fed by the
 * synthetic bridge): time to /healthz and to /readyz 200, RSS once ready, then enable and
 * disable latency (1000 bridged `<request>` IQs each, one at a time, for random users).
 *
 * Issue 13: the same run is made twice, with all registrations on one host and spread over
 * `BENCH_SCALE_HOSTS` (default 4) VirtualHosts, and prints the multi/single ratio of ready
 * time, RSS and enable p99 (target: within 10 %).
 *
 * Run: node_modules/.bin/bun bench/scale.ts [registrations=1000000] [requests=1000]
 * @module
 */
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { openStore } from "../src/store/db.ts";
import { startDaemonProcess } from "./lib/daemon-process.ts";
import { APP_JID } from "./lib/seed.ts";
import { fmtInt, fmtMs, hasTaskset, percentile, pinSelf, result, rssMiB } from "./lib/stats.ts";
import { BENCH_XMPP, daemonEnvFor, NS_BRIDGE, startSyntheticBridge } from "./lib/synthetic-bridge.ts";

const REGISTRATIONS = Number(process.argv[2] ?? 1_000_000);
const REQUESTS = Number(process.argv[3] ?? 1000);
const { host: HOST, componentDomain: DOMAIN, secret: SECRET } = BENCH_XMPP;

const pinned = hasTaskset();
if (pinned) pinSelf(1);
console.log(
  `# scale: ${fmtInt(REGISTRATIONS)} registrations (one per user); ${fmtInt(REQUESTS)} enables then disables` +
    `${pinned ? "; daemon pinned to CPU 0" : ""}`,
);

async function run(hostCount: number): Promise<{ code: number; ready: number; rss: number; enableP99: number }> {
  const tag = hostCount === 1 ? "" : `.hosts${hostCount}`;
  const figures = { ready: 0, rss: 0, enableP99: 0 };
  console.log(`## ${hostCount === 1 ? "one host" : `${hostCount} hosts`}`);
  // 1. Schema through the store, rows through raw bun:sqlite in the same schema (one transaction).
  const dataDir = mkdtempSync(join(tmpdir(), "cnd-scale-"));
  const dbPath = join(dataDir, "cloud-notifyd.db");
  const hosts = hostCount === 1 ? [HOST] : Array.from({ length: hostCount }, (_, k) => `h${k}.${HOST}`);
  const hostOf = (i: number) => hosts[i % hosts.length] as string;
  await (await openStore(`file:${dbPath}`, { hosts })).close();
  let t = performance.now();
  const sqlite = new Database(dbPath);
  sqlite.exec("PRAGMA journal_mode = WAL");
  const insert = sqlite.prepare(
    "INSERT INTO registrations (host, user, identifier, jid, node, include_payload, publish_options, client_id, resource, language, created_at, updated_at, error_count, last_error, last_error_at) " +
      "VALUES (?, ?, ?, ?, ?, 0, NULL, NULL, NULL, NULL, ?, ?, 0, NULL, NULL)",
  );
  const now = Date.now();
  sqlite.transaction(() => {
    for (let i = 0; i < REGISTRATIONS; i++) insert.run(hostOf(i), `u${i}`, `${APP_JID}<n${i}`, APP_JID, `n${i}`, now, now);
  })();
  sqlite.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  sqlite.close();
  const fileMiB = Bun.file(dbPath).size / 1048576;
  console.log(
    `inserted ${fmtInt(REGISTRATIONS)} registrations in ${((performance.now() - t) / 1000).toFixed(1)} s (database ${fileMiB.toFixed(0)} MiB)`,
  );

  // 2. Start the daemon on it.
  const bridge = startSyntheticBridge({ host: HOST, componentDomain: DOMAIN, secret: SECRET });
  t = performance.now();
  const daemon = await startDaemonProcess({
    dataDir,
    cpu: pinned ? 0 : undefined,
    env: (() => {
      const { CLOUD_NOTIFYD_HOST: _single, ...env } = daemonEnvFor(bridge.port);
      return { ...env, CLOUD_NOTIFYD_HOSTS: hosts.join(",") };
    })(),
  });
  let exitCode = 0;
  try {
    let healthMs = 0;
    for (;;) {
      try {
        if ((await fetch(daemon.url("/healthz"))).status === 200) {
          healthMs = performance.now() - t;
          break;
        }
      } catch {
        // not listening yet
      }
      await Bun.sleep(2);
    }
    const readyMs = await daemon.waitReady(t);
    const rssReady = await rssMiB(daemon.pid);
    await Bun.sleep(2000);
    const rssSettled = await rssMiB(daemon.pid);
    result(`scale${tag}.healthz_ms`, healthMs, "ms");
    result(`scale${tag}.ready_ms`, readyMs, "ms");
    figures.ready = readyMs;
    figures.rss = rssSettled;
    result(`scale${tag}.rss_at_ready`, rssReady, "MiB");
    result(`scale${tag}.rss_2s_after_ready`, rssSettled, "MiB");

    // 3. Enable then disable latency, one request at a time.
    let seed = 7;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed % n;
    };
    const users = Array.from({ length: REQUESTS }, () => rand(REGISTRATIONS));
    for (const kind of ["enable", "disable"] as const) {
      const latencies: number[] = [];
      let errors = 0;
      for (let i = 0; i < REQUESTS; i++) {
        const n = users[i] as number;
        const user = `u${n}`;
        const host = hostOf(n);
        const id = `${kind}-${i}`;
        const payload =
          kind === "enable"
            ? `<enable xmlns='urn:xmpp:push:0' jid='${APP_JID}' node='bench-${i}'/>`
            : `<disable xmlns='urn:xmpp:push:0' jid='${APP_JID}' node='bench-${i}'/>`;
        const xml =
          `<iq type='set' from='${host}' to='${DOMAIN}' id='${id}'><request xmlns='${NS_BRIDGE}' user='${user}' session='s-${user}' full='${user}@${host}/phone'>` +
          `<iq xmlns='jabber:client' type='set' id='c-${id}'>${payload}</iq></request></iq>`;
        const started = performance.now();
        const reply = await bridge.request(xml, id);
        latencies.push(performance.now() - started);
        if (!/<response[^>]*>\s*<iq[^>]*type=["']result["']/.test(reply)) errors++;
      }
      const p50 = percentile(latencies, 0.5);
      const p99 = percentile(latencies, 0.99);
      console.log(
        `${kind}: ${fmtInt(REQUESTS)} requests, p50 ${fmtMs(p50)}, p99 ${fmtMs(p99)}, max ${fmtMs(Math.max(...latencies))}${errors ? `; ${errors} error replies` : ""}`,
      );
      result(`scale${tag}.${kind}_p50`, p50, "ms");
      result(`scale${tag}.${kind}_p99`, p99, "ms");
      if (kind === "enable") figures.enableP99 = p99;
      if (errors > 0) exitCode = 1;
    }
    result(`scale${tag}.rss_after_requests`, await rssMiB(daemon.pid), "MiB");
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    console.error(daemon.logs().slice(-3000));
    exitCode = 1;
  } finally {
    await daemon.stop();
    bridge.close();
  }
  return { code: exitCode, ...figures };
}

const single = await run(1);
const multi = await run(Number(process.env.BENCH_SCALE_HOSTS ?? 4));
for (const [name, a, b] of [
  ["ready_ms", single.ready, multi.ready],
  ["rss_2s_after_ready", single.rss, multi.rss],
  ["enable_p99", single.enableP99, multi.enableP99],
] as const) {
  result(`scale.multi_host_ratio.${name}`, b / a, "x");
}
process.exit(single.code || multi.code);
