/**
 * Issue 11 item 7: the binary carries the bridge. `cloud-notifyd bridge install DIR` (the compiled
 * executable) writes exactly contrib/prosody/mod_cloud_notifyd.lua as it is at test time, and
 * prints the Prosody config lines; `doctor` turns /readyz into a checklist.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { BRIDGE_SOURCE } from "../../src/cli/bridge-install.ts";
import { formatChecklist, readyzUrl } from "../../src/cli/doctor.ts";
import { BRIDGE_VERSION } from "../../src/xmpp/ns.ts";
import { BINARY, ensureBinary, ROOT, startDaemon } from "../helpers/daemon.ts";
import { disposeProsody, startProsody } from "../helpers/prosody.ts";
import { describeProsody } from "../helpers/prosody-versions.ts";

const CONTRIB = join(ROOT, "contrib/prosody/mod_cloud_notifyd.lua");

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn([BINARY, ...args], { stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin", HOME: tmpdir() } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out, err };
}

describe("bridge install", () => {
  beforeAll(async () => {
    await ensureBinary();
  }, 120000);

  test("the compiled binary writes the exact bridge module of this checkout, and the config lines", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cnd-bridge-"));
    try {
      const target = join(dir, "modules");
      const r = await run(["bridge", "install", target, "--host", "chat.example.org"]);
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const written = readFileSync(join(target, "mod_cloud_notifyd.lua"));
      expect(Buffer.compare(written, readFileSync(CONTRIB))).toBe(0);
      expect(statSync(join(target, "mod_cloud_notifyd.lua")).mode & 0o777).toBe(0o644);
      expect(r.out).toContain(`bridge protocol version ${BRIDGE_VERSION}`);
      expect(r.out).toContain(`plugin_paths = { "${target}" }`);
      expect(r.out).toContain(`VirtualHost "chat.example.org"`);
      expect(r.out).toContain(`cloud_notifyd_component = "push.chat.example.org"`);
      expect(r.out).toContain(`modules_disabled = { "cloud_notify" }`);
      expect(r.out).toContain(`Component "push.chat.example.org"`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the embedded module declares the daemon's protocol version", () => {
    expect(BRIDGE_SOURCE).toContain(`local VERSION = "${BRIDGE_VERSION}";`);
    expect(BRIDGE_SOURCE).toBe(readFileSync(CONTRIB, "utf8"));
  });

  test("without a directory or with an unknown subcommand: one line, exit 2, nothing written", async () => {
    const none = await run(["bridge", "install"]);
    expect(none.code).toBe(2);
    expect(none.err.trim().split("\n")).toHaveLength(1);
    expect(none.err).toContain("Cannot install the bridge: no directory given");
    const other = await run(["bridge", "remove", "/tmp/x"]);
    expect(other.code).toBe(2);
    expect(other.err).toContain("Cannot run bridge: unknown subcommand remove");
  });

  test("an unwritable target: one line naming the directory, exit 1", async () => {
    const r = await run(["bridge", "install", "/proc/cnd-no-such-dir"]);
    expect(r.code).toBe(1);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err).toContain("Cannot install the bridge into /proc/cnd-no-such-dir");
  });
});

describe("doctor", () => {
  test("a checklist: failures with their reason, warnings, then a summary", () => {
    const lines = formatChecklist({
      ready: false,
      checks: {
        store: { ok: true },
        bridge: { ok: false, reason: "mod_cloud_notify is loaded on example.com beside the bridge" },
        mod_mam: { ok: true, warning: "mod_mam is not loaded on example.com" },
      },
    });
    expect(lines).toEqual([
      "  [ok]   store",
      "  [FAIL] bridge: mod_cloud_notify is loaded on example.com beside the bridge",
      "  [warn] mod_mam: mod_mam is not loaded on example.com",
      "Not ready (1 problem, 1 warning).",
    ]);
  });

  test("the admin listener's wildcard address is asked on loopback", () => {
    expect(readyzUrl("0.0.0.0", 8080)).toBe("http://127.0.0.1:8080/readyz");
    expect(readyzUrl("::", 8080)).toBe("http://[::1]:8080/readyz");
    expect(readyzUrl("127.0.0.1", 9)).toBe("http://127.0.0.1:9/readyz");
  });

  test("no daemon listening: one line, exit 2", async () => {
    await ensureBinary();
    const closed = Bun.spawn([BINARY, "doctor"], {
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: "/usr/bin:/bin", HOME: tmpdir(), CLOUD_NOTIFYD_ADMIN_PORT: "1" },
    });
    const [err, code] = await Promise.all([new Response(closed.stderr).text(), closed.exited]);
    expect(code).toBe(2);
    expect(err).toMatch(/^Cannot ask the daemon at http:\/\/127\.0\.0\.1:1\/readyz: /);
    expect(err.trim().split("\n")).toHaveLength(1);
  }, 60000);
});

describeProsody("issue 11 #7 a bridge of another protocol version", (version) => {
  test("daemon and bridge refuse each other with one clear line each; /readyz says which version to install", async () => {
    await ensureBinary();
    const dir = mkdtempSync(join(tmpdir(), "cnd-oldbridge-"));
    const other = String(Number(BRIDGE_VERSION) - 1);
    writeFileSync(
      join(dir, "mod_cloud_notifyd.lua"),
      BRIDGE_SOURCE.replace(`local VERSION = "${BRIDGE_VERSION}";`, `local VERSION = "${other}";`),
    );
    const prosody = await startProsody({
      version,
      componentSecret: "old-bridge-secret",
      pluginPaths: [dir],
      extraModules: ["cloud_notifyd"],
      hostConfig: `  cloud_notifyd_component = "push.localhost"`,
    });
    const daemon = await startDaemon({
      env: {
        CLOUD_NOTIFYD_HOST: prosody.host,
        CLOUD_NOTIFYD_COMPONENT_DOMAIN: prosody.componentDomain,
        CLOUD_NOTIFYD_COMPONENT_PORT: String(prosody.componentPort),
        CLOUD_NOTIFYD_COMPONENT_SECRET: "old-bridge-secret",
      },
    });
    try {
      await daemon.waitForLog(/Cannot use the bridge/);
      const lines = daemon
        .logs()
        .split("\n")
        .filter((l) => l.includes("Cannot use the bridge"));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`bridge protocol version ${other} required`);
      expect(lines[0]).toContain(`this daemon speaks version ${BRIDGE_VERSION}, install its bridge with: cloud-notifyd bridge install DIR`);
      const res = await fetch(daemon.url("/readyz"));
      expect(res.status).toBe(503);
      const body = (await res.json()) as { checks: { bridge: { reason: string } } };
      expect(body.checks.bridge.reason).toContain("cloud-notifyd bridge install");
      const prosodyLines = (await prosody.log()).split("\n").filter((l) => l.includes("Daemon speaks bridge protocol version"));
      expect(prosodyLines).toHaveLength(1);
      expect(prosodyLines[0]).toContain(`Daemon speaks bridge protocol version ${BRIDGE_VERSION}, this bridge speaks ${other}`);
    } finally {
      await daemon.kill9();
      await disposeProsody(prosody);
      rmSync(daemon.dataDir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60000);
});
