/**
 * Configuration: defaults, then a TOML file (`--config PATH`), then environment variables
 * `CLOUD_NOTIFYD_<KEY>` (upper-snake of the key). Option names follow mod_cloud_notify so
 * Prosody operators recognise them. The only module that reads the environment (via main.ts).
 *
 * Secrets (`component_secret`, `store_auth_token`, `admin_token`) come from the environment,
 * from a `<key>_file`, or from the config file; never from the command line, where every local
 * user can read them (ps, /proc/PID/cmdline).
 * @module
 */
import { readFileSync, statSync } from "node:fs";
import { DEFAULT_CORE_CONFIG as CORE } from "./core/state.ts";
import type { CoreConfig } from "./core/types.ts";
import { parseStoreUrl } from "./store/store-url.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
/** D15: publishes go out as the host via the bridge (default) or from the component's JID. */
export type PublishFrom = "host" | "component";

export interface Config {
  /** The file given with --config, if any. */
  configPath: string | null;
  /** The XMPP host whose users we serve. */
  host: string;
  componentDomain: string;
  componentHost: string;
  componentPort: number;
  /** "" only when loadConfig() was called with `requireSecret: false` and none was given. */
  componentSecret: string;
  dataDir: string;
  storeUrl: string;
  storeAuthToken: string | null;
  adminHost: string;
  adminPort: number;
  /** Bearer token for /api/v1; null = not configured. */
  adminToken: string | null;
  logLevel: LogLevel;
  publishFrom: PublishFrom;
  /** seconds (D11) */
  publishTimeout: number;
  /** Push history rows older than this many days are deleted (at start, then hourly). */
  historyRetentionDays: number;
  pushMaxErrors: number;
  pushMaxDevices: number;
  pushNotificationImportantBody: string;
  /** seconds */
  pushMaxHibernationTimeout: number;
  pushNotificationWithBody: boolean;
  pushNotificationWithSender: boolean;
  /** E2: important pushes carry <priority xmlns='tigase:push:priority:0'>high</priority>. */
  pushPriority: boolean;
  /** E1: Tigase encrypted payloads and voip call pushes for clients that send a key. */
  pushEncryption: boolean;
  /** E1.5: encrypted payloads carry the sender and a body preview. */
  pushEncryptedPreview: boolean;
  /** E3: Tigase push filters (ignore-unknown, muted, groupchat). */
  pushFilters: boolean;
  /** seconds */
  smacksHibernationTime: number;
  /** D19: seconds before each retry of a transient publish failure (`wait` error, timeout); [] = none. */
  pushRetryDelays: readonly number[];
  /** D20: error conditions that remove a registration at once; [] = they count like others (B41). */
  pushRemoveConditions: readonly string[];
}

export type ConfigResult =
  | { ok: true; config: Readonly<Config>; warnings: string[] }
  | { ok: false; error: string };

export const ENV_PREFIX = "CLOUD_NOTIFYD_";

type Kind = "text" | "name" | "port" | "positive-int" | "boolean" | "log-level" | "publish-from" | "secret" | "path" | "seconds-list" | "condition-list";

/** Every accepted key, its kind and its default (undefined = no default); the core's defaults are DEFAULT_CORE_CONFIG's. */
const KEYS = {
  host: { kind: "name", default: CORE.host },
  component_domain: { kind: "name", default: "push.localhost" },
  component_host: { kind: "name", default: "127.0.0.1" },
  component_port: { kind: "port", default: 5347 },
  component_secret: { kind: "secret", default: undefined },
  component_secret_file: { kind: "path", default: undefined },
  data_dir: { kind: "path", default: "./data" },
  store_url: { kind: "text", default: undefined },
  store_auth_token: { kind: "secret", default: undefined },
  store_auth_token_file: { kind: "path", default: undefined },
  admin_host: { kind: "name", default: "127.0.0.1" },
  admin_port: { kind: "port", default: 8098 },
  admin_token: { kind: "secret", default: undefined },
  admin_token_file: { kind: "path", default: undefined },
  log_level: { kind: "log-level", default: "info" },
  publish_from: { kind: "publish-from", default: "host" },
  publish_timeout: { kind: "positive-int", default: CORE.publishTimeoutMs / 1000 },
  push_max_errors: { kind: "positive-int", default: CORE.pushMaxErrors },
  push_max_devices: { kind: "positive-int", default: CORE.pushMaxDevices },
  push_notification_important_body: { kind: "text", default: CORE.pushNotificationImportantBody },
  push_max_hibernation_timeout: { kind: "positive-int", default: CORE.pushMaxHibernationTimeout },
  push_notification_with_body: { kind: "boolean", default: CORE.pushNotificationWithBody },
  push_notification_with_sender: { kind: "boolean", default: CORE.pushNotificationWithSender },
  push_priority: { kind: "boolean", default: CORE.pushPriority },
  push_encryption: { kind: "boolean", default: true },
  push_encrypted_preview: { kind: "boolean", default: true },
  push_filters: { kind: "boolean", default: true },
  history_retention_days: { kind: "positive-int", default: 30 },
  smacks_hibernation_time: { kind: "positive-int", default: CORE.smacksHibernationTime },
  push_retry_delays: { kind: "seconds-list", default: CORE.pushRetryDelaysMs.map((ms) => ms / 1000) },
  push_remove_conditions: { kind: "condition-list", default: CORE.pushRemoveConditions },
} as const satisfies Record<string, { kind: Kind; default: string | number | boolean | readonly number[] | readonly string[] | undefined }>;

