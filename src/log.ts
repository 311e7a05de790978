/**
 * Structured logger: logfmt, one event per line.
 *
 *     ts=2026-11-25T15:00:00.000Z level=info msg="component online" domain=push.localhost
 *
 * Guarantees:
 * - One event is one line: CR, LF, other control characters and the Unicode line/paragraph
 *   separators are escaped inside quoted values; keys are reduced to `[A-Za-z0-9_.-]`.
 * - Values are quoted when empty or when they contain a space, `"`, `=`, `\` or any character
 *   escaped above; inside quotes `\` and `"` are backslash-escaped.
 * - Redaction (D17): a field whose name contains one of the words body, secret, token, password,
 *   authorization (case-insensitive; words split at `_`, `-`, `.` and camelCase humps, so
 *   `body`, `Authorization`, `authToken`, `xmpp_secret`, `last-message-body` all match) is written
 *   as `[redacted]`. The same rule applies to keys of nested objects, which are written as JSON.
 * - Fields named `ts`, `level` or `msg` are renamed `_ts`, `_level`, `_msg` so they cannot forge
 *   the event's own.
 * @module
 */

export type LogLevel = "debug" | "info" | "warn" | "error";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every event (an event's own fields win on a name clash). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** Events below this level are dropped. */
  level: LogLevel;
  /** Receives one line without its trailing newline. Default: stderr, newline appended. */
  write?: (line: string) => void;
  now?: () => Date;
}

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

const REDACTED = "[redacted]";
const SECRET_WORDS = new Set(["body", "secret", "token", "password", "authorization"]);
const RESERVED_KEYS = new Set(["ts", "level", "msg"]);

/** Whether `s` names a log level (for config parsing). */
export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

/** Whether a field of this name is written as `[redacted]`. */
export function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  return words.some((w) => SECRET_WORDS.has(w));
}

export function createLogger(opts: LoggerOptions): Logger {
  const write = opts.write ?? writeStderr;
  const now = opts.now ?? (() => new Date());
  const minRank = LOG_LEVELS.indexOf(opts.level);
  return makeLogger({}, { write, now, minRank });
}

/** A logger that drops everything (for tests and optional wiring). */
export function createNullLogger(): Logger {
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: () => {},
    child: () => logger,
  };
  return logger;
}

interface Sink {
  write: (line: string) => void;
  now: () => Date;
  minRank: number;
}

function makeLogger(base: LogFields, sink: Sink): Logger {
  function emit(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LOG_LEVELS.indexOf(level) < sink.minRank) return;
    sink.write(formatEvent(sink.now(), level, msg, { ...base, ...fields }));
  }
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    child: (fields) => makeLogger({ ...base, ...fields }, sink),
  };
}

/** Formats one event as a logfmt line (no trailing newline). Pure; exported for tests. */
export function formatEvent(at: Date, level: LogLevel, msg: string, fields: LogFields): string {
  const parts = [`ts=${formatTime(at)}`, `level=${level}`, `msg=${formatValue(msg)}`];
  for (const [rawKey, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    let key = sanitizeKey(rawKey);
    if (RESERVED_KEYS.has(key)) key = `_${key}`;
    const text = isSecretKey(rawKey) ? REDACTED : stringify(value);
    parts.push(`${key}=${formatValue(text)}`);
  }
  return parts.join(" ");
}

function formatTime(at: Date): string {
  return Number.isNaN(at.getTime()) ? "invalid-date" : at.toISOString();
}

function sanitizeKey(key: string): string {
  const clean = key.replace(/[^A-Za-z0-9_.-]/g, "_");
  return clean === "" ? "_" : clean;
}

function stringify(value: unknown): string {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
    case "boolean":
    case "bigint":
      return String(value);
    case "undefined":
      return "undefined";
    case "symbol":
    case "function":
      return String(value);
    case "object":
      return stringifyObject(value);
  }
}

function stringifyObject(value: object | null): string {
  if (value === null) return "null";
  if (value instanceof Date) return formatTime(value);
  if (value instanceof Error) return value.message === "" ? value.name : value.message;
  try {
    return JSON.stringify(value, redactNested) ?? String(value);
  } catch {
    return "[unserializable]";
  }
}

function redactNested(this: unknown, key: string, value: unknown): unknown {
  if (key !== "" && isSecretKey(key)) return REDACTED;
  return typeof value === "bigint" ? String(value) : value;
}

// Quote when empty or when a character would break logfmt tokenising or the one-line rule.
const NEEDS_QUOTES = /^$|[\s"=\\\p{Cc}\u2028\u2029]/u;
const ESCAPE = /[\\"\p{Cc}\u2028\u2029]/gu;

function formatValue(s: string): string {
  if (!NEEDS_QUOTES.test(s)) return s;
  return `"${s.replace(ESCAPE, escapeChar)}"`;
}

function escapeChar(c: string): string {
  switch (c) {
    case "\\":
      return "\\\\";
    case '"':
      return '\\"';
    case "\n":
      return "\\n";
    case "\r":
      return "\\r";
    case "\t":
      return "\\t";
    default:
      return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  }
}

function writeStderr(line: string): void {
  try {
    process.stderr.write(`${line}\n`);
  } catch {
    // A broken log sink must not take the daemon down.
  }
}
