/**
 * Keeps contrib/ in step with src/config.ts: the example config is valid, lists every option
 * with its default, and the systemd unit only uses variables the daemon reads.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CONFIG_KEYS, ENV_PREFIX, envName, loadConfig } from "../src/config.ts";

const ROOT = resolve(import.meta.dir, "..");
const EXAMPLE = join(ROOT, "contrib/cloud-notifyd.example.toml");
const UNIT = join(ROOT, "contrib/systemd/cloud-notifyd.service");
const SECRET = { CLOUD_NOTIFYD_COMPONENT_SECRET: "s3cret" };

function configKeys(): string[] {
  return [...CONFIG_KEYS];
}

const KEY_LINE = /^(#\s*)?([a-z_]+) = /;

describe("contrib/cloud-notifyd.example.toml", () => {
  const text = readFileSync(EXAMPLE, "utf8");
  const lines = text.split("\n");

  test("the key table is found in src/config.ts", () => {
    const keys = configKeys();
    expect(keys.length).toBeGreaterThanOrEqual(20);
    expect(keys).toContain("component_secret_file");
  });

  test("loads through loadConfig without warnings and sets every option to its default", () => {
    const loaded = loadConfig(SECRET, ["--config", EXAMPLE]);
    if (!loaded.ok) throw new Error(loaded.error);
    expect(loaded.warnings).toEqual([]);
    const defaults = loadConfig(SECRET, []);
    if (!defaults.ok) throw new Error(defaults.error);
    expect(loaded.config.configPath).toBe(EXAMPLE);
    expect({ ...loaded.config, configPath: null as string | null }).toEqual({ ...defaults.config });
  });

  test("every option in the key table appears, set or commented out, exactly once", () => {
    const shown = lines.map((l) => KEY_LINE.exec(l)?.[2]).filter((k): k is string => k !== undefined);
    for (const key of configKeys()) expect(shown.filter((k) => k === key)).toEqual([key]);
  });

  test("every option shown is a real one, and secrets are only shown commented out", () => {
    const keys = new Set(configKeys());
    for (const line of lines) {
      const m = KEY_LINE.exec(line);
      if (m === null) continue;
      expect(keys.has(m[2] as string)).toBe(true);
      if (/^(component_secret|store_auth_token|admin_token)$/.test(m[2] as string)) expect(m[1]).toBeDefined();
    }
  });

  test("every option has a comment line right above it", () => {
    lines.forEach((line, i) => {
      if (!KEY_LINE.test(line)) return;
      const above = lines[i - 1] ?? "";
      expect({ line, above: above.startsWith("#") && !KEY_LINE.test(above) }).toEqual({ line, above: true });
    });
  });
});

describe("contrib/systemd/cloud-notifyd.service", () => {
  const unit = readFileSync(UNIT, "utf8");
  const directives = unit.split("\n").filter((l) => /^[A-Za-z]+=/.test(l));

  test("sets only variables the daemon reads, plus the JavaScriptCore heap size (docs/performance.md)", () => {
    const all = directives.filter((l) => l.startsWith("Environment=")).map((l) => /^Environment=([A-Za-z_]+)=/.exec(l)?.[1] ?? l);
    expect(all.filter((n) => n.startsWith("BUN_JSC_"))).toEqual(["BUN_JSC_forceRAMSize"]);
    const names = all.filter((n) => !n.startsWith("BUN_JSC_"));
    expect(names).toEqual([envName("data_dir"), envName("component_secret_file")]);
    const keys = new Set(configKeys());
    for (const name of names) expect(keys.has(name.slice(ENV_PREFIX.length).toLowerCase())).toBe(true);
  });

  test("passes the secret as a systemd credential and runs sandboxed under a dynamic user", () => {
    expect(directives).toContain("LoadCredential=component_secret:/etc/cloud-notifyd/component_secret");
    expect(directives).toContain(`Environment=${envName("component_secret_file")}=%d/component_secret`);
    expect(directives).toContain("ExecStart=/usr/local/bin/cloud-notifyd --config /etc/cloud-notifyd/cloud-notifyd.toml");
    for (const d of [
      "DynamicUser=yes",
      "StateDirectory=cloud-notifyd",
      "ConfigurationDirectory=cloud-notifyd",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "NoNewPrivileges=yes",
      "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
      "Restart=on-failure",
    ]) {
      expect(directives).toContain(d);
    }
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute=/m);
  });

  test("Type=notify with a watchdog, the admin token as a credential, and the syscall/proc hardening (issue 15 item 5)", () => {
    for (const d of [
      "Type=notify",
      "NotifyAccess=main",
      "WatchdogSec=30s",
      "LoadCredential=admin_token:/etc/cloud-notifyd/admin_token",
      "SystemCallFilter=@system-service",
      "SystemCallArchitectures=native",
      "ProtectProc=invisible",
      "ProcSubset=pid",
    ]) {
      expect(directives).toContain(d);
    }
    expect(directives.filter((l) => l.startsWith("Type="))).toEqual(["Type=notify"]);
    // read from $CREDENTIALS_DIRECTORY by src/config.ts: no admin_token_file variable is needed
    expect(unit).not.toMatch(/^Environment=CLOUD_NOTIFYD_ADMIN_TOKEN/m);
  });
});
