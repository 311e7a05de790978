/**
 * The whole product as an operator runs it, for end-to-end push tests and the latency bench:
 * a real Prosody with the bridge, the compiled daemon, a separate app push service component
 * (app.localhost) and slixmpp clients.
 * @module
 */
import { afterEach, beforeAll, setDefaultTimeout } from "bun:test";
import { rmSync } from "node:fs";

import { type AppService, appComponentConfig, NS_DATA, NS_PUSH, startAppService } from "./app-service.ts";
import { type Daemon, ensureBinary, startDaemon } from "./daemon.ts";
import { disposeProsody, type ProsodyInstance, type ProsodyOptions, startProsody } from "./prosody.ts";
import type { ProsodyVersion } from "./prosody-versions.ts";
import { startClient, type TestClient } from "./xmpp-client.ts";

export const APP_DOMAIN = "app.localhost";
export const PUBLISH_OPTIONS_FORM_TYPE = "http://jabber.org/protocol/pubsub#publish-options";
const SECRET = "push-e2e-secret";
const APP_SECRET = "push-e2e-app-secret";
export const ADMIN_TOKEN = "push-e2e-admin-token";
export const PASSWORD = "pw";

export interface StackOptions {
  users: string[];
  /** Extra CLOUD_NOTIFYD_* variables for the daemon. */
  daemonEnv?: Record<string, string>;
  prosody?: Partial<Omit<ProsodyOptions, "componentSecret" | "bridge" | "users">>;
}

export interface PushStack {
  prosody: ProsodyInstance;
  daemon: Daemon;
  app: AppService;
  /** Starts a client for `user@localhost/resource` (stream management on unless `sm: false`). */
  client(user: string, resource: string, opts?: { sm?: boolean }): Promise<TestClient>;
  /** GET on the admin API with the admin token: status and parsed JSON body. */
  admin<T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T }>;
  /** Starts a new daemon process on the same data directory (the old one must be gone). */
  startDaemonAgain(): Promise<Daemon>;
  dispose(): Promise<void>;
}

