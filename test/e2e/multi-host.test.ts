/**
 * Issue 13: one daemon, one component connection, two VirtualHosts of one real Prosody, each
 * with the bridge. alice@a.localhost and alice@b.localhost share a local part; nothing of one may
 * leak to the other: enables, pushes, disables, device limits (b has its own push_max_devices),
 * error removal, account deletion and the admin API (user@host; a bare local part is refused
 * with several hosts). A bridge on a third host the daemon does not serve is refused clearly.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { type AppService, appComponentConfig, startAppService } from "../helpers/app-service.ts";
import { type Daemon, startDaemon } from "../helpers/daemon.ts";
import { disposeProsody, type ProsodyInstance, startProsody } from "../helpers/prosody.ts";
import { describeProsody } from "../helpers/prosody-versions.ts";
import { startClient, type TestClient } from "../helpers/xmpp-client.ts";

setDefaultTimeout(30000);

const SECRET = "multi-secret";
const APP_SECRET = "multi-app-secret";
const TOKEN = "multi-token";
const PW = "pw";
const A = "a.localhost";
const B = "b.localhost";
const C = "c.localhost";
const COMP = "push.localhost";
const APP = "app.localhost";

function hostSection(host: string): string {
  return `VirtualHost "${host}"\n  modules_enabled = { "cloud_notifyd", "register" }\n  cloud_notifyd_component = "${COMP}"\n`;
}

describeProsody("one daemon for several VirtualHosts (issue 13)", (version) => {
  let prosody: ProsodyInstance;
  let daemon: Daemon;
  let app: AppService;
  const clients: TestClient[] = [];

  async function client(jid: string, resource: string): Promise<TestClient> {
    const c = await startClient({ jid: `${jid}/${resource}`, password: PW, port: prosody.c2sPort });
    clients.push(c);
    return c;
  }

  async function enable(c: TestClient, node: string): Promise<void> {
    const id = `en-${node}`;
    const reply = await c.iq(`<iq type='set' id='${id}'><enable xmlns='urn:xmpp:push:0' jid='${APP}' node='${node}'/></iq>`, id);
    expect(reply.type).toBe("result");
  }

  async function api<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
    const res = await fetch(daemon.url(`/api/v1${path}`), { ...init, headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: res.status, body: (await res.json().catch(() => null)) as T };
  }

  async function nodesOf(user: string): Promise<string[]> {
    const r = await api<{ registrations: Array<{ identifier: string }> }>(`/users/${encodeURIComponent(user)}/registrations`);
    return r.status === 200 ? r.body.registrations.map((x) => x.identifier.split("<")[1] ?? "").sort() : [];
  }

  async function pushedNodes(send: () => void, count: number): Promise<string[]> {
    const before = app.publishes.length;
    send();
    await app.waitForCount(before + count, 10000);
    await Bun.sleep(300);
    return app.publishes
      .slice(before)
      .map((p) => p.node ?? "")
      .sort();
  }

  beforeAll(async () => {
    prosody = await startProsody({
      version,
      host: A,
      componentDomain: COMP,
      componentSecret: SECRET,
      bridge: true,
      extraModules: ["register"],
      extraConfig: `${hostSection(B)}\n${hostSection(C)}\n${appComponentConfig(APP, APP_SECRET)}`,
    });
    // Accounts straight into each host's internal store (alice on a, b; friends; carol on c).
    await prosody.stop();
    for (const [host, users] of [
      [A, ["alice", "friend"]],
      [B, ["alice", "friend"]],
      [C, ["carol"]],
    ] as const) {
      const dir = join(prosody.dir, "data", host.replaceAll(".", "%2e"), "accounts");
      mkdirSync(dir, { recursive: true });
      for (const u of users) writeFileSync(join(dir, `${u}.dat`), `return {\n\t["password"] = "${PW}";\n};\n`);
    }
    await prosody.restart();
    app = await startAppService({ port: prosody.componentPort, domain: APP, secret: APP_SECRET });
    const dataDir = `${prosody.dir}/daemon`;
    mkdirSync(dataDir, { recursive: true });
    const configFile = join(dataDir, "cloud-notifyd.toml");
    writeFileSync(configFile, `hosts = ["${A}", "${B}"]\n\n[hosts_options."${B}"]\npush_max_devices = 1\n`);
    daemon = await startDaemon({
      dataDir,
      args: ["--config", configFile],
      env: {
        CLOUD_NOTIFYD_COMPONENT_DOMAIN: COMP,
        CLOUD_NOTIFYD_COMPONENT_PORT: String(prosody.componentPort),
        CLOUD_NOTIFYD_COMPONENT_SECRET: SECRET,
        CLOUD_NOTIFYD_ADMIN_TOKEN: TOKEN,
      },
    });
    await daemon.waitReady(30000);
  }, 90000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.kill().catch(() => {})));
    if (daemon && daemon.proc.exitCode === null) await daemon.kill9();
    await app?.close().catch(() => {});
    if (prosody) await disposeProsody(prosody);
  }, 30000);

  test("enables and pushes of alice@a and alice@b never reach the other; the API needs user@host", async () => {
    const aliceA = await client(`alice@${A}`, "phone");
    await enable(aliceA, "na");
    await aliceA.quit();
    const aliceB = await client(`alice@${B}`, "phone");
    await enable(aliceB, "nb");
    await aliceB.quit();
    expect(await nodesOf(`alice@${A}`)).toEqual(["na"]);
    expect(await nodesOf(`alice@${B}`)).toEqual(["nb"]);
    expect((await api("/users/alice/registrations")).status).toBe(400);

    const friendA = await client(`friend@${A}`, "pc");
    const friendB = await client(`friend@${B}`, "pc");
    expect(await pushedNodes(() => friendA.command({ cmd: "message", to: `alice@${A}`, body: "to a", id: "ma1" }), 1)).toEqual(["na"]);
    expect(await pushedNodes(() => friendB.command({ cmd: "message", to: `alice@${B}`, body: "to b", id: "mb1" }), 1)).toEqual(["nb"]);
    // Both publishes come from their own host (D15, p2 checks the domain).
    const last = app.publishes
      .slice(-2)
      .map((p) => p.iq.attrs.from)
      .sort();
    expect(last).toEqual([A, B]);
  });

  test("per-host push_max_devices: b keeps 1 device, a keeps its default", async () => {
    const aliceB = await client(`alice@${B}`, "tablet");
    await enable(aliceB, "nb2");
    await aliceB.quit();
    expect(await nodesOf(`alice@${B}`)).toEqual(["nb2"]); // nb evicted: b allows one
    const aliceA = await client(`alice@${A}`, "tablet");
    await enable(aliceA, "na2");
    await aliceA.quit();
    expect(await nodesOf(`alice@${A}`)).toEqual(["na", "na2"]);
    const removals = await api<{ removals: Array<{ user: string; reason: string }> }>(`/removals?user=${encodeURIComponent(`alice@${B}`)}`);
    expect(removals.body.removals.map((r) => [r.user, r.reason])).toEqual([[`alice@${B}`, "evicted"]]);
  });

  test("an app service's removal answer and a disable affect one host's alice only", async () => {
    app.setAnswer((p) => (p.node === "nb2" ? { kind: "error", type: "cancel", condition: "item-not-found" } : { kind: "result" }));
    const friendB = clients.find((c) => c.jid.startsWith(`friend@${B}`)) as TestClient;
    await pushedNodes(() => friendB.command({ cmd: "message", to: `alice@${B}`, body: "dead", id: "mb2" }), 1);
    await Bun.sleep(500);
    expect(await nodesOf(`alice@${B}`)).toEqual([]); // D20: removed at once
    expect(await nodesOf(`alice@${A}`)).toEqual(["na", "na2"]);
    app.setAnswer(() => ({ kind: "result" }));

    const aliceA = await client(`alice@${A}`, "laptop");
    const reply = await aliceA.iq(`<iq type='set' id='dis1'><disable xmlns='urn:xmpp:push:0' jid='${APP}' node='na2'/></iq>`, "dis1");
    expect(reply.type).toBe("result");
    await aliceA.quit();
    expect(await nodesOf(`alice@${A}`)).toEqual(["na"]);
  });

  test("D14 deleting alice@b's account purges only hers", async () => {
    const aliceB = await client(`alice@${B}`, "phone2");
    await enable(aliceB, "nb3");
    const reply = await aliceB.iq(`<iq type='set' id='rm1'><query xmlns='jabber:iq:register'><remove/></query></iq>`, "rm1");
    expect(reply.type).toBe("result");
    for (let i = 0; i < 50 && (await nodesOf(`alice@${B}`)).length > 0; i++) await Bun.sleep(200);
    expect(await nodesOf(`alice@${B}`)).toEqual([]);
    expect(await nodesOf(`alice@${A}`)).toEqual(["na"]);
  });

  test("a bridge on a host the daemon does not serve is refused with one line on each side", async () => {
    const carol = await client(`carol@${C}`, "phone");
    const reply = await carol.iq(`<iq type='set' id='enc'><enable xmlns='urn:xmpp:push:0' jid='${APP}' node='nc'/></iq>`, "enc");
    expect(reply.type).toBe("error"); // wait/service-unavailable: no daemon serves c
    await daemon.waitForLog(
      new RegExp(`bridge on ${C.replaceAll(".", "\\.")} asked for a hello, but ${C.replaceAll(".", "\\.")} is not in hosts`),
      10000,
    );
    for (let i = 0; i < 50 && !(await prosody.log()).includes("does not serve"); i++) await Bun.sleep(100);
    expect(await prosody.log()).toMatch(/does not serve c\.localhost \(host not configured\): add "c\.localhost" to hosts/);
  });
});
