/**
 * Composition root of the running daemon: store → core → runtime → component + bridge link →
 * admin HTTP. Returns a handle whose stop() shuts everything down in order.
 * @module
 */
import { randomBytes } from "node:crypto";

import { type Config, coreConfigFrom } from "./config.ts";
import { accountFeatures } from "./core/features.ts";
import { initState } from "./core/state.ts";
import { createAdminApp } from "./http/app.ts";
import type { Readiness } from "./http/deps.ts";
import type { Logger } from "./log.ts";
import { createMetrics } from "./metrics.ts";
import { createAdminDeps } from "./runtime/admin.ts";
import { createBridgeLink } from "./runtime/bridge-link.ts";
import { startHistoryRetention } from "./runtime/history-retention.ts";
import { createRuntime, errorText } from "./runtime/runtime.ts";
import { openStore } from "./store/db.ts";
import { createComponent, type Component } from "./xmpp/component.ts";

const TICK_MS = 1000;
const GAUGE_MS = 10_000;
/** stop(): how long publishes already sent may take to be answered before the stream closes. */
const SHUTDOWN_GRACE_MS = 2000;

export interface Daemon {
  adminUrl: string;
  stop(): Promise<void>;
}

export async function startDaemon(config: Readonly<Config>, log: Logger): Promise<Daemon> {
  const store = await openStore(config.storeUrl, config.storeAuthToken ? { authToken: config.storeAuthToken } : {});
  const metrics = createMetrics();
  const state = initState(coreConfigFrom(config), { idSeed: randomBytes(32).toString("hex") });

  let component: Component | null = null;
  const send = (el: Parameters<Component["send"]>[0]) => component?.send(el) ?? false;
  const runtime = createRuntime({
    state,
    store,
    log,
    metrics,
    send,
    host: config.host,
    componentDomain: config.componentDomain,
    publishFrom: config.publishFrom,
  });
  const link = createBridgeLink({
    runtime,
    send,
    log,
    metrics,
    host: config.host,
    componentDomain: config.componentDomain,
    features: accountFeatures(state.extensions),
  });

  if (config.componentSecret !== "") {
    component = createComponent({
      host: config.componentHost,
      port: config.componentPort,
      domain: config.componentDomain,
      secret: config.componentSecret,
      log: (level, msg, fields) => log[level](msg, fields),
    });
    component.onStanza(link.receive);
    component.onOnline(() => {
      metrics.set("cloud_notifyd_component_connected", 1);
      log.info("component online", { domain: config.componentDomain });
      link.online();
    });
    component.onOffline((reason) => {
      metrics.set("cloud_notifyd_component_connected", 0);
      link.offline(reason);
    });
    component.start();
  } else {
    log.warn("component_secret not configured: not connecting to the XMPP server", {
      hint: "set CLOUD_NOTIFYD_COMPONENT_SECRET or component_secret_file",
    });
  }

  const tick = setInterval(() => void runtime.dispatch({ type: "tick", now: Date.now() }), TICK_MS);
  const retention = startHistoryRetention({ store, log, metrics, days: config.historyRetentionDays });
  const refreshGauges = async () => {
    try {
      metrics.set("cloud_notifyd_registrations", await store.countRegistrations());
    } catch (err) {
      metrics.inc("cloud_notifyd_store_errors_total", { op: "count" });
      log.warn("store count failed", { error: errorText(err) });
    }
  };
  void refreshGauges();
  const gauges = setInterval(() => void refreshGauges(), GAUGE_MS);

  async function readiness(): Promise<Readiness> {
    const storeOk = await store.ping();
    const bridge = link.status();
    const comp = component;
    const checks: Readiness["checks"] = {
      store: storeOk ? { ok: true } : { ok: false, reason: "store does not answer" },
      component:
        comp === null
          ? { ok: false, reason: "component_secret not configured" }
          : comp.state === "online"
            ? { ok: true }
            : { ok: false, reason: `${comp.state}${comp.lastError ? `: ${comp.lastError}` : ""}` },
      bridge: bridge.state === "ready" ? { ok: true } : { ok: false, reason: bridge.reason },
    };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  const app = createAdminApp(
    createAdminDeps({
      runtime,
      store,
      metrics,
      logger: log,
      token: config.adminToken,
      host: config.host,
      publishTimeoutMs: config.publishTimeout * 1000,
      readiness,
    }),
  );
  const server = Bun.serve({ hostname: config.adminHost, port: config.adminPort, fetch: app.fetch });
  const adminUrl = `http://${config.adminHost}:${server.port}`;

  return {
    adminUrl,
    async stop() {
      clearInterval(tick);
      retention.stop();
      clearInterval(gauges);
      await server.stop();
      // Replies to publishes in flight can only arrive while the stream is open: wait for them
      // (bounded), so their outcome is recorded and an error is counted (D11, D13).
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      while (state.pending.size > 0 && component?.state === "online" && Date.now() < deadline) await Bun.sleep(20);
      link.stop();
      await component?.stop();
      await runtime.stop();
      await store.close();
    },
  };
}
