/**
 * Faults on the app push service's side, real Prosody + bridge + compiled daemon, the app service
 * being a raw XEP-0114 component `app.localhost` (test/helpers/xml-socket.ts):
 * - it never answers: every publish times out at publish_timeout (D11), the history records the
 *   timeouts, nothing stays pending and the daemon's RSS stays flat over 2 × 5000 publishes;
 * - it answers errors: non-`wait` errors count, `wait` does not, a result resets the count, and
 *   the registration is removed at push_max_errors (B41–B43, D13).
 * The daemon here runs with D19's retries and D20's removal at once switched off
 * (push_retry_delays = [], push_remove_conditions = []), i.e. the reference's policy; the default
 * policy against p2/fpush/plain services is test/fault/app-service-policy.test.ts.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Element } from "ltx";

import { type Daemon, ensureBinary, startDaemon } from "../helpers/daemon.ts";
import { disposeProsody, type ProsodyInstance, startProsody } from "../helpers/prosody.ts";
import { describeProsody, type ProsodyVersion } from "../helpers/prosody-versions.ts";
import { connectComponent, type TestComponent } from "../helpers/xml-socket.ts";
import { startClient, type TestClient } from "../helpers/xmpp-client.ts";

const SECRET = "app-fault-secret";
const APP_SECRET = "app-secret";
const TOKEN = "app-fault-token";
const PW = "pw";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const SILENT_NODES = 500;

/** How the app service answers a publish to a node. */
type Mode = "silent" | "result" | { type: string; condition: string };
const modes = new Map<string, Mode>();
let publishesSeen = 0;

let prosody: ProsodyInstance;
let daemon: Daemon;
let app: TestComponent;
let alice: TestClient;
let bob: TestClient;

function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(daemon.url(`/api/v1${path}`), { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers ?? {}) } });
}