/** Every option name a config file may use (the example config is tested against it). */
export const CONFIG_KEYS: readonly string[] = Object.freeze(Object.keys(KEYS));

type Key = keyof typeof KEYS;
type Value = string | number | boolean | readonly number[] | readonly string[];

/** A raw value and where it came from, for error messages. */
interface Raw {
  value: unknown;
  source: string;
  /** Environment values are strings and are converted; TOML values must have the right type. */
  fromEnv: boolean;
}

class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Loads and validates the configuration. `argv` may be the full `Bun.argv` or only the user's
 * arguments: only `--config PATH` / `--config=PATH` is read, secret-like options are refused,
 * every other argument is left to the caller. On failure `error` is one line naming the key.
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  argv: string[],
  { requireSecret = true }: { requireSecret?: boolean } = {},
): ConfigResult {
  try {
    const warnings: string[] = [];
    const configPath = configPathFrom(argv);
    const file = configPath === null ? new Map<Key, Raw>() : readTomlFile(configPath, warnings);
    const fromEnv = readEnv(env);
    const pick = (key: Key): Raw | undefined => fromEnv.get(key) ?? file.get(key);
    const get = (key: Key): Value | undefined => {
      const raw = pick(key);
      return raw === undefined ? KEYS[key].default : parse(key, raw);
    };
    const secret = (key: "component_secret" | "store_auth_token" | "admin_token"): string | null =>
      resolveSecret(key, [fromEnv, file], warnings);

    const dataDir = get("data_dir") as string;
    const storeUrl = (get("store_url") as string | undefined) ?? `file:${dataDir.replace(/\/+$/, "")}/cloud-notifyd.db`;
    const store = parseStoreUrl(storeUrl);
    if (!store.ok) fail(`store_url ${store.error}${sourceSuffix(pick("store_url"))}`);
    const componentSecret = secret("component_secret");
    if (componentSecret === null && requireSecret) {
      fail(`component_secret is required: set ${envName("component_secret")} or component_secret_file`);
    }
    const config: Config = {
      configPath,
      host: get("host") as string,
      componentDomain: get("component_domain") as string,
      componentHost: get("component_host") as string,
      componentPort: get("component_port") as number,
      componentSecret: componentSecret ?? "",
      dataDir,
      storeUrl,
      storeAuthToken: secret("store_auth_token"),
      adminHost: get("admin_host") as string,
      adminPort: get("admin_port") as number,
      adminToken: secret("admin_token") ?? systemdCredential(env, "admin_token", warnings),
      logLevel: get("log_level") as LogLevel,
      publishFrom: get("publish_from") as PublishFrom,
      publishTimeout: get("publish_timeout") as number,
      historyRetentionDays: get("history_retention_days") as number,
      pushMaxErrors: get("push_max_errors") as number,
      pushMaxDevices: get("push_max_devices") as number,
      pushNotificationImportantBody: get("push_notification_important_body") as string,
      pushMaxHibernationTimeout: get("push_max_hibernation_timeout") as number,
      pushNotificationWithBody: get("push_notification_with_body") as boolean,
      pushNotificationWithSender: get("push_notification_with_sender") as boolean,
      pushPriority: get("push_priority") as boolean,
      pushEncryption: get("push_encryption") as boolean,
      pushEncryptedPreview: get("push_encrypted_preview") as boolean,
      pushFilters: get("push_filters") as boolean,
      smacksHibernationTime: get("smacks_hibernation_time") as number,
      pushRetryDelays: Object.freeze([...(get("push_retry_delays") as readonly number[])]),
      pushRemoveConditions: Object.freeze([...(get("push_remove_conditions") as readonly string[])]),
    };
    return { ok: true, config: Object.freeze(config), warnings };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, error: err.message };
    throw err;
  }
}

