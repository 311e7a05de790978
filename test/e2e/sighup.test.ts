/**
 * Issue 15 item 6: SIGHUP re-reads the secret files and the log level (docs/operations.md §2),
 * tested with the compiled binary against the scripted XEP-0114 server (test/helpers/fake-bridge.ts):
 * a wrong secret in component_secret_file is refused (not-authorized); the file is fixed; SIGHUP
 * makes the daemon connect with it, without a restart. The admin token file and the log level
 * from the config file are picked up the same way; a change that needs a restart says so.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { type Daemon, ensureBinary, startDaemon } from "../helpers/daemon.ts";
import { type FakeBridge, startFakeBridge, waitFor } from "../helpers/fake-bridge.ts";

const SECRET = "sighup-right-secret-4e1a";
const WRONG = "sighup-wrong-secret-90b2";
const root = mkdtempSync(join(tmpdir(), "cnd-sighup-"));
const daemons: Daemon[] = [];
let bridge: FakeBridge;

beforeAll(async () => {
  await ensureBinary();
  bridge = await startFakeBridge({ secret: SECRET });
}, 120_000);
afterAll(async () => {
  for (const d of daemons) if (d.proc.exitCode === null) await d.kill9();
  await bridge.close();
  rmSync(root, { recursive: true, force: true });
});

function secretFile(name: string, value: string): string {
  const path = join(root, name);
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return path;
}

async function readyStatus(d: Daemon): Promise<number> {
  return (await fetch(d.url("/readyz"))).status;
}

describe("SIGHUP (compiled binary)", () => {
  test("a fixed component_secret_file is picked up on SIGHUP: not-authorized, then online without a restart; the admin token file and log_level too", async () => {
    const secretPath = secretFile("component_secret", WRONG);
    const tokenPath = secretFile("admin_token", "token-before-3c");
    const configPath = join(root, "cloud-notifyd.toml");
    writeFileSync(configPath, `log_level = "info"\nadmin_token_file = "${tokenPath}"\ncomponent_secret_file = "${secretPath}"\n`, {
      mode: 0o600,
    });
    const d = await startDaemon({
      args: ["--config", configPath],
      env: {
        CLOUD_NOTIFYD_HOST: bridge.host,
        CLOUD_NOTIFYD_COMPONENT_DOMAIN: bridge.componentDomain,
        CLOUD_NOTIFYD_COMPONENT_PORT: String(bridge.port),
      },
      unset: ["CLOUD_NOTIFYD_LOG_LEVEL"], // the file's log_level counts (the helper's default is debug)
    });
    daemons.push(d);
    await d.waitForLog(/not-authorized/);
    expect(await readyStatus(d)).toBe(503);
    const before = bridge.connections.length;
    const auth = (token: string) => fetch(d.url("/api/v1/users"), { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
    expect(await auth("token-before-3c")).toBe(200);
    expect(d.logs()).not.toMatch(/level=debug/);

    // Fix the files (and change the level and an option that needs a restart), then SIGHUP.
    secretFile("component_secret", SECRET);
    secretFile("admin_token", "token-after-7d");
    writeFileSync(
      configPath,
      `log_level = "debug"\nadmin_token_file = "${tokenPath}"\ncomponent_secret_file = "${secretPath}"\npush_max_errors = 3\n`,
      { mode: 0o600 },
    );
    d.proc.kill("SIGHUP");
    await d.waitForLog(/msg="config reloaded" log_level=debug applied=log_level,component_secret,admin_token/);
    await bridge.ready(before - 1, 10_000); // a new connection (indexes count from 0)
    await d.waitReady(10_000);
    expect(d.proc.exitCode).toBeNull(); // the same process: no restart
    expect(await auth("token-after-7d")).toBe(200);
    expect(await auth("token-before-3c")).toBe(401);
    expect(d.logs()).toMatch(/level=warn msg="config reloaded: these changes take effect at the next restart" keys=push_max_errors/);
    expect(d.logs()).toMatch(/msg="component secret changed: reconnecting"/);
    await waitFor(() => /level=debug/.test(d.logs()), 5000, "a debug line after the level changed");
    for (const secret of [SECRET, WRONG, "token-before-3c", "token-after-7d"]) expect(d.logs()).not.toContain(secret);
    expect(await d.stop()).toBe(0);
  }, 60_000);

  test("a config file that no longer loads keeps the running configuration, with one error line", async () => {
    const secretPath = secretFile("component_secret_2", SECRET);
    const configPath = join(root, "second.toml");
    writeFileSync(configPath, `component_secret_file = "${secretPath}"\n`, { mode: 0o600 });
    const d = await startDaemon({
      args: ["--config", configPath],
      env: {
        CLOUD_NOTIFYD_HOST: bridge.host,
        CLOUD_NOTIFYD_COMPONENT_DOMAIN: bridge.componentDomain,
        CLOUD_NOTIFYD_COMPONENT_PORT: String(bridge.port),
      },
    });
    daemons.push(d);
    await d.waitReady();
    writeFileSync(configPath, `component_secret_file = "${secretPath}"\npush_max_eror = 3\n`);
    d.proc.kill("SIGHUP");
    await d.waitForLog(/Cannot reload config/);
    expect(d.logs()).toMatch(
      /level=error msg="Cannot reload config: keeping the running one" error="Cannot load config: unknown key push_max_eror in .*\(did you mean push_max_errors\?\)"/,
    );
    await Bun.sleep(200);
    expect(await readyStatus(d)).toBe(200);
    expect(d.proc.exitCode).toBeNull();
    expect(await d.stop()).toBe(0);
  }, 60_000);
});