async function rss(): Promise<number> {
  const status = await Bun.file(`/proc/${daemon.proc.pid}/status`).text();
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

async function enableMany(c: TestClient, nodes: string[]): Promise<void> {
  const replies = nodes.map((node) => {
    const id = `en-${node}`;
    return c.iq(`<iq type='set' id='${id}'><enable xmlns='urn:xmpp:push:0' jid='app.localhost' node='${node}'/></iq>`, id, 30000);
  });
  for (const r of await Promise.all(replies)) expect(r.type).toBe("result");
}

/** Starts this file's Prosody (of `version`), daemon and clients; resets the module state of a previous version's run. */
async function setUp(version: ProsodyVersion): Promise<void> {
  modes.clear();
  publishesSeen = 0;
  await ensureBinary();
  prosody = await startProsody({
    version,
    componentSecret: SECRET,
    bridge: true,
    hostConfig: "  cloud_notifyd_publish_timeout = 3",
    extraConfig: `Component "app.localhost"\n  component_secret = "${APP_SECRET}"\n`,
    users: [
      ["alice", PW],
      ["bob", PW],
    ],
  });
  app = await connectComponent({ port: prosody.componentPort, domain: "app.localhost", secret: APP_SECRET });
  app.onStanza((el) => {
    if (el.name !== "iq" || el.attrs.type !== "set") return false;
    const publish = el.getChild("pubsub")?.getChild("publish");
    if (publish === undefined) return false;
    publishesSeen += 1;
    const mode = modes.get(String(publish.attrs.node)) ?? "silent";
    if (mode === "silent") return true;
    const reply = new Element("iq", {
      type: mode === "result" ? "result" : "error",
      from: "app.localhost",
      to: el.attrs.from,
      id: el.attrs.id,
    });
    if (mode !== "result") reply.c("error", { type: mode.type }).c(mode.condition, { xmlns: NS_STANZAS });
    app.send(reply);
    return true;
  });
  daemon = await startDaemon({
    env: {
      CLOUD_NOTIFYD_HOST: prosody.host,
      CLOUD_NOTIFYD_COMPONENT_DOMAIN: prosody.componentDomain,
      CLOUD_NOTIFYD_COMPONENT_PORT: String(prosody.componentPort),
      CLOUD_NOTIFYD_COMPONENT_SECRET: SECRET,
      CLOUD_NOTIFYD_ADMIN_TOKEN: TOKEN,
      CLOUD_NOTIFYD_PUBLISH_TIMEOUT: "2",
      CLOUD_NOTIFYD_PUSH_MAX_DEVICES: "1000",
      CLOUD_NOTIFYD_PUSH_MAX_ERRORS: "3",
      CLOUD_NOTIFYD_PUSH_RETRY_DELAYS: "",
      CLOUD_NOTIFYD_PUSH_REMOVE_CONDITIONS: "",
      CLOUD_NOTIFYD_LOG_LEVEL: "warn",
    },
  });
  await daemon.waitReady();
  alice = await startClient({ jid: "alice@localhost/phone", password: PW, port: prosody.c2sPort });
  bob = await startClient({ jid: "bob@localhost/phone", password: PW, port: prosody.c2sPort });
}

async function tearDown(): Promise<void> {
  await alice?.quit();
  await bob?.quit();
  await app?.close();
  if (daemon && daemon.proc.exitCode === null) await daemon.kill9();
  if (prosody) await disposeProsody(prosody);
}

describeProsody("app service faults", (version) => {
  beforeAll(() => setUp(version), 90000);
  afterAll(tearDown, 30000);

  test("D11 an app service that never answers: 2 × 5000 publishes time out, history shows it, nothing pending, RSS flat", async () => {
    await enableMany(
      alice,
      Array.from({ length: SILENT_NODES }, (_, i) => `silent-${i}`),
    );
    const rss0 = await rss();
    const waveRss: number[] = [];
    for (let wave = 0; wave < 2; wave++) {
      const seenBefore = publishesSeen;
      // 10 test pushes × 500 registrations = 5000 publishes per wave, all at once.
      const responses = await Promise.all(Array.from({ length: 10 }, () => api("/users/alice/test-push", { method: "POST" })));
      let timeouts = 0;
      for (const res of responses) {
        expect(res.status).toBe(200);
        const body = (await res.json()) as { results: Array<{ outcome: string }> };
        expect(body.results.length).toBe(SILENT_NODES);
        timeouts += body.results.filter((r) => r.outcome === "timeout").length;
      }
      expect(timeouts).toBe(10 * SILENT_NODES);
      // They all really reach the app service (some after the daemon's 2 s deadline: Prosody needs a
      // few seconds for 5000 at once).
      const deadline = Date.now() + 15000;
      while (publishesSeen - seenBefore < 10 * SILENT_NODES && Date.now() < deadline) await Bun.sleep(50);
      expect(publishesSeen - seenBefore).toBe(10 * SILENT_NODES);
      await Bun.sleep(1500); // history is written in batches every second
      waveRss.push(await rss());
    }
    const totals = (await (await api("/totals")).json()) as { totals: Record<string, number> };
    expect(totals.totals.pendingPublishes).toBe(0);
    expect(totals.totals.backlog).toBe(0);
    const history = (await (await api("/users/alice/history?limit=1000")).json()) as {
      history: Array<{ outcome: string; trigger: string }>;
    };
    expect(history.history.length).toBe(1000);
    expect(history.history.filter((h) => h.outcome === "timeout").length).toBeGreaterThan(400);
    expect(history.history.every((h) => h.outcome === "timeout" || h.outcome === "sent")).toBe(true);
    // Timeouts never count toward removal (D11): all 500 registrations are still there, count 0.
    const regs = (await (await api("/users/alice/registrations")).json()) as { registrations: Array<{ errorCount: number }> };
    expect(regs.registrations.length).toBe(SILENT_NODES);
    expect(regs.registrations.every((r) => r.errorCount === 0)).toBe(true);
    console.log(
      `silent app service: 10000 publishes, VmRSS before ${rss0} kB, after wave 1 ${waveRss[0]} kB, after wave 2 ${waveRss[1]} kB`,
    );
    expect((waveRss[1] as number) - (waveRss[0] as number)).toBeLessThan(40 * 1024);
  }, 120000);

  test("B41 B42 B43 D13 error answers: non-wait errors count, wait does not, result resets, removal at push_max_errors", async () => {
    await enableMany(bob, ["err"]);
    const identifier = "app.localhost<err";
    async function push(mode: Mode): Promise<{ outcome: string; error: string | null }> {
      modes.set("err", mode);
      const res = await api("/users/bob/test-push", { method: "POST", body: JSON.stringify({ identifier }) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { results: Array<{ outcome: string; error: string | null }> };
      expect(body.results.length).toBe(1);
      const r = body.results[0] as { outcome: string; error: string | null };
      return { outcome: r.outcome, error: r.error };
    }
    async function errorCount(): Promise<number | null> {
      const res = await api("/users/bob/registrations");
      if (res.status === 404) return null;
      const body = (await res.json()) as { registrations: Array<{ identifier: string; errorCount: number }> };
      return body.registrations.find((r) => r.identifier === identifier)?.errorCount ?? null;
    }
    expect(await push({ type: "cancel", condition: "item-not-found" })).toEqual({ outcome: "error", error: "cancel/item-not-found" });
    expect(await errorCount()).toBe(1);
    expect(await push({ type: "wait", condition: "resource-constraint" })).toEqual({ outcome: "error", error: "wait/resource-constraint" });
    expect(await errorCount()).toBe(1); // B42: wait never counts
    expect(await push({ type: "modify", condition: "bad-request" })).toEqual({ outcome: "error", error: "modify/bad-request" });
    expect(await errorCount()).toBe(2);
    expect((await push("result")).outcome).toBe("ok");
    expect(await errorCount()).toBe(0); // B43: a result resets the consecutive count
    await push({ type: "auth", condition: "forbidden" });
    await push({ type: "cancel", condition: "not-allowed" });
    expect(await errorCount()).toBe(2);
    await push({ type: "cancel", condition: "remote-server-not-found" });
    expect(await errorCount()).toBeNull(); // B41: removed at push_max_errors = 3
    await Bun.sleep(1500);
    const removals = (await (await api("/removals?user=bob")).json()) as {
      removals: Array<{ identifier: string; reason: string; detail: string | null }>;
    };
    const removal = removals.removals.find((r) => r.identifier === identifier);
    expect(removal?.reason).toBe("max-errors");
    expect(removal?.detail).toContain("cancel/remote-server-not-found");
    const history = (await (await api(`/users/bob/history?identifier=${encodeURIComponent(identifier)}`)).json()) as {
      history: Array<{ outcome: string; error: string | null }>;
    };
    expect(history.history.filter((h) => h.outcome === "error").length).toBe(6);
    expect(history.history.filter((h) => h.outcome === "ok").length).toBe(1);
  }, 60000);
});
