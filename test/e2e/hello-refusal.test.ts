/**
 * Issue 15 item 6: a real Prosody without the bridge module answers the daemon's hello with
 * service-unavailable; the daemon's one error line and /readyz say the module is probably not
 * loaded on the host, and how to fix it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";

import { type Daemon, ensureBinary, startDaemon } from "../helpers/daemon.ts";
import { disposeProsody, type ProsodyInstance, startProsody } from "../helpers/prosody.ts";

const SECRET = "hello-refusal-secret";
let prosody: ProsodyInstance;
let daemon: Daemon | null = null;

beforeAll(async () => {
  await ensureBinary();
  prosody = await startProsody({ componentSecret: SECRET, bridge: false });
}, 120_000);
afterAll(async () => {
  if (daemon !== null && daemon.proc.exitCode === null) await daemon.kill9();
  await disposeProsody(prosody);
});

test("hello refused by a Prosody without the bridge: the log line and /readyz say the bridge module is probably not loaded on the host", async () => {
  daemon = await startDaemon({
    env: {
      CLOUD_NOTIFYD_HOST: prosody.host,
      CLOUD_NOTIFYD_COMPONENT_DOMAIN: prosody.componentDomain,
      CLOUD_NOTIFYD_COMPONENT_PORT: String(prosody.componentPort),
      CLOUD_NOTIFYD_COMPONENT_SECRET: SECRET,
    },
  });
  const line = await daemon.waitForLog(/level=error msg="Cannot use the bridge: hello refused:[^\n]*/);
  expect(line).toContain("service-unavailable: the bridge module is probably not loaded on localhost");
  expect(line).toContain('add \\"cloud_notifyd\\" to modules_enabled of VirtualHost \\"localhost\\"');
  const ready = (await (await fetch(daemon.url("/readyz"))).json()) as {
    ready: boolean;
    checks: Record<string, { ok: boolean; reason?: string }>;
  };
  expect(ready.ready).toBe(false);
  expect(ready.checks.bridge?.reason).toContain("the bridge module is probably not loaded on localhost");
  expect(await daemon.stop()).toBe(0);
}, 60_000);
