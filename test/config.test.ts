import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config, ConfigResult } from "../src/config.ts";
import { camelCase, CONFIG_KEYS, configForDisplay, coreConfigFrom, loadConfig } from "../src/config.ts";

const root = mkdtempSync(join(tmpdir(), "cnd-config-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function file(text: string, mode = 0o600): string {
  n += 1;
  const path = join(root, `f${n}`);
  writeFileSync(path, text);
  chmodSync(path, mode);
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

describe("loadConfig() defaults", () => {
  test("loadConfig() gives every documented default when only the secret is set", () => {
    const result = loadConfig(SECRET, []);
    expect(result).toEqual({
      ok: true,
      warnings: [],
      config: {
        configPath: null,
        hosts: ["localhost"],
        host: "localhost",
        hostOptions: {},
        componentDomain: "push.localhost",
        componentHost: "127.0.0.1",
        componentPort: 5347,
        componentSecret: "s3cret",
        dataDir: "./data",
        storeUrl: "file:./data/cloud-notifyd.db",
        storeAuthToken: null,
        adminHost: "127.0.0.1",
        adminPort: 8098,
        adminToken: null,
        logLevel: "info",
        publishFrom: "host",
        publishTimeout: 60,
        historyRetentionDays: 30,
        pushMaxErrors: 16,
        pushMaxDevices: 5,
        pushNotificationImportantBody: "New Message!",
        pushMaxHibernationTimeout: 259200,
        pushNotificationWithBody: false,
        pushNotificationWithSender: false,
        pushPriority: false,
        pushEncryption: true,
        pushEncryptedPreview: true,
        pushFilters: true,
        smacksHibernationTime: 600,
        pushRetryDelays: [15, 120],
        pushRemoveConditions: ["item-not-found", "forbidden", "not-authorized"],
      },
    });
  });

  test("loadConfig() returns a frozen config", () => {
    expect(Object.isFrozen(ok(loadConfig(SECRET, [])))).toBe(true);
  });

  test("store_url defaults to a file under data_dir", () => {
    expect(ok(loadConfig({ ...SECRET, CLOUD_NOTIFYD_DATA_DIR: "/var/lib/cnd/" }, [])).storeUrl).toBe("file:/var/lib/cnd/cloud-notifyd.db");
  });

  test("a missing component secret is an error naming the key", () => {
    expect(error(loadConfig({}, []))).toBe(
      "Cannot load config: component_secret is required: set CLOUD_NOTIFYD_COMPONENT_SECRET or component_secret_file",
    );
  });

  test("a missing component secret is allowed with requireSecret: false", () => {
    expect(ok(loadConfig({}, [], { requireSecret: false })).componentSecret).toBe("");
  });
});

describe("loadConfig() sources", () => {
  const toml = `
host = "example.com"
component_domain = "push.example.com"
component_port = 5348
push_max_devices = 3
push_notification_with_body = true
push_notification_important_body = ""
log_level = "debug"
publish_from = "component"
store_url = "libsql://db.internal"
`;

  test("loadConfig() reads the TOML file given with --config PATH", () => {
    const path = file(toml);
    const config = ok(loadConfig(SECRET, ["--config", path]));
    expect(config).toMatchObject({
      configPath: path,
      host: "example.com",
      componentDomain: "push.example.com",
      componentPort: 5348,
      pushMaxDevices: 3,
      pushNotificationWithBody: true,
      pushNotificationImportantBody: "",
      logLevel: "debug",
      publishFrom: "component",
      storeUrl: "libsql://db.internal",
      pushMaxErrors: 16,
    });
  });

  test("loadConfig() accepts --config=PATH and a full Bun.argv", () => {
    const path = file(toml);
    expect(ok(loadConfig(SECRET, ["/usr/bin/bun", "/srv/cloud-notifyd", "run", `--config=${path}`])).host).toBe("example.com");
  });

  test("environment variables override the TOML file", () => {
    const path = file(toml);
    const config = ok(
      loadConfig(
        {
          ...SECRET,
          CLOUD_NOTIFYD_HOST: "other.org",
          CLOUD_NOTIFYD_COMPONENT_PORT: "6000",
          CLOUD_NOTIFYD_PUSH_NOTIFICATION_WITH_BODY: "no",
          CLOUD_NOTIFYD_PUSH_NOTIFICATION_WITH_SENDER: "YES",
          CLOUD_NOTIFYD_PUSH_NOTIFICATION_IMPORTANT_BODY: "Ping",
          UNRELATED: "x",
        },
        ["--config", path],
      ),
    );
    expect(config).toMatchObject({
      host: "other.org",
      componentPort: 6000,
      pushNotificationWithBody: false,
      pushNotificationWithSender: true,
      pushNotificationImportantBody: "Ping",
      componentDomain: "push.example.com",
    });
  });

  test.each([
    ["true", true],
    ["1", true],
    ["yes", true],
    ["false", false],
    ["0", false],
    ["no", false],
  ])("boolean from the environment: %p", (text, expected) => {
    expect(ok(loadConfig({ ...SECRET, CLOUD_NOTIFYD_PUSH_NOTIFICATION_WITH_SENDER: text }, [])).pushNotificationWithSender).toBe(expected);
  });

  test("D15 publish_from defaults to host and can be set to component", () => {
    expect(ok(loadConfig(SECRET, [])).publishFrom).toBe("host");
    expect(ok(loadConfig({ ...SECRET, CLOUD_NOTIFYD_PUBLISH_FROM: "component" }, [])).publishFrom).toBe("component");
  });

  test("D10 push_notification_important_body may be set to the empty string", () => {
    const config = ok(loadConfig({ ...SECRET, CLOUD_NOTIFYD_PUSH_NOTIFICATION_IMPORTANT_BODY: "" }, []));
    expect(config.pushNotificationImportantBody).toBe("");
    expect(coreConfigFrom(config).pushNotificationImportantBody).toBe("");
  });

  test("coreConfigFrom() maps the options and fixes the memory bounds", () => {
    const config = ok(loadConfig({ ...SECRET, CLOUD_NOTIFYD_PUBLISH_TIMEOUT: "30", CLOUD_NOTIFYD_HOST: "example.com" }, []));
    expect(coreConfigFrom(config)).toEqual({
      host: "example.com",
      hostOverrides: {},
      pushNotificationWithBody: false,
      pushNotificationWithSender: false,
      pushMaxErrors: 16,
      pushMaxDevices: 5,
      pushNotificationImportantBody: "New Message!",
      pushPriority: false,
      pushEncryption: true,
      pushEncryptedPreview: true,
      pushFilters: true,
      pushMaxHibernationTimeout: 259200,
      smacksHibernationTime: 600,
      publishTimeoutMs: 30_000,
      batchDelayMs: 1000,
      maxPublishOptionsBytes: 8192,
      maxNodeLength: 1024,
      maxCachedUsers: 100_000,
      dedupeWindow: 10_000,
      dedupeTtlMs: 600_000,
      maxPendingPublishes: 100_000,
      maxSessionQueue: 256,
      pushRetryDelaysMs: [15_000, 120_000],
      pushRemoveConditions: ["item-not-found", "forbidden", "not-authorized"],
      maxPendingRetries: 100_000,
    });
  });
});

describe("loadConfig() secrets", () => {
  test("component_secret_file is read, without its trailing newline", () => {
    const secretPath = file("from-file\n");
    const config = ok(loadConfig({ CLOUD_NOTIFYD_COMPONENT_SECRET_FILE: secretPath }, []));
    expect(config.componentSecret).toBe("from-file");
  });

  test("token files work for the store and the admin API, named in the TOML file", () => {
    const store = file("store-token\n");
    const admin = file("admin-token");
    const path = file(`store_auth_token_file = "${store}"\nadmin_token_file = "${admin}"\n`);
    const config = ok(loadConfig(SECRET, ["--config", path]));
    expect(config.storeAuthToken).toBe("store-token");
    expect(config.adminToken).toBe("admin-token");
  });

  test("a component_secret in a 0600 TOML file is accepted without warning", () => {
    const path = file(`component_secret = "in-toml"\n`, 0o600);
    expect(loadConfig({}, ["--config", path])).toMatchObject({ ok: true, warnings: [], config: { componentSecret: "in-toml" } });
  });

  test("a secret file readable by others is accepted with a warning", () => {
    const secretPath = file("s\n", 0o644);
    const result = loadConfig({ CLOUD_NOTIFYD_COMPONENT_SECRET_FILE: secretPath }, []);
    if (!result.ok) throw new Error(result.error);
    expect(result.warnings).toEqual([
      `component_secret_file ${secretPath} holds a secret but is readable by others (mode 0644); chmod 600 it`,
    ]);
  });

  test("the environment secret wins over a secret file named in the TOML file", () => {
    const path = file(`component_secret_file = "${file("from-file")}"\n`);
    expect(ok(loadConfig(SECRET, ["--config", path])).componentSecret).toBe("s3cret");
  });

  test("a secret and its _file in the same source are an error", () => {
    const msg = error(loadConfig({ ...SECRET, CLOUD_NOTIFYD_COMPONENT_SECRET_FILE: file("x") }, []));
    expect(msg).toStartWith("Cannot load config: component_secret and component_secret_file are both set");
  });

  test("an unreadable or empty secret file is an error naming the key", () => {
    expect(error(loadConfig({ CLOUD_NOTIFYD_COMPONENT_SECRET_FILE: join(root, "missing") }, []))).toStartWith(
      "Cannot load config: component_secret_file cannot be read: ",
    );
    const empty = file("\n");
    expect(error(loadConfig({ CLOUD_NOTIFYD_COMPONENT_SECRET_FILE: empty }, []))).toBe(
      `Cannot load config: component_secret_file ${empty} is empty`,
    );
  });

  test.each(["--component-secret=hunter2", "--component_secret", "--admin-token", "-secret", "--store-auth-token=x", "--password"])(
    "a secret on the command line is refused without echoing it: %p",
    (arg) => {
      const msg = error(loadConfig(SECRET, [arg, "hunter2"]));
      expect(msg).toStartWith(`Cannot load config: ${arg.split("=")[0]} is not accepted on the command line`);
      expect(msg).not.toContain("hunter2");
    },
  );

  test("arguments after -- are not inspected", () => {
    expect(loadConfig(SECRET, ["--", "--component-secret=x"]).ok).toBe(true);
  });

  test("the value of a secret is never part of a type error", () => {
    const path = file(`admin_token = 12345678\n`);
    const msg = error(loadConfig(SECRET, ["--config", path]));
    expect(msg).toBe(`Cannot load config: admin_token must be a string (from ${path})`);
  });
});

describe("loadConfig() errors name the key", () => {
  test.each([
    ["CLOUD_NOTIFYD_COMPONENT_PORT", "0", "component_port must be a port number (1-65535)"],
    ["CLOUD_NOTIFYD_COMPONENT_PORT", "65536", "component_port must be a port number (1-65535)"],
    ["CLOUD_NOTIFYD_ADMIN_PORT", "80a", "admin_port must be a port number (1-65535)"],
    ["CLOUD_NOTIFYD_PUSH_MAX_ERRORS", "abc", "push_max_errors must be a positive integer"],
    ["CLOUD_NOTIFYD_PUSH_MAX_DEVICES", "0", "push_max_devices must be a positive integer"],
    ["CLOUD_NOTIFYD_PUBLISH_TIMEOUT", "-5", "publish_timeout must be a positive integer"],
    ["CLOUD_NOTIFYD_SMACKS_HIBERNATION_TIME", "1.5", "smacks_hibernation_time must be a positive integer"],
    ["CLOUD_NOTIFYD_PUSH_NOTIFICATION_WITH_BODY", "maybe", "push_notification_with_body must be true/false/1/0/yes/no"],
    ["CLOUD_NOTIFYD_LOG_LEVEL", "verbose", "log_level must be one of debug, info, warn, error"],
    ["CLOUD_NOTIFYD_PUBLISH_FROM", "server", "publish_from must be host or component"],
    ["CLOUD_NOTIFYD_HOST", "", "host must be a host name without spaces, '@' or '/'"],
    ["CLOUD_NOTIFYD_COMPONENT_DOMAIN", "user@push", "component_domain must be a host name without spaces, '@' or '/'"],
  ])("%s=%p is refused", (name, value, message) => {
    expect(error(loadConfig({ ...SECRET, [name]: value }, []))).toBe(
      `Cannot load config: ${message}, got ${JSON.stringify(value)} (from ${name})`,
    );
  });

  test.each([
    ['push_max_errors = "16"', 'push_max_errors must be a positive integer, got "16"'],
    ["push_max_errors = 1.5", "push_max_errors must be a positive integer, got 1.5"],
    ['push_notification_with_body = "yes"', 'push_notification_with_body must be true or false, got "yes"'],
    ["component_port = 70000", "component_port must be a port number (1-65535), got 70000"],
    ["log_level = 3", "log_level must be one of debug, info, warn, error, got 3"],
  ])("TOML %p is refused", (line, message) => {
    const path = file(`${line}\n`);
    expect(error(loadConfig(SECRET, ["--config", path]))).toBe(`Cannot load config: ${message} (from ${path})`);
  });

  test("an unknown key in the TOML file is an error naming it and the key it resembles", () => {
    const path = file(`host = "a"\npush_max_error = 3\n`);
    expect(error(loadConfig(SECRET, ["--config", path]))).toBe(
      `Cannot load config: unknown key push_max_error in ${path} (did you mean push_max_errors?)`,
    );
    const far = file(`colour = "blue"\n`);
    expect(error(loadConfig(SECRET, ["--config", far]))).toBe(`Cannot load config: unknown key colour in ${far}`);
  });

  test("a TOML table is an unknown key", () => {
    const path = file(`[component]\nport = 5347\n`);
    expect(error(loadConfig(SECRET, ["--config", path]))).toBe(`Cannot load config: unknown key component in ${path}`);
  });

  test("a CLOUD_NOTIFYD_ variable that is a near miss of an option (a typo) is an error naming the option", () => {
    expect(error(loadConfig({ ...SECRET, CLOUD_NOTIFYD_PUSH_MAX_ERORS: "3" }, []))).toBe(
      "Cannot load config: unknown environment variable CLOUD_NOTIFYD_PUSH_MAX_ERORS (did you mean CLOUD_NOTIFYD_PUSH_MAX_ERRORS?)",
    );
    expect(error(loadConfig({ ...SECRET, CLOUD_NOTIFYD_log_level: "debug" }, []))).toBe(
      "Cannot load config: unknown environment variable CLOUD_NOTIFYD_log_level (did you mean CLOUD_NOTIFYD_LOG_LEVEL?)",
    );
  });

  test("any other unknown CLOUD_NOTIFYD_ variable is a warning (the environment is inherited: it may be meant for another program)", () => {
    const result = loadConfig({ ...SECRET, CLOUD_NOTIFYD_TEST_PROSODY: "all" }, []);
    expect(result).toMatchObject({
      ok: true,
      warnings: ["unknown environment variable CLOUD_NOTIFYD_TEST_PROSODY ignored (not a cloud-notifyd option)"],
    });
  });

  test("an invalid TOML file or a missing one is an error naming the file", () => {
    const bad = file(`host = \n`);
    expect(error(loadConfig(SECRET, ["--config", bad]))).toStartWith(`Cannot load config: cannot read config file ${bad}: `);
    const missing = join(root, "nope.toml");
    expect(error(loadConfig(SECRET, ["--config", missing]))).toStartWith(`Cannot load config: cannot read config file ${missing}: `);
  });

  test("--config without a path, or twice, is an error", () => {
    expect(error(loadConfig(SECRET, ["--config"]))).toBe("Cannot load config: --config needs a file path");
    const path = file("");
    expect(error(loadConfig(SECRET, ["--config", path, "--config", path]))).toBe("Cannot load config: --config is given more than once");
  });

  test("an unsupported store_url is an error naming the key", () => {
    expect(error(loadConfig({ ...SECRET, CLOUD_NOTIFYD_STORE_URL: "mysql://db/x" }, []))).toBe(
      'Cannot load config: store_url has an unsupported scheme "mysql:" (use file:, libsql:, http(s): or ws(s):) (from CLOUD_NOTIFYD_STORE_URL)',
    );
  });

  test("every error is a single line", () => {
    const path = file(`host = "a"\nhost = "b"\n`);
    const msg = error(loadConfig(SECRET, ["--config", path]));
    expect(msg).not.toContain("\n");
  });
});

describe("configForDisplay() (check-config)", () => {
  test("every Config field but configPath is a TOML key", () => {
    const config = ok(loadConfig(SECRET, []));
    const fields = new Set(CONFIG_KEYS.map(camelCase));
    expect(Object.keys(config).filter((f) => f !== "configPath" && !fields.has(f))).toEqual([]);
  });

  test("prints TOML key names in the example's order, secrets as set or not, the store URL redacted", () => {
    const config = ok(loadConfig({ ...SECRET, CLOUD_NOTIFYD_STORE_URL: "libsql://u:pw-77@db.example.net" }, []));
    const shown = configForDisplay(config, (url) => url.replace("pw-77", "***"));
    expect(Object.keys(shown).slice(0, 5)).toEqual(["config_file", "host", "hosts", "component_domain", "component_host"]);
    expect(shown).toMatchObject({
      component_secret: "(set)",
      admin_token: "(not set)",
      store_auth_token: "(not set)",
      push_max_errors: 16,
      store_url: "libsql://u:***@db.example.net",
    });
    expect(Object.keys(shown).some((k) => /[A-Z]/.test(k) || (k.endsWith("_file") && k !== "config_file"))).toBe(false);
    expect(JSON.stringify(shown)).not.toContain("s3cret");
  });
});
