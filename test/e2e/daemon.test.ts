/**
 * The compiled binary against a real Prosody (Debian package) with the bridge module:
 * authentication, readiness, reconnect after a Prosody restart, a wrong secret, and starting on
 * a database made by an earlier migration.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";

import { applyMigrations, MIGRATIONS } from "../../src/store/migrate.ts";
import { type Daemon, ensureBinary, startDaemon } from "../helpers/daemon.ts";
import { disposeProsody, type ProsodyInstance, startProsody } from "../helpers/prosody.ts";
import { describeProsody } from "../helpers/prosody-versions.ts";

const SECRET = "s3cret-for-tests";
let prosody: ProsodyInstance;
const daemons: Daemon[] = [];

function envFor(p: ProsodyInstance, secret = SECRET): Record<string, string> {
  return {
    CLOUD_NOTIFYD_HOST: p.host,
    CLOUD_NOTIFYD_COMPONENT_DOMAIN: p.componentDomain,
    CLOUD_NOTIFYD_COMPONENT_PORT: String(p.componentPort),
    CLOUD_NOTIFYD_COMPONENT_SECRET: secret,
  };
}

async function readyz(
  d: Daemon,
): Promise<{ status: number; body: { ready: boolean; checks: Record<string, { ok: boolean; reason?: string }> } }> {
  const res = await fetch(d.url("/readyz"));
  return { status: res.status, body: await res.json() };
}

async function waitStatus(d: Daemon, status: number, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    last = (await readyz(d)).status;
    if (last === status) return;
    await Bun.sleep(50);
  }
  throw new Error(`readyz stayed ${last}, wanted ${status}\n${d.logs().slice(-2000)}`);
}

describeProsody("compiled binary against real Prosody", (version) => {
  beforeAll(async () => {
    await ensureBinary();
    prosody = await startProsody({ version, componentSecret: SECRET, bridge: true });
  }, 60000);

  afterAll(async () => {
    for (const d of daemons.splice(0)) if (d.proc.exitCode === null) await d.kill9();
    if (prosody) await disposeProsody(prosody);
  });

  test("authenticates as a component, gets the bridge's hello and turns ready", async () => {
    const d = await startDaemon({ env: envFor(prosody) });
    daemons.push(d);
    await d.waitReady();
    const { body } = await readyz(d);
    expect(body.checks.component?.ok).toBe(true);
    expect(body.checks.bridge?.ok).toBe(true);
    expect(body.checks.store?.ok).toBe(true);
    const health = await fetch(d.url("/healthz"));
    expect(health.status).toBe(200);
    expect(await d.stop()).toBe(0);
  }, 30000);

  test("reconnects after Prosody restarts and is ready again", async () => {
    const d = await startDaemon({ env: { ...envFor(prosody), CLOUD_NOTIFYD_LOG_LEVEL: "info" } });
    daemons.push(d);
    await d.waitReady();
    await prosody.stop();
    await waitStatus(d, 503);
    expect((await readyz(d)).body.checks.component?.ok).toBe(false);
    await prosody.restart();
    await waitStatus(d, 200, 40000);
    const connects = d.logs().match(/msg="XMPP component online"/g) ?? [];
    expect(connects.length).toBeGreaterThanOrEqual(2);
    expect(await d.stop()).toBe(0);
  }, 90000);

  test("a wrong secret keeps it not ready, with a clear not-authorized log line, and it keeps retrying", async () => {
    const d = await startDaemon({ env: envFor(prosody, "wrong-secret") });
    daemons.push(d);
    await d.waitForLog(/not-authorized/);
    const r = await readyz(d);
    expect(r.status).toBe(503);
    expect(r.body.checks.component?.reason).toContain("not-authorized");
    expect((await fetch(d.url("/healthz"))).status).toBe(200);
    expect(d.proc.exitCode).toBeNull();
    expect(d.logs()).not.toContain("wrong-secret");
    expect(await d.stop()).toBe(0);
  }, 30000);

  test("starts with no XMPP server at all: healthy, not ready, retrying", async () => {
    const d = await startDaemon({ env: { ...envFor(prosody), CLOUD_NOTIFYD_COMPONENT_PORT: "1" } });
    daemons.push(d);
    await d.waitForLog(/component disconnected|connection refused/i);
    expect((await fetch(d.url("/healthz"))).status).toBe(200);
    expect((await readyz(d)).status).toBe(503);
    expect(await d.stop()).toBe(0);
  }, 30000);

  test("starts on a database made by the first migration only and upgrades it, keeping its rows", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "cnd-old-"));
    const path = join(dataDir, "cloud-notifyd.db");
    const sqlite = new Database(path, { create: true });
    await applyMigrations(drizzle({ client: sqlite }), MIGRATIONS.slice(0, 1));
    sqlite.run(
      "INSERT INTO registrations (user, identifier, jid, node, include_payload, publish_options, client_id, resource, language, created_at, updated_at, error_count, last_error, last_error_at) VALUES ('alice', 'push.example<n1', 'push.example', 'n1', 0, NULL, NULL, NULL, NULL, 1, 1, 0, NULL, NULL)",
    );
    sqlite.close();
    const d = await startDaemon({ env: envFor(prosody), dataDir });
    daemons.push(d);
    await d.waitReady();
    expect(await d.stop()).toBe(0);
    const after = new Database(path, { readonly: true });
    const applied = after.query("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number };
    const rows = after.query("SELECT identifier FROM registrations").all() as Array<{ identifier: string }>;
    const tables = after.query("SELECT name FROM sqlite_master WHERE type='table'").all() as Array<{ name: string }>;
    after.close();
    expect(applied.n).toBe(MIGRATIONS.length);
    expect(rows.map((r) => r.identifier)).toEqual(["push.example<n1"]);
    expect(tables.map((t) => t.name)).toContain("push_history");
  }, 30000);
});
