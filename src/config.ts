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

/** The options an operator may set per host (`[hosts_options."b.example"]`, issue 13); the global value is the default. */
export const HOST_OPTION_KEYS = [
  "push_max_devices",
  "push_max_errors",
  "push_notification_with_body",
  "push_notification_with_sender",
  "push_notification_important_body",
] as const;

export interface HostOptions {
  pushMaxDevices: number;
  pushMaxErrors: number;
  pushNotificationWithBody: boolean;
  pushNotificationWithSender: boolean;
  pushNotificationImportantBody: string;
}

export interface Config {
  /** The file given with --config, if any. */
  configPath: string | null;
  /** The XMPP hosts (Prosody VirtualHosts) whose users we serve, lower-case, at least one (issue 13). */
  hosts: readonly string[];
  /** `hosts[0]`, for code that serves one host only; new code uses `hosts`. */
  host: string;
  /** Per-host overrides of HOST_OPTION_KEYS, only for hosts in `hosts` and only the options set; see optionsForHost(). */
  hostOptions: Readonly<Record<string, Readonly<Partial<HostOptions>>>>;
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

export type ConfigResult = { ok: true; config: Readonly<Config>; warnings: string[] } | { ok: false; error: string };

export const ENV_PREFIX = "CLOUD_NOTIFYD_";

type Kind =
  | "text"
  | "name"
  | "host-list"
  | "host-options"
  | "port"
  | "positive-int"
  | "boolean"
  | "log-level"
  | "publish-from"
  | "secret"
  | "path"
  | "seconds-list"
  | "condition-list";

/** Every accepted key, its kind and its default (undefined = no default); the core's defaults are DEFAULT_CORE_CONFIG's. */
const KEYS = {
  host: { kind: "name", default: CORE.host },
  hosts: { kind: "host-list", default: undefined },
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
  hosts_options: { kind: "host-options", default: undefined },
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
    const fromEnv = readEnv(env, warnings);
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
    const hosts = hostsFrom(pick("host"), pick("hosts"), get("host") as string, warnings);
    const config: Config = {
      configPath,
      hosts,
      host: hosts[0]!,
      hostOptions: hostOptionsFrom(pick("hosts_options"), hosts),
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

/**
 * `host` is the one-host spelling of `hosts` (notes/multihost.md): `host` alone = [host]; both
 * given is an error unless host is one of hosts (then it is redundant: a warning). Host names are
 * lower-case (as Prosody's VirtualHost names are), each once.
 */
function hostsFrom(hostRaw: Raw | undefined, hostsRaw: Raw | undefined, host: string, warnings: string[]): readonly string[] {
  const single = host.toLowerCase();
  if (hostsRaw === undefined) return Object.freeze([single]);
  const hosts = parse("hosts", hostsRaw) as readonly string[];
  if (hostRaw !== undefined) {
    if (!hosts.includes(single)) {
      fail(`host ${single}${sourceSuffix(hostRaw)} is not one of hosts (${hosts.join(", ")})${sourceSuffix(hostsRaw)}: give only hosts`);
    }
    warnings.push(`host is redundant beside hosts${sourceSuffix(hostRaw)}; remove it`);
  }
  return Object.freeze([...hosts]);
}

/**
 * `[hosts_options."b.example"]` tables: each names a host of `hosts` and sets some of
 * HOST_OPTION_KEYS, each validated like the global option. TOML only (a table has no env spelling).
 */
function hostOptionsFrom(raw: Raw | undefined, hosts: readonly string[]): Readonly<Record<string, Readonly<Partial<HostOptions>>>> {
  const out: Record<string, Readonly<Partial<HostOptions>>> = {};
  if (raw === undefined) return Object.freeze(out);
  if (raw.fromEnv) fail(`hosts_options can only be set in the config file, as [hosts_options."example.com"] tables${sourceSuffix(raw)}`);
  const tables = raw.value;
  if (typeof tables !== "object" || tables === null || Array.isArray(tables)) {
    fail(`hosts_options must be tables [hosts_options."example.com"]${sourceSuffix(raw)}`);
  }
  for (const [name, table] of Object.entries(tables as Record<string, unknown>)) {
    const host = name.toLowerCase();
    const where = `${raw.source} [hosts_options."${name}"]`;
    if (!hosts.includes(host)) {
      const hint = name.includes(".") ? "" : `; a host name with dots must be quoted: [hosts_options."${name}.example"]`;
      fail(`hosts_options names host ${name}, which is not in hosts (${hosts.join(", ")}) (from ${where})${hint}`);
    }
    if (Object.hasOwn(out, host)) fail(`hosts_options gives host ${host} twice (from ${where})`);
    if (typeof table !== "object" || table === null || Array.isArray(table))
      fail(`hosts_options."${name}" must be a table (from ${where})`);
    const options: Partial<HostOptions> = {};
    for (const [key, value] of Object.entries(table as Record<string, unknown>)) {
      if (!(HOST_OPTION_KEYS as readonly string[]).includes(key)) {
        fail(
          `${key} cannot be set per host (from ${where}); per-host options: ${HOST_OPTION_KEYS.join(", ")}${didYouMean(key, HOST_OPTION_KEYS)}`,
        );
      }
      const field = camelCase(key) as keyof HostOptions;
      (options as Record<string, Value>)[field] = parse(key as Key, { value, source: where, fromEnv: false });
    }
    out[host] = Object.freeze(options);
  }
  return Object.freeze(out);
}

/** The effective per-host options of `host`: its `hosts_options` table over the global values. */
export function optionsForHost(config: Readonly<Config>, host: string): HostOptions {
  return {
    pushMaxDevices: config.pushMaxDevices,
    pushMaxErrors: config.pushMaxErrors,
    pushNotificationWithBody: config.pushNotificationWithBody,
    pushNotificationWithSender: config.pushNotificationWithSender,
    pushNotificationImportantBody: config.pushNotificationImportantBody,
    ...config.hostOptions[host],
  };
}

/** The options the pure core reads; memory bounds are fixed here (not operator-tunable yet). */
export function coreConfigFrom(config: Config): CoreConfig {
  return {
    host: config.host,
    hostOverrides: config.hostOptions,
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
    dedupeWindow: 10_000, // D8 bound; see DEFAULT_CORE_CONFIG (src/core/state.ts)
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
    if (!isKey(key)) fail(`unknown key ${key} in ${path}${didYouMean(key, CONFIG_KEYS)}`);
    out.set(key, { value, source: path, fromEnv: false });
  }
  const hasSecret = [...out.keys()].some((k) => KEYS[k].kind === "secret");
  if (hasSecret) warnIfShared(path, "config file", warnings);
  return out;
}

/**
 * Unknown `CLOUD_NOTIFYD_*` variables: a near miss of a known one (at most 2 edits, e.g.
 * `CLOUD_NOTIFYD_PUSH_MAX_ERORS`) is a typo and an error; anything else is a warning, because
 * the environment is inherited and may carry variables meant for other programs with our prefix
 * (the test suite's CLOUD_NOTIFYD_TEST_PROSODY, a container platform's). A TOML file is written
 * for the daemon alone: an unknown key there is always an error.
 */
function readEnv(env: Record<string, string | undefined>, warnings: string[]): Map<Key, Raw> {
  const out = new Map<Key, Raw>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const key = name.slice(ENV_PREFIX.length).toLowerCase();
    if (isKey(key) && envName(key) === name) {
      out.set(key, { value, source: name, fromEnv: true });
      continue;
    }
    const hint = isKey(key) ? ` (did you mean ${envName(key)}?)` : didYouMean(name, CONFIG_KEYS.map(envName));
    if (hint !== "") fail(`unknown environment variable ${name}${hint}`);
    warnings.push(`unknown environment variable ${name} ignored (not a cloud-notifyd option)`);
  }
  return out;
}

/** ` (did you mean X?)` for the one candidate at most 2 edits away, else "". */
function didYouMean(name: string, candidates: readonly string[]): string {
  let best: string | null = null;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(name, c, bestDistance);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best === null ? "" : ` (did you mean ${best}?)`;
}

/** Levenshtein distance, or `cap` once it is known to be at least `cap`. */
function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      row.push(v);
      rowMin = Math.min(rowMin, v);
    }
    if (rowMin >= cap) return cap;
    prev = row;
  }
  return Math.min(prev[b.length]!, cap);
}

