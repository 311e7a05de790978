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
import type { Readiness, ReadinessCheck } from "./http/deps.ts";
import type { Logger } from "./log.ts";
import { createMetrics } from "./metrics.ts";
import { createAdminDeps } from "./runtime/admin.ts";
import { createBridgeLink } from "./runtime/bridge-link.ts";
import { planReload } from "./runtime/config-reload.ts";
import { conflictCheck, createBridgeModules } from "./runtime/bridge-modules.ts";
import { startHistoryRetention } from "./runtime/history-retention.ts";
import { createRuntime, errorText } from "./runtime/runtime.ts";
import { startSystemd } from "./runtime/sd-notify.ts";
import { openStore } from "./store/db.ts";
import { createComponent, type Component } from "./xmpp/component.ts";
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_STANZA_BYTES } from "./xmpp/stream-parser.ts";

/** Most stanza copies the bridge puts in one event (the rest become small markers, then nothing). */
const BRIDGE_MAX_COPIES = 1000;

const TICK_MS = 1000;
const GAUGE_MS = 10_000;
/** stop(): how long publishes already sent may take to be answered before the stream closes. */
const SHUTDOWN_GRACE_MS = 2000;

export interface Daemon {
  adminUrl: string;
  stop(): Promise<void>;
  /**
   * SIGHUP: applies a re-read configuration (runtime/config-reload.ts): a changed component
   * secret reconnects the component, a changed admin token takes effect (and ends the admin
   * page's sessions); other changes are named in a warning and wait for a restart. The log
   * level is the caller's (it owns the root logger).
   */
  reload(next: Readonly<Config>): Promise<void>;
}