/** The options the pure core reads; memory bounds are fixed here (not operator-tunable yet). */
export function coreConfigFrom(config: Config): CoreConfig {
  return {
    host: config.host,
    pushNotificationWithBody: config.pushNotificationWithBody,
    pushNotificationWithSender: config.pushNotificationWithSender,
    pushMaxErrors: config.pushMaxErrors,
    pushMaxDevices: config.pushMaxDevices,
    pushNotificationImportantBody: config.pushNotificationImportantBody,
    pushPriority: config.pushPriority,
    pushEncryption: config.pushEncryption,
    pushEncryptedPreview: config.pushEncryptedPreview,
    pushFilters: config.pushFilters,
    pushMaxHibernationTimeout: config.pushMaxHibernationTimeout,
    smacksHibernationTime: config.smacksHibernationTime,
    publishTimeoutMs: config.publishTimeout * 1000,
    batchDelayMs: 1000,
    maxPublishOptionsBytes: 8192,
    maxNodeLength: 1024,
    maxCachedUsers: 100_000,
    dedupeWindow: 100_000,
    dedupeTtlMs: 600_000,
    maxPendingPublishes: 100_000,
    maxSessionQueue: 256,
    pushRetryDelaysMs: config.pushRetryDelays.map((seconds) => seconds * 1000),
    pushRemoveConditions: config.pushRemoveConditions,
    maxPendingRetries: 100_000,
  };
}

/** `CLOUD_NOTIFYD_<KEY>` for a config key. */
export function envName(key: string): string {
  return `${ENV_PREFIX}${key.toUpperCase()}`;
}

/** Throws the one-line error loadConfig() returns (parser messages may span lines). */
function fail(detail: string): never {
  throw new ConfigError(`Cannot load config: ${detail.replace(/\s*\n\s*/g, " ").trim()}`);
}

function configPathFrom(argv: string[]): string | null {
  let path: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") break;
    if (!arg.startsWith("-")) continue;
    const name = arg.split("=", 1)[0] ?? arg;
    if (/secret|token|passw/i.test(name)) {
      fail(
        `${name} is not accepted on the command line, where other local users can read it; ` +
          `use ${envName("component_secret")} (or the matching variable) or a *_file option`,
      );
    }
    if (name !== "--config") continue;
    if (path !== null) fail("--config is given more than once");
    const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[++i];
    if (value === undefined || value === "" || value.startsWith("-")) fail("--config needs a file path");
    path = value;
  }
  return path;
}

