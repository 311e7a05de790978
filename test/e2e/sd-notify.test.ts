/**
 * Issue 15 item 5: systemd's notify protocol, spoken by the COMPILED binary to a unix datagram
 * socket this test listens on (a small python3 helper; Bun cannot receive unix datagrams), as
 * systemd would with Type=notify and WatchdogSec=. The component side is the fake bridge.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

import { chmodSync, mkdirSync, writeFileSync } from "node:fs";

import { loadConfig } from "../../src/config.ts";
import { createNullLogger } from "../../src/log.ts";
import { sockaddrUn, startSystemd, watchdogIntervalMs } from "../../src/runtime/sd-notify.ts";
import { type Daemon, ensureBinary, startDaemon } from "../helpers/daemon.ts";
import { type FakeBridge, startFakeBridge, waitFor } from "../helpers/fake-bridge.ts";

const SECRET = "sd-notify-secret";
const LISTENER = `
import json, socket, sys, time
name = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + name[1:] if name.startswith("@") else name)
print("LISTENING", flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps({"t": time.time() * 1000, "msg": data.decode()}), flush=True)
`;

interface Listener {
  name: string;
  messages: Array<{ t: number; msg: string }>;
  stop(): void;
}

async function listen(name: string): Promise<Listener> {
  const proc: Subprocess = Bun.spawn(["python3", "-c", LISTENER, name], { stdout: "pipe", stderr: "inherit" });
  const messages: Array<{ t: number; msg: string }> = [];
  let listening = false;
  void (async () => {
    let buf = "";
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      buf += new TextDecoder().decode(chunk);
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === "LISTENING") listening = true;
        else messages.push(JSON.parse(line) as { t: number; msg: string });
      }
    }
  })();
  await waitFor(() => listening, 5000, "the notify socket listener");
  return { name, messages, stop: () => proc.kill() };
}

const has = (l: Listener, re: RegExp) => l.messages.filter((m) => re.test(m.msg));

let dir: string;
let bridge: FakeBridge;

beforeAll(async () => {
  await ensureBinary();
  dir = mkdtempSync(join(tmpdir(), "cnd-sdnotify-"));
  bridge = await startFakeBridge({ secret: SECRET });
}, 120_000);

afterAll(async () => {
  await bridge?.close();
  rmSync(dir, { recursive: true, force: true });
});

function env(socket: string, secret: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NOTIFY_SOCKET: socket,
    CLOUD_NOTIFYD_HOST: "localhost",
    CLOUD_NOTIFYD_COMPONENT_DOMAIN: "push.localhost",
    CLOUD_NOTIFYD_COMPONENT_PORT: String(bridge.port),
    CLOUD_NOTIFYD_COMPONENT_SECRET: secret,
    CLOUD_NOTIFYD_LOG_LEVEL: "info",
    ...extra,
  };
}

describe("sd_notify from the compiled binary", () => {
  test("no READY=1 while the component is not authenticated (wrong secret), and no WATCHDOG=1 without WATCHDOG_USEC", async () => {
    const l = await listen(join(dir, "notify-1.sock"));
    let daemon: Daemon | undefined;
    try {
      daemon = await startDaemon({ env: env(l.name, "wrong-secret") });
      await daemon.waitForLog(/component|handshake|not-authorized/i, 10_000);
      await Bun.sleep(2500); // several reconnect attempts, all refused
      expect(has(l, /READY=1/)).toEqual([]);
      expect(has(l, /WATCHDOG=1/)).toEqual([]);
      expect(await daemon.stop()).toBe(0);
      expect(has(l, /^STOPPING=1/m)).toHaveLength(1);
    } finally {
      if (daemon && daemon.proc.exitCode === null) await daemon.kill9();
      l.stop();
    }
  }, 30_000);

  test("READY=1 once the component authenticated; WATCHDOG=1 every half WATCHDOG_USEC; STOPPING=1 at SIGTERM", async () => {
    const l = await listen(`@cnd-sdnotify-${process.pid}`); // the abstract namespace, as systemd uses
    let daemon: Daemon | undefined;
    try {
      const before = bridge.connections.length;
      daemon = await startDaemon({ env: env(l.name, SECRET, { WATCHDOG_USEC: "400000" }) });
      await waitFor(() => has(l, /READY=1/).length > 0, 15_000, "READY=1");
      const ready = has(l, /READY=1/);
      expect(ready).toHaveLength(1);
      expect(ready[0]!.msg).toBe("READY=1\nSTATUS=component online as push.localhost");
      // it came after the handshake: the fake bridge has an authenticated connection by now
      expect(bridge.connections.slice(before).some((c) => c.authenticated)).toBe(true);
      expect(daemon.logs()).toMatch(/component online/);

      const start = Date.now();
      await Bun.sleep(1500);
      const pings = has(l, /^WATCHDOG=1$/).filter((m) => m.t >= start - 50);
      expect(pings.length).toBeGreaterThanOrEqual(4); // every 200 ms → ~7
      expect(pings.length).toBeLessThanOrEqual(10);

      expect(has(l, /STOPPING=1/)).toEqual([]);
      expect(await daemon.stop()).toBe(0);
      const stopping = has(l, /^STOPPING=1/m);
      expect(stopping).toHaveLength(1);
      expect(has(l, /READY=1/)).toHaveLength(1);
    } finally {
      if (daemon && daemon.proc.exitCode === null) await daemon.kill9();
      l.stop();
    }
  }, 60_000);
});

describe("sd-notify module", () => {
  test("READY=1 after the bounded wait when the component never comes, with the reason in STATUS", async () => {
    const l = await listen(join(dir, "notify-2.sock"));
    try {
      const link = startSystemd({
        log: createNullLogger(),
        env: { NOTIFY_SOCKET: l.name },
        keepalive: (d) => d(),
        pending: () => "connecting: ECONNREFUSED",
        readyWaitMs: 200,
      });
      await waitFor(() => l.messages.length > 0, 3000, "READY=1");
      expect(l.messages[0]!.msg).toBe("READY=1\nSTATUS=component not online after 0 s (connecting: ECONNREFUSED); still trying");
      link.online("component online as x"); // later: only a STATUS, never a second READY
      await waitFor(() => l.messages.length > 1, 3000, "STATUS");
      expect(l.messages[1]!.msg).toBe("STATUS=component online as x");
      link.close();
    } finally {
      l.stop();
    }
  });

  test("no socket, no messages; socket names and watchdog periods are parsed as sd_notify(3) says", () => {
    const link = startSystemd({ log: createNullLogger(), env: {}, keepalive: () => {}, pending: () => "" });
    link.online("x");
    link.stopping();
    link.close();
    expect(sockaddrUn("relative/path")).toBeNull();
    expect(sockaddrUn(`/${"x".repeat(200)}`)).toBeNull();
    expect(sockaddrUn("/run/systemd/notify")?.len).toBe(2 + 19 + 1);
    const abstract = sockaddrUn("@abc");
    expect(abstract?.len).toBe(2 + 4);
    expect([...abstract!.addr.slice(0, 6)]).toEqual([1, 0, 0, 97, 98, 99]);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000" }, 7)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "8" }, 7)).toBeNull();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "7" }, 7)).toBe(15_000);
    expect(watchdogIntervalMs({}, 7)).toBeNull();
  });
});

describe("LoadCredential=admin_token", () => {
  test("the admin token is read from $CREDENTIALS_DIRECTORY/admin_token when admin_token(_file) is not set", () => {
    const creds = join(dir, "creds");
    mkdirSync(creds, { recursive: true });
    writeFileSync(join(creds, "admin_token"), "from-credential\n");
    chmodSync(join(creds, "admin_token"), 0o400);
    const base = { CLOUD_NOTIFYD_COMPONENT_SECRET: "x", CREDENTIALS_DIRECTORY: creds };
    const a = loadConfig(base, []);
    expect(a.ok && a.config.adminToken).toBe("from-credential");
    const b = loadConfig({ ...base, CLOUD_NOTIFYD_ADMIN_TOKEN: "from-env" }, []);
    expect(b.ok && b.config.adminToken).toBe("from-env");
    const c = loadConfig({ ...base, CREDENTIALS_DIRECTORY: join(dir, "no-such-dir") }, []);
    expect(c.ok && c.config.adminToken).toBeNull();
  });
});