export async function startPushStack(opts: StackOptions): Promise<PushStack> {
  const prosody = await startProsody({
    componentSecret: SECRET,
    bridge: true,
    ...opts.prosody,
    extraConfig: `${appComponentConfig(APP_DOMAIN, APP_SECRET)}\n${opts.prosody?.extraConfig ?? ""}`,
    users: opts.users.map((u) => [u, PASSWORD] as [string, string]),
  });
  const clients: TestClient[] = [];
  const daemons: Daemon[] = [];
  let app: AppService | null = null;
  const env = {
    CLOUD_NOTIFYD_HOST: prosody.host,
    CLOUD_NOTIFYD_COMPONENT_DOMAIN: prosody.componentDomain,
    CLOUD_NOTIFYD_COMPONENT_PORT: String(prosody.componentPort),
    CLOUD_NOTIFYD_COMPONENT_SECRET: SECRET,
    CLOUD_NOTIFYD_ADMIN_TOKEN: ADMIN_TOKEN,
    ...opts.daemonEnv,
  };

  async function dispose(): Promise<void> {
    await Promise.all(clients.map((c) => c.kill().catch(() => {})));
    for (const d of daemons) if (d.proc.exitCode === null && d.proc.signalCode === null) await d.kill9();
    await app?.close().catch(() => {});
    await disposeProsody(prosody);
    for (const d of daemons) rmSync(d.dataDir, { recursive: true, force: true });
  }

  try {
    app = await startAppService({ port: prosody.componentPort, domain: APP_DOMAIN, secret: APP_SECRET });
    const first = await startDaemon({ env });
    daemons.push(first);
    await first.waitReady();
    const stack: PushStack = {
      prosody,
      daemon: first,
      app,
      async client(user, resource, copts = {}) {
        const c = await startClient({
          jid: `${user}@${prosody.host}/${resource}`,
          password: PASSWORD,
          port: prosody.c2sPort,
          ...(copts.sm === false ? { sm: false } : {}),
        });
        clients.push(c);
        return c;
      },
      async admin<T>(path: string) {
        const res = await fetch(stack.daemon.url(`/api/v1${path}`), { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        return { status: res.status, body: (await res.json()) as T };
      },
      async startDaemonAgain() {
        const d = await startDaemon({ env, dataDir: first.dataDir });
        daemons.push(d);
        stack.daemon = d;
        return d;
      },
      dispose,
    };
    return stack;
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** An `<enable>` IQ to the app service with a publish-options form carrying `secret`. */
export function enableXml(id: string, node: string, secret = `secret-${node}`): string {
  return (
    `<iq type='set' id='${id}'><enable xmlns='${NS_PUSH}' jid='${APP_DOMAIN}' node='${node}'>` +
    `<x xmlns='${NS_DATA}' type='submit'>` +
    `<field var='FORM_TYPE'><value>${PUBLISH_OPTIONS_FORM_TYPE}</value></field>` +
    `<field var='secret'><value>${secret}</value></field>` +
    `</x></enable></iq>`
  );
}

export function disableXml(id: string, node?: string): string {
  return `<iq type='set' id='${id}'><disable xmlns='${NS_PUSH}' jid='${APP_DOMAIN}'${node === undefined ? "" : ` node='${node}'`}/></iq>`;
}

/** Enables push on the client's session and checks the reply is a result. */
export async function enable(client: TestClient, node: string, id = `en-${node}`): Promise<void> {
  const reply = await client.iq(enableXml(id, node), id);
  if (reply.type !== "result") throw new Error(`Cannot enable push for ${client.jid}: ${String(reply.xml)}`);
}

/** Polls until `check` returns a value that is not undefined. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 8000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Cannot observe ${what} within ${timeoutMs} ms`);
    await Bun.sleep(100);
  }
}

export interface RegistrationJson {
  identifier: string;
  jid: string;
  node: string | null;
  errorCount: number;
  lastError: string | null;
  boundSessions: string[];
}

export interface HistoryJson {
  identifier: string;
  publishId: string | null;
  trigger: string | null;
  important: boolean;
  outcome: string;
  error: string | null;
}

export interface RemovalJson {
  user: string;
  identifier: string;
  reason: string;
  detail: string | null;
}

/** The admin API's registrations of a user (404 → empty list). */
export async function registrations(s: PushStack, user = "alice"): Promise<{ status: number; regs: RegistrationJson[] }> {
  const r = await s.admin<{ registrations?: RegistrationJson[] }>(`/users/${user}/registrations`);
  return { status: r.status, regs: r.body.registrations ?? [] };
}

/** The admin API's push history of a user, newest first. */
export async function history(s: PushStack, user = "alice"): Promise<HistoryJson[]> {
  const r = await s.admin<{ history: HistoryJson[] }>(`/users/${user}/history?limit=100`);
  if (r.status !== 200) throw new Error(`Cannot read history of ${user}: HTTP ${r.status}`);
  return r.body.history;
}

export async function removals(s: PushStack, user?: string): Promise<RemovalJson[]> {
  const r = await s.admin<{ removals: RemovalJson[] }>(`/removals${user === undefined ? "" : `?user=${user}`}`);
  if (r.status !== 200) throw new Error(`Cannot read removals: HTTP ${r.status}`);
  return r.body.removals;
}

/**
 * Per-file (or per-describe) setup for e2e files: builds the binary once, gives each test its own
 * stack through the returned function, and disposes every stack after each test. `version` is the
 * Prosody every stack runs (call it inside `describeProsody(name, (version) => …)`); a test's own
 * `prosody.version` wins.
 */
export function usePushStacks(version?: ProsodyVersion): (opts: StackOptions) => Promise<PushStack> {
  setDefaultTimeout(30000);
  const stacks: PushStack[] = [];
  beforeAll(async () => {
    await ensureBinary();
  }, 60000);
  afterEach(async () => {
    for (const s of stacks.splice(0)) await s.dispose();
  });
  return async function stack(opts) {
    const s = await startPushStack(version === undefined ? opts : { ...opts, prosody: { version, ...opts.prosody } });
    stacks.push(s);
    return s;
  };
}
