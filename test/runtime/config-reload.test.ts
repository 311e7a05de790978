/** Issue 15 item 6: what SIGHUP applies at once and what waits for a restart (src/runtime/config-reload.ts). */
import { expect, test } from "bun:test";

import { loadConfig, type Config } from "../../src/config.ts";
import { planReload } from "../../src/runtime/config-reload.ts";

function config(env: Record<string, string>): Readonly<Config> {
  const r = loadConfig({ CLOUD_NOTIFYD_COMPONENT_SECRET: "s1", ...env }, []);
  if (!r.ok) throw new Error(r.error);
  return r.config;
}

test("log level, component secret and admin token apply; any other change is named for a restart", () => {
  const before = config({ CLOUD_NOTIFYD_ADMIN_TOKEN: "t1" });
  expect(planReload(before, config({ CLOUD_NOTIFYD_ADMIN_TOKEN: "t1" }))).toEqual({
    logLevel: null,
    componentSecret: null,
    adminTokenChanged: false,
    needRestart: [],
  });
  const after = config({
    CLOUD_NOTIFYD_COMPONENT_SECRET: "s2",
    CLOUD_NOTIFYD_LOG_LEVEL: "debug",
    CLOUD_NOTIFYD_PUSH_MAX_ERRORS: "3",
    CLOUD_NOTIFYD_PUSH_RETRY_DELAYS: "5",
  });
  expect(planReload(before, after)).toEqual({
    logLevel: "debug",
    componentSecret: "s2",
    adminTokenChanged: true,
    needRestart: ["push_max_errors", "push_retry_delays"],
  });
});

test("a change of per-host options is named by its TOML key, hosts_options", () => {
  const before = { ...config({}) };
  const after = { ...before, hostOptions: { "b.example": { pushMaxErrors: 3 } } } as Readonly<Config>;
  expect(planReload(before, after).needRestart).toEqual(["hosts_options"]);
});