export async function startDaemon(config: Readonly<Config>, log: Logger): Promise<Daemon> {
  const store = await openStore(config.storeUrl, {
    ...(config.storeAuthToken ? { authToken: config.storeAuthToken } : {}),
    hosts: config.hosts,
    log,
  });
  if (!store.integrity.ok) log.error("store failed its integrity check at start", { reason: store.integrity.reason });
  const metrics = createMetrics();
  // Accounts disabled on Prosody 13 stay suspended across a restart (core/users.ts).
  const disabledUsers = await store.listDisabledUsers();
  const state = initState(coreConfigFrom(config), { idSeed: randomBytes(32).toString("hex"), disabledUsers });

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
    // Acknowledgements ride on publishes (bridge-peer.ts takeAck); the link exists before any publish.
    takeAck: (host) => link.takeAck(host),
  });
  // One report per host's bridge; with several hosts the module checks are named mod_<name>@<host>.
  const bridgeModules = new Map(config.hosts.map((host) => [host.toLowerCase(), createBridgeModules({ host, log })]));
  const conflictReason = (): string | null => {
    for (const m of bridgeModules.values()) if (m.conflictReason() !== null) return m.conflictReason();
    return null;
  };
  const moduleChecks = () => {
    if (bridgeModules.size === 1) return [...bridgeModules.values()][0]!.checks();
    const out: Record<string, ReadinessCheck> = {};
    for (const [host, m] of bridgeModules) for (const [name, check] of Object.entries(m.checks())) out[`${name}@${host}`] = check;
    return out;
  };
  const link = createBridgeLink({
    runtime,
    send,
    log,
    metrics,
    hosts: config.hosts,
    componentDomain: config.componentDomain,
    features: accountFeatures(state.extensions),
    limits: { depth: DEFAULT_MAX_DEPTH, bytes: DEFAULT_MAX_STANZA_BYTES, copies: BRIDGE_MAX_COPIES },
    onModules: (host, report) => bridgeModules.get(host.toLowerCase())?.update(report),
  });

  // systemd Type=notify (runtime/sd-notify.ts): the store is open; READY=1 once the component is authenticated.
  const systemd = startSystemd({
    log,
    keepalive: (done) => runtime.barrier(done),
    pending: () =>
      component === null ? "component_secret not configured" : `${component.state}${component.lastError ? `: ${component.lastError}` : ""}`,
  });

  /** Set while stop() waits for replies to publishes in flight; called when the stream goes offline. */
  let streamClosed: (() => void) | null = null;

  /** Connects the component with `secret` (again after SIGHUP with a new one). */
  function connect(secret: string): Component {
    const c = createComponent({
      host: config.componentHost,
      port: config.componentPort,
      domain: config.componentDomain,
      secret,
      log: (level, msg, fields) => log[level](msg, fields),
    });
    c.onStanza(link.receive);
    // The component logs "XMPP component online" itself (xmpp/component/lifecycle.ts): no second line here.
    c.onOnline(() => {
      metrics.set("cloud_notifyd_component_connected", 1);
      systemd.online(`component online as ${config.componentDomain}`);
      link.online();
    });
    c.onOffline((reason) => {
      metrics.set("cloud_notifyd_component_connected", 0);
      link.offline(reason);
      streamClosed?.(); // stop(): no reply can arrive any more
    });
    c.start();
    return c;
  }

  let running: Readonly<Config> = config;
  if (config.componentSecret !== "") {
    component = connect(config.componentSecret);
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
      store: !storeOk
        ? { ok: false, reason: "store does not answer" }
        : store.integrity.ok
          ? { ok: true }
          : { ok: false, reason: `integrity check at start failed: ${store.integrity.reason}` },
      component:
        comp === null
          ? { ok: false, reason: "component_secret not configured" }
          : comp.state === "online"
            ? { ok: true }
            : { ok: false, reason: `${comp.state}${comp.lastError ? `: ${comp.lastError}` : ""}` },
      bridge: bridge.state !== "ready" ? { ok: false, reason: bridge.reason } : conflictCheck(conflictReason()),
      ...moduleChecks(), // companion modules: ready, with a warning when one is missing
    };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  const adminDeps = createAdminDeps({
    runtime,
    store,
    metrics,
    logger: log,
    token: config.adminToken,
    host: config.host,
    hosts: config.hosts,
    publishTimeoutMs: config.publishTimeout * 1000,
    readiness,
  });
  // Replaced on SIGHUP when the admin token changes (the page's sessions go with the old app).
  let app = createAdminApp(adminDeps);
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ hostname: config.adminHost, port: config.adminPort, fetch: (req, srv) => app.fetch(req, srv) });
  } catch (err) {
    throw new Error(`Cannot listen on admin_host ${config.adminHost}:${config.adminPort}: ${errorText(err)}`, { cause: err });
  }
  const adminUrl = `http://${config.adminHost}:${server.port}`;

  return {
    adminUrl,
    async reload(next) {
      const plan = planReload(running, next);
      running = { ...running, logLevel: next.logLevel, adminToken: next.adminToken, componentSecret: next.componentSecret };
      if (plan.needRestart.length > 0)
        log.warn("config reloaded: these changes take effect at the next restart", { keys: plan.needRestart.join(",") });
      if (plan.adminTokenChanged) {
        app = createAdminApp({ ...adminDeps, token: next.adminToken });
        log.info(next.adminToken === null ? "admin token removed: /api/v1 is off" : "admin token changed: the admin page's sessions ended");
      }
      if (plan.componentSecret !== null) {
        const old = component;
        component = null;
        await old?.stop();
        if (plan.componentSecret === "") log.warn("component_secret no longer configured: disconnected from the XMPP server");
        else {
          log.info("component secret changed: reconnecting", { domain: config.componentDomain });
          component = connect(plan.componentSecret);
        }
      }
      // Field names without "secret"/"token": the logger would redact the value.
      const changed = [
        plan.logLevel !== null ? "log_level" : "",
        plan.componentSecret !== null ? "component_secret" : "",
        plan.adminTokenChanged ? "admin_token" : "",
      ].filter((k) => k !== "");
      log.info("config reloaded", { log_level: next.logLevel, applied: changed.length > 0 ? changed.join(",") : "nothing changed" });
    },
    async stop() {
      systemd.stopping();
      clearInterval(tick);
      retention.stop();
      clearInterval(gauges);
      await server.stop();
      // Replies to publishes in flight can only arrive while the stream is open: the core waits
      // for them (bounded), so their outcome is recorded and an error is counted (D11, D13).
      if (component?.state === "online") {
        const closed = new Promise<void>((resolve) => (streamClosed = resolve));
        await Promise.race([runtime.shutdown(SHUTDOWN_GRACE_MS), closed]);
        streamClosed = null;
      }
      link.stop();
      await component?.stop();
      await runtime.stop();
      await store.close();
      systemd.close();
    },
  };
}
