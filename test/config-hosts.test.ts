/** Issue 13 configuration: `hosts`, `host` as its one-host spelling, per-host option tables. */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config, ConfigResult } from "../src/config.ts";
import { configForDisplay, loadConfig, optionsForHost } from "../src/config.ts";

const root = mkdtempSync(join(tmpdir(), "cnd-config-hosts-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function file(text: string): string {
  n += 1;
  const path = join(root, `f${n}.toml`);
  writeFileSync(path, text);
  chmodSync(path, 0o600);
  return path;
}

const SECRET = { CLOUD_NOTIFYD_COMPONENT_SECRET: "s3cret" };

function ok(result: ConfigResult): Readonly<Config> {
  if (!result.ok) throw new Error(`expected ok, got: ${result.error}`);
  return result.config;
}

function error(result: ConfigResult): string {
  if (result.ok) throw new Error("expected an error");
  return result.error;
}

describe("issue 13 hosts and host", () => {
  test("the default is one host, localhost; host alone is the one-host spelling", () => {
    expect(ok(loadConfig(SECRET, [])).hosts).toEqual(["localhost"]);
    const one = ok(loadConfig({ ...SECRET, CLOUD_NOTIFYD_HOST: "Example.COM" }, []));
    expect([one.hosts, one.host]).toEqual([["example.com"], "example.com"]);
  });

  test("hosts from TOML or from a comma-separated environment variable, lower-cased; host is hosts[0]", () => {
    const fromFile = ok(loadConfig(SECRET, ["--config", file(`hosts = ["A.example", "b.example"]\n`)]));
    expect([fromFile.hosts, fromFile.host]).toEqual([["a.example", "b.example"], "a.example"]);
    const fromEnv = ok(loadConfig({ ...SECRET, CLOUD_NOTIFYD_HOSTS: " a.example , b.example " }, []));
    expect(fromEnv.hosts).toEqual(["a.example", "b.example"]);
  });

  test("host and hosts together: host must be one of hosts, and is then only warned about", () => {
    const both = loadConfig(SECRET, ["--config", file(`host = "b.example"\nhosts = ["a.example", "b.example"]\n`)]);
    expect(both.ok && both.warnings.some((w) => w.startsWith("host is redundant beside hosts"))).toBe(true);
    expect(ok(both).hosts).toEqual(["a.example", "b.example"]);
    const path = file(`host = "c.example"\nhosts = ["a.example", "b.example"]\n`);
    expect(error(loadConfig(SECRET, ["--config", path]))).toBe(
      `Cannot load config: host c.example (from ${path}) is not one of hosts (a.example, b.example) (from ${path}): give only hosts`,
    );
  });

  test.each([
    [`hosts = []\n`, "hosts must be a non-empty list of host names"],
    [`hosts = "a.example"\n`, "hosts must be a non-empty list of host names"],
    [`hosts = ["a b"]\n`, "hosts must be a non-empty list of host names"],
    [`hosts = ["u@a.example"]\n`, "hosts must be a non-empty list of host names"],
    [`hosts = ["a.example", "A.example"]\n`, "hosts must be a list of distinct hosts (a.example is given twice)"],
  ])("%j is refused: %s", (toml, message) => {
    expect(error(loadConfig(SECRET, ["--config", file(toml)]))).toStartWith(`Cannot load config: ${message}`);
  });
});

describe("issue 13 hosts_options", () => {
  const HOSTS = `hosts = ["a.example", "b.example"]\npush_max_devices = 5\npush_notification_with_body = false\n`;

  test("a table per host overrides the global values of that host only", () => {
    const config = ok(
      loadConfig(SECRET, [
        "--config",
        file(
          `${HOSTS}[hosts_options."B.example"]\npush_max_devices = 2\npush_max_errors = 3\npush_notification_with_body = true\n` +
            `push_notification_with_sender = true\npush_notification_important_body = ""\n`,
        ),
      ]),
    );
    expect(config.hostOptions).toEqual({
      "b.example": {
        pushMaxDevices: 2,
        pushMaxErrors: 3,
        pushNotificationWithBody: true,
        pushNotificationWithSender: true,
        pushNotificationImportantBody: "",
      },
    });
    expect(optionsForHost(config, "b.example")).toEqual({
      pushMaxDevices: 2,
      pushMaxErrors: 3,
      pushNotificationWithBody: true,
      pushNotificationWithSender: true,
      pushNotificationImportantBody: "",
    });
    expect(optionsForHost(config, "a.example")).toEqual({
      pushMaxDevices: 5,
      pushMaxErrors: 16,
      pushNotificationWithBody: false,
      pushNotificationWithSender: false,
      pushNotificationImportantBody: "New Message!",
    });
    // check-config prints them with their TOML names.
    const shown = configForDisplay(config, (u) => u);
    expect(shown.hosts).toEqual(["a.example", "b.example"]);
    expect(shown.hosts_options).toEqual({
      "b.example": {
        push_max_devices: 2,
        push_max_errors: 3,
        push_notification_with_body: true,
        push_notification_with_sender: true,
        push_notification_important_body: "",
      },
    });
  });

  test("the inline spelling is the same", () => {
    const config = ok(loadConfig(SECRET, ["--config", file(`${HOSTS}hosts_options = { "a.example" = { push_max_devices = 1 } }\n`)]));
    expect(config.hostOptions).toEqual({ "a.example": { pushMaxDevices: 1 } });
  });

  test("an unknown host, an option that is not per host, a bad value, and the environment are refused, naming the host", () => {
    const unknown = file(`${HOSTS}[hosts_options."c.example"]\npush_max_devices = 2\n`);
    expect(error(loadConfig(SECRET, ["--config", unknown]))).toBe(
      `Cannot load config: hosts_options names host c.example, which is not in hosts (a.example, b.example) (from ${unknown} [hosts_options."c.example"])`,
    );
    const unquoted = file(`${HOSTS}[hosts_options.b.example]\npush_max_devices = 2\n`);
    expect(error(loadConfig(SECRET, ["--config", unquoted]))).toEndWith(
      `a host name with dots must be quoted: [hosts_options."b.example"]`,
    );
    const notPerHost = file(`${HOSTS}[hosts_options."b.example"]\npublish_timeout = 2\n`);
    expect(error(loadConfig(SECRET, ["--config", notPerHost]))).toStartWith(
      `Cannot load config: publish_timeout cannot be set per host (from ${notPerHost} [hosts_options."b.example"]); per-host options: push_max_devices,`,
    );
    const typo = file(`${HOSTS}[hosts_options."b.example"]\npush_max_device = 2\n`);
    expect(error(loadConfig(SECRET, ["--config", typo]))).toEndWith("(did you mean push_max_devices?)");
    const bad = file(`${HOSTS}[hosts_options."b.example"]\npush_max_devices = 0\n`);
    expect(error(loadConfig(SECRET, ["--config", bad]))).toBe(
      `Cannot load config: push_max_devices must be a positive integer, got 0 (from ${bad} [hosts_options."b.example"])`,
    );
    const badBool = file(`${HOSTS}[hosts_options."b.example"]\npush_notification_with_body = "yes"\n`);
    expect(error(loadConfig(SECRET, ["--config", badBool]))).toStartWith(
      "Cannot load config: push_notification_with_body must be true or false",
    );
    expect(error(loadConfig({ ...SECRET, CLOUD_NOTIFYD_HOSTS_OPTIONS: "x" }, []))).toStartWith(
      "Cannot load config: hosts_options can only be set in the config file",
    );
  });
});
