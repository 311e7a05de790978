/**
 * Issue 11 item 3: the bridge refuses to work beside Prosody's own push module. With
 * mod_cloud_notify loaded on the bridge's host (globally, as Prosody 13's stock configuration does,
 * or loaded later at run time), no message is ever pushed twice, the bridge logs one error line
 * naming the fix, and the daemon's /readyz says why it is not ready.
 * Real Prosody, the compiled daemon, an app service component and slixmpp clients.
 */
import { afterEach, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { type AppService, appComponentConfig, startAppService } from "../helpers/app-service.ts";
import { BINARY, type Daemon, ensureBinary, startDaemon } from "../helpers/daemon.ts";
import { disposeProsody, type ProsodyInstance, type ProsodyOptions, startProsody } from "../helpers/prosody.ts";
import { describeProsody } from "../helpers/prosody-versions.ts";
import { prosody13Root } from "../helpers/prosody13-chroot.ts";
import { APP_DOMAIN, enable, enableXml, eventually, PASSWORD } from "../helpers/push-stack.ts";
import { startClient, type TestClient } from "../helpers/xmpp-client.ts";

setDefaultTimeout(60000);

const SECRET = "conflict-secret";
const APP_SECRET = "conflict-app-secret";
const ADMIN_TOKEN = "conflict-admin-token";
const FIX = `modules_disabled = { "cloud_notify" }`;
/** Prosody 13's stock global modules (cloud_notify among them) plus those the tests need. */
const STOCK_GLOBAL_MODULES = `modules_enabled = { "roster", "saslauth", "disco", "ping", "carbons", "mam", "smacks", "offline", "cloud_notify" }`;
const N = 4;

interface ConflictStack {
  prosody: ProsodyInstance;
  app: AppService;
  daemon: Daemon | null;
  env: Record<string, string>;
  client(user: string, resource: string): Promise<TestClient>;
  startDaemon(dataDir?: string): Promise<Daemon>;
  readyz(): Promise<{
    status: number;
    body: { ready: boolean; checks: Record<string, { ok: boolean; reason?: string; warning?: string }> };
  }>;
}

const stacks: Array<{ dispose(): Promise<void> }> = [];

beforeAll(async () => {
  await ensureBinary();
}, 120000);

afterEach(async () => {
  for (const s of stacks.splice(0)) await s.dispose();
});

async function conflictStack(prosodyOpts: Partial<ProsodyOptions>): Promise<ConflictStack> {
  const prosody = await startProsody({
    componentSecret: SECRET,
    bridge: true,
    users: [
      ["alice", PASSWORD],
      ["bob", PASSWORD],
    ],
    ...prosodyOpts,
    extraConfig: appComponentConfig(APP_DOMAIN, APP_SECRET),
  });
  const clients: TestClient[] = [];
  const daemons: Daemon[] = [];
  let app: AppService | null = null;
  const dispose = async () => {
    await Promise.all(clients.map((c) => c.kill().catch(() => {})));
    for (const d of daemons) if (d.proc.exitCode === null && d.proc.signalCode === null) await d.kill9();
    await app?.close().catch(() => {});
    await disposeProsody(prosody);
    for (const d of daemons) rmSync(d.dataDir, { recursive: true, force: true });
  };
  stacks.push({ dispose });
  app = await startAppService({ port: prosody.componentPort, domain: APP_DOMAIN, secret: APP_SECRET });
  const env = {
    CLOUD_NOTIFYD_HOST: prosody.host,
    CLOUD_NOTIFYD_COMPONENT_DOMAIN: prosody.componentDomain,
    CLOUD_NOTIFYD_COMPONENT_PORT: String(prosody.componentPort),
    CLOUD_NOTIFYD_COMPONENT_SECRET: SECRET,
    CLOUD_NOTIFYD_ADMIN_TOKEN: ADMIN_TOKEN,
  };
  const stack: ConflictStack = {
    prosody,
    app,
    daemon: null,
    env,
    async client(user, resource) {
      const c = await startClient({ jid: `${user}@${prosody.host}/${resource}`, password: PASSWORD, port: prosody.c2sPort });
      clients.push(c);
      return c;
    },
    async startDaemon(dataDir) {
      const d = await startDaemon({ env, ...(dataDir === undefined ? {} : { dataDir }) });
      daemons.push(d);
      stack.daemon = d;
      return d;
    },
    async readyz() {
      const res = await fetch(stack.daemon!.url("/readyz")).catch(() => null);
      if (res === null) return { status: 0, body: { ready: false, checks: {} } }; // not listening yet
      return { status: res.status, body: (await res.json()) as Awaited<ReturnType<ConflictStack["readyz"]>>["body"] };
    },
  };
  return stack;
}

/** Waits until /readyz answers 503 because of the cloud_notify conflict; returns the bridge check's reason. */
async function conflictReason(s: ConflictStack): Promise<string> {
  return eventually(
    async () => {
      const r = await s.readyz();
      const reason = r.body.checks.bridge?.reason;
      return r.status === 503 && reason?.includes("mod_cloud_notify") ? reason : undefined;
    },
    15000,
    "/readyz naming the cloud_notify conflict",
  );
}

function conflictLines(log: string): string[] {
  return log.split("\n").filter((l) => l.includes("Cannot push beside mod_cloud_notify"));
}

async function daemonHistory(s: ConflictStack, user: string): Promise<unknown[]> {
  const res = await fetch(s.daemon!.url(`/api/v1/users/${user}/history?limit=100`), {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  if (res.status === 404) return [];
  return ((await res.json()) as { history: unknown[] }).history;
}

async function sendMessages(from: TestClient, to: string, prefix: string, n: number): Promise<void> {
  for (let i = 1; i <= n; i++) from.command({ cmd: "message", to, body: `${prefix} ${i}`, id: `${prefix}-${i}` });
}

// mod_cloud_notify: bundled with Prosody 13; on 0.12 the one from Debian's prosody-modules.
describeProsody("issue 11 #3 the bridge beside mod_cloud_notify", (version) => {
  if (version === "13") {
    test("Prosody 13's packaged prosody.cfg.lua enables cloud_notify in the global modules_enabled and leaves mam commented out (what the next test reproduces)", () => {
      const stock = readFileSync(join(prosody13Root(), "etc/prosody/prosody.cfg.lua"), "utf8");
      const global = stock.slice(stock.indexOf("modules_enabled = {"), stock.indexOf("}", stock.indexOf("modules_enabled = {")));
      expect(global).toMatch(/^\s*"cloud_notify";/m);
      expect(global).toMatch(/^\s*--"mam";/m);
      expect(existsSync(join(prosody13Root(), "usr/lib/prosody/modules/mod_cloud_notify.lua"))).toBe(true);
    });
  } else {
    test("mod_cloud_notify [prosody 0.12: not bundled; the one from Debian's prosody-modules package is on the default plugin path]", () => {
      expect(existsSync("/usr/lib/prosody/modules/mod_cloud_notify/mod_cloud_notify.lua")).toBe(true);
      expect(existsSync("/usr/lib/prosody/modules/mod_cloud_notify.lua")).toBe(false);
    });
  }

  test("B1 B47 stock configuration (cloud_notify in the global modules_enabled), a registration in both stores (after import-prosody): every message pushed exactly once, /readyz and Prosody's log name the fix", async () => {
    const s = await conflictStack({ version, extraGlobalConfig: STOCK_GLOBAL_MODULES });
    // The bridge refused at load: one error line naming the fix.
    const lines = await eventually(
      async () => {
        const found = conflictLines(await s.prosody.log());
        return found.length > 0 ? found : undefined;
      },
      5000,
      "the bridge's conflict line in Prosody's log",
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(FIX);
    expect(lines[0]).toContain(`VirtualHost "${s.prosody.host}"`);

    // The client's enable is answered by Prosody's module (the bridge does not forward it).
    const phone = await s.client("alice", "phone");
    await enable(phone, "both");
    await phone.quit();
    // The same registration in the daemon's store too, as after `cloud-notifyd import-prosody`.
    const dataDir = mkdtempSync(join(tmpdir(), "cnd-data-"));
    const imported = Bun.spawn([BINARY, "import-prosody", `${s.prosody.dir}/data`, "--host", s.prosody.host], {
      env: { PATH: "/usr/bin:/bin", HOME: dataDir, CLOUD_NOTIFYD_DATA_DIR: dataDir, CLOUD_NOTIFYD_HOST: s.prosody.host },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await imported.exited).toBe(0);
    await s.startDaemon(dataDir);
    const reason = await conflictReason(s);
    expect(reason).toContain(FIX);
    expect(reason).toContain(`VirtualHost "${s.prosody.host}"`);
    const regs = await fetch(s.daemon!.url("/api/v1/users/alice/registrations"), { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(regs.status).toBe(200); // the daemon does hold the registration: it would push if it were told

    const bob = await s.client("bob", "pc");
    await sendMessages(bob, "alice@localhost", "stock", N);
    await s.app.waitForCount(N, 15000);
    await Bun.sleep(2500); // a second push of any of them would arrive by now
    expect(s.app.publishes).toHaveLength(N);
    expect(s.app.publishes.every((p) => p.node === "both")).toBe(true);
    expect(await daemonHistory(s, "alice")).toEqual([]);
    // Still exactly one error line, and the daemon logged the reason once.
    expect(conflictLines(await s.prosody.log())).toHaveLength(1);
    expect(
      s
        .daemon!.logs()
        .split("\n")
        .filter((l) => l.includes("Cannot push: mod_cloud_notify is loaded")),
    ).toHaveLength(1);
  });

  test("B1 B47 mod_cloud_notify loaded at run time after the bridge: forwarding stops at once (one push per message), /readyz goes 503; unloaded: the daemon pushes again", async () => {
    const s = await conflictStack({ version, extraModules: ["admin_shell"] });
    const daemon = await s.startDaemon();
    await daemon.waitReady();
    const phone = await s.client("alice", "phone");
    await enable(phone, "daemon-node"); // the daemon's registration
    await s.prosody.prosodyctl("shell", `module:load('cloud_notify', '${s.prosody.host}')`);
    const reason = await conflictReason(s);
    expect(reason).toContain(FIX);
    // Now Prosody's module answers the enable: the daemon never sees it.
    const reply = await phone.iq(enableXml("e-p", "prosody-node"), "e-p");
    expect(reply.type).toBe("result");
    const regs = (await (
      await fetch(daemon.url("/api/v1/users/alice/registrations"), { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json()) as {
      registrations: Array<{ node: string }>;
    };
    expect(regs.registrations.map((r) => r.node)).toEqual(["daemon-node"]);
    await phone.quit();

    const bob = await s.client("bob", "pc");
    await sendMessages(bob, "alice@localhost", "loaded", N);
    await s.app.waitForCount(N, 15000);
    await Bun.sleep(2500);
    expect(s.app.publishes.map((p) => p.node)).toEqual(Array(N).fill("prosody-node"));
    expect(conflictLines(await s.prosody.log())).toHaveLength(1);

    await s.prosody.prosodyctl("shell", `module:unload('cloud_notify', '${s.prosody.host}')`);
    await daemon.waitReady(15000);
    bob.command({ cmd: "message", to: "alice@localhost", body: "after unload", id: "after-1" });
    await s.app.waitForCount(N + 1, 15000);
    await Bun.sleep(1500);
    expect(s.app.publishes.slice(N).map((p) => p.node)).toEqual(["daemon-node"]);
    expect((await s.prosody.log()).includes("mod_cloud_notify is no longer loaded on localhost: forwarding to the daemon again")).toBe(
      true,
    );
  });
});

describeProsody("issue 11 #4 companion modules reported by the bridge", (version) => {
  test("B47 mam and carbons disabled on the host: ready, one warning per missing module in the log and in /readyz; doctor prints the checklist; a module unloaded later is reported too", async () => {
    const s = await conflictStack({ version, extraModules: ["admin_shell"], hostConfig: `  modules_disabled = { "mam", "carbons" }` });
    const daemon = await s.startDaemon();
    await daemon.waitReady();
    const r = await eventually(
      async () => {
        const x = await s.readyz();
        return x.body.checks.mod_mam !== undefined ? x : undefined;
      },
      10000,
      "module checks in /readyz",
    );
    expect(r.status).toBe(200);
    expect(r.body.ready).toBe(true);
    expect(r.body.checks.mod_mam).toEqual({ ok: true, warning: expect.stringContaining("mod_mam is not loaded on localhost") });
    expect(r.body.checks.mod_carbons?.warning).toContain("mod_carbons is not loaded on localhost");
    expect(r.body.checks.mod_smacks).toEqual({ ok: true });
    expect(r.body.checks.mod_offline).toEqual({ ok: true });
    const warnings = () =>
      daemon
        .logs()
        .split("\n")
        .filter((l) => l.includes("level=warn") && l.includes("is not loaded on localhost"));
    expect(warnings()).toHaveLength(2);

    const doctor = Bun.spawn([BINARY, "doctor"], {
      env: { PATH: "/usr/bin:/bin", HOME: daemon.dataDir, CLOUD_NOTIFYD_ADMIN_PORT: String(daemon.adminPort) },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, code] = await Promise.all([new Response(doctor.stdout).text(), doctor.exited]);
    expect(code).toBe(0);
    expect(out).toContain("[ok]   bridge");
    expect(out).toContain("[warn] mod_mam: mod_mam is not loaded on localhost");
    expect(out).toContain("Ready (0 problems, 2 warnings).");

    // A module unloaded later is reported live: one more warning, the earlier ones not repeated.
    await s.prosody.prosodyctl("shell", `module:unload('offline', 'localhost')`);
    await eventually(
      async () => ((await s.readyz()).body.checks.mod_offline?.warning !== undefined ? true : undefined),
      10000,
      "mod_offline warning",
    );
    expect(warnings()).toHaveLength(3);
  });

  test("B47 conflict: doctor exits 1 and names the fix", async () => {
    const s = await conflictStack({ version, extraModules: ["cloud_notify"] });
    const daemon = await s.startDaemon();
    await conflictReason(s);
    const doctor = Bun.spawn([BINARY, "doctor"], {
      env: { PATH: "/usr/bin:/bin", HOME: daemon.dataDir, CLOUD_NOTIFYD_ADMIN_PORT: String(daemon.adminPort) },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, code] = await Promise.all([new Response(doctor.stdout).text(), doctor.exited]);
    expect(code).toBe(1);
    expect(out).toContain(`[FAIL] bridge: mod_cloud_notify is loaded on localhost beside the bridge`);
    expect(out).toContain(FIX);
    expect(out).toContain("Not ready (1 problem");
  });
});