function readTomlFile(path: string, warnings: string[]): Map<Key, Raw> {
  let parsed: Record<string, unknown>;
  try {
    parsed = Bun.TOML.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (err) {
    fail(`cannot read config file ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const out = new Map<Key, Raw>();
  for (const [key, value] of Object.entries(parsed)) {
    if (!isKey(key)) fail(`unknown key ${key} in ${path}`);
    out.set(key, { value, source: path, fromEnv: false });
  }
  const hasSecret = [...out.keys()].some((k) => KEYS[k].kind === "secret");
  if (hasSecret) warnIfShared(path, "config file", warnings);
  return out;
}

function readEnv(env: Record<string, string | undefined>): Map<Key, Raw> {
  const out = new Map<Key, Raw>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const key = name.slice(ENV_PREFIX.length).toLowerCase();
    if (!isKey(key) || envName(key) !== name) fail(`unknown environment variable ${name}`);
    out.set(key, { value, source: name, fromEnv: true });
  }
  return out;
}

function isKey(key: string): key is Key {
  return Object.hasOwn(KEYS, key);
}

/** Highest layer wins; within one layer, giving both `<key>` and `<key>_file` is an error. */
function resolveSecret(
  key: "component_secret" | "store_auth_token" | "admin_token",
  layers: Array<Map<Key, Raw>>,
  warnings: string[],
): string | null {
  const fileKey = `${key}_file` as const;
  for (const layer of layers) {
    const direct = layer.get(key);
    const file = layer.get(fileKey);
    if (direct !== undefined && file !== undefined) {
      fail(`${key} and ${fileKey} are both set (${direct.source}, ${file.source}); use one`);
    }
    if (direct !== undefined) {
      if (typeof direct.value !== "string") fail(`${key} must be a string${sourceSuffix(direct)}`);
      if (direct.value === "") fail(`${key} is empty${sourceSuffix(direct)}`);
      return direct.value;
    }
    if (file !== undefined) return readSecretFile(fileKey, file, warnings);
  }
  return null;
}

/**
 * A secret systemd passed with `LoadCredential=NAME:…` ($CREDENTIALS_DIRECTORY/NAME), used when
 * neither the key nor its `_file` is set anywhere; null when there is none.
 */
function systemdCredential(env: Record<string, string | undefined>, name: string, warnings: string[]): string | null {
  const dir = env.CREDENTIALS_DIRECTORY;
  if (dir === undefined || dir === "") return null;
  const path = `${dir.replace(/\/+$/, "")}/${name}`;
  try {
    statSync(path);
  } catch {
    return null;
  }
  return readSecretFile(`credential ${name}`, { value: path, source: "CREDENTIALS_DIRECTORY", fromEnv: true }, warnings);
}

function readSecretFile(fileKey: string, raw: Raw, warnings: string[]): string {
  if (typeof raw.value !== "string" || raw.value === "") fail(`${fileKey} must be a file path${sourceSuffix(raw)}`);
  const path = raw.value;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    fail(`${fileKey} cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  const secret = text.replace(/\r?\n$/, "");
  if (secret === "") fail(`${fileKey} ${path} is empty`);
  warnIfShared(path, fileKey, warnings);
  return secret;
}

function warnIfShared(path: string, what: string, warnings: string[]): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    warnings.push(`${what} ${path} holds a secret but is readable by others (mode ${mode.toString(8).padStart(4, "0")}); chmod 600 it`);
  }
}

function sourceSuffix(raw: Raw | undefined): string {
  return raw === undefined ? "" : ` (from ${raw.source})`;
}

/** Validates one raw value. Env values are strings; TOML values must already have the right type. */
function parse(key: Key, raw: Raw): Value {
  const kind: Kind = KEYS[key].kind;
  const fromEnv = raw.fromEnv;
  const shown = kind === "secret" ? "" : `, got ${JSON.stringify(raw.value)}`;
  const bad = (what: string): never => fail(`${key} must be ${what}${shown}${sourceSuffix(raw)}`);
  const v = raw.value;
  switch (kind) {
    case "text":
    case "secret":
      return typeof v === "string" ? v : bad("a string");
    case "path":
      return typeof v === "string" && v !== "" ? v : bad("a non-empty path");
    case "name":
      return typeof v === "string" && /^[^\s@/]+$/.test(v) ? v : bad("a host name without spaces, '@' or '/'");
    case "port": {
      const n = toInt(v, fromEnv);
      return n !== null && n >= 1 && n <= 65535 ? n : bad("a port number (1-65535)");
    }
    case "positive-int": {
      const n = toInt(v, fromEnv);
      return n !== null && n >= 1 ? n : bad("a positive integer");
    }
    case "boolean": {
      const b = toBool(v, fromEnv);
      return b ?? bad(fromEnv ? "true/false/1/0/yes/no" : "true or false");
    }
    case "log-level":
      return v === "debug" || v === "info" || v === "warn" || v === "error" ? v : bad("one of debug, info, warn, error");
    case "publish-from":
      return v === "host" || v === "component" ? v : bad("host or component");
    case "seconds-list": {
      const list = toList(v, fromEnv)?.map((item) => toInt(item, fromEnv));
      const fits = list !== undefined && list.length <= 10 && list.every((n) => n !== null && n >= 1 && n <= 86400);
      return fits ? (list as number[]) : bad("a list of at most 10 whole seconds, each 1-86400 (e.g. [15, 120]; env: 15,120)");
    }
    case "condition-list": {
      const list = toList(v, fromEnv);
      const fits = list !== undefined && list.length <= 32 && list.every((c) => typeof c === "string" && /^[a-z][a-z-]{0,63}$/.test(c));
      return fits ? (list as string[]) : bad('a list of XMPP error conditions (e.g. ["item-not-found"]; env: item-not-found,forbidden)');
    }
  }
}

/** A TOML array as is; an environment value split at commas ("" = empty list). */
function toList(v: unknown, fromEnv: boolean): unknown[] | undefined {
  if (Array.isArray(v)) return v;
  if (!fromEnv || typeof v !== "string") return undefined;
  return v.trim() === "" ? [] : v.split(",").map((item) => item.trim());
}

function toInt(v: unknown, fromEnv: boolean): number | null {
  const n = fromEnv && typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
  return typeof n === "number" && Number.isSafeInteger(n) ? n : null;
}

function toBool(v: unknown, fromEnv: boolean): boolean | null {
  if (typeof v === "boolean") return v;
  if (!fromEnv || typeof v !== "string") return null;
  const s = v.trim().toLowerCase();
  if (s === "true" || s === "1" || s === "yes") return true;
  if (s === "false" || s === "0" || s === "no") return false;
  return null;
}