/**
 * The configuration as `check-config` prints it: TOML key names (as in the example config), in
 * the example's order, secrets shown only as set or not, the store URL's credentials redacted.
 */
export function configForDisplay(config: Readonly<Config>, redactUrl: (url: string) => string): Record<string, unknown> {
  const shown: Record<string, unknown> = { config_file: config.configPath };
  const fields = config as unknown as Record<string, unknown>;
  for (const key of CONFIG_KEYS) {
    if (key === "hosts_options") {
      shown[key] = Object.fromEntries(
        Object.entries(config.hostOptions).map(([host, o]) => [
          host,
          Object.fromEntries(Object.entries(o).map(([f, v]) => [snakeCase(f), v])),
        ]),
      );
      continue;
    }
    const field = camelCase(key);
    if (!Object.hasOwn(fields, field)) continue; // the *_file keys: their secret is shown instead
    const value = fields[field];
    if (KEYS[key as Key].kind === "secret") shown[key] = value === null || value === "" ? "(not set)" : "(set)";
    else shown[key] = key === "store_url" ? redactUrl(String(value)) : value;
  }
  return shown;
}

/** `push_max_errors` → `pushMaxErrors`: the Config field of a TOML key (but `hosts_options` → `hostOptions`). */
export function camelCase(key: string): string {
  if (key === "hosts_options") return "hostOptions";
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function snakeCase(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `pushMaxErrors` → `push_max_errors`: the TOML key of a Config field, camelCase's inverse (`hostOptions` → `hosts_options`). */
export function tomlKey(field: string): string {
  return field === "hostOptions" ? "hosts_options" : snakeCase(field);
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
    case "host-list": {
      const list = toList(v, fromEnv);
      const names = list?.map((h) => (typeof h === "string" && /^[^\s@/,]+$/.test(h) ? h.toLowerCase() : null));
      const fits = names !== undefined && names.length >= 1 && names.every((h) => h !== null);
      if (!fits)
        return bad(
          "a non-empty list of host names without spaces, '@' or '/' (e.g. [\"a.example\", \"b.example\"]; env: a.example,b.example)",
        );
      const twice = names.find((h, i) => names.indexOf(h) !== i);
      return twice === undefined ? (names as string[]) : bad(`a list of distinct hosts (${twice} is given twice)`);
    }
    case "host-options":
      return bad("tables (hostOptionsFrom)"); // never parsed as one value
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
