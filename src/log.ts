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
 * - Bounded (issue 10): the message and every field value are cut to `MAX_VALUE_LENGTH` (200)
 *   UTF-16 units before escaping, ending in `…(+N)` (N units left out); keys to 64. Escaping
 *   covers every control (`\p{Cc}`), format (`\p{Cf}`: bidi overrides, zero-width) and line/paragraph
 *   separator character and lone surrogates, so no peer-supplied text can make a long or
 *   multi-line line, or one that displays other than it reads.
 * - Rate-limited (issue 10): the same `msg` at warn or error more than `max` (10) times in a
 *   window (60 s, from its first line) is suppressed; when the window ends one line at the same
 *   level says `<msg> (suppressed N similar lines)`. Written on the next event after the window
 *   ends, by a timer (not keeping the process alive) and, for the stderr logger, at process exit.
 * @module
 */

export type LogLevel = "debug" | "info" | "warn" | "error";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Whether a line at `level` would be written: check it before building an expensive debug line. */
  enabled?(level: LogLevel): boolean;
}

export interface LoggerOptions {
  /** Events below this level are dropped. */
  level: LogLevel;
  /** Receives one line without its trailing newline. Default: stderr, newline appended. */
  write?: (line: string) => void;
  now?: () => Date;
  /** Repeated warn/error lines: at most `max` per `msg` in `windowMs`; `false` turns it off. */
  rateLimit?: RateLimit | false;
  /** Runs `fn` after `ms` (default: an unref'd `setTimeout`); injectable for tests. */
  setTimer?: (fn: () => void, ms: number) => void;
  /** Write pending suppression counts at process exit. Default: true for the stderr logger. */
  flushAtExit?: boolean;
}

export interface RateLimit {
  max: number;
  windowMs: number;
}

/** What `createLogger` returns: a Logger, plus writing the pending suppression counts now. */
export interface RootLogger extends Logger {
  /** Writes one `(suppressed N similar lines)` line for every window with suppressed lines, ended or not. */
  flushSuppressed(): void;
  /** Changes the level from now on (SIGHUP re-reads `log_level`). */
  setLevel(level: LogLevel): void;
  enabled(level: LogLevel): boolean;
}

/** Longest message or field value written, in UTF-16 units (before escaping). */
export const MAX_VALUE_LENGTH = 200;
const MAX_KEY_LENGTH = 64;
export const DEFAULT_RATE_LIMIT: RateLimit = { max: 10, windowMs: 60_000 };
/** Distinct messages tracked at once; beyond, a new message is written without limiting. */
const MAX_TRACKED = 1000;

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

const REDACTED = "[redacted]";
const SECRET_WORDS = new Set(["body", "secret", "token", "password", "authorization"]);
const RESERVED_KEYS = new Set(["ts", "level", "msg"]);

/** Whether a field of this name is written as `[redacted]`. */
export function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  return words.some((w) => SECRET_WORDS.has(w));
}

export function createLogger(opts: LoggerOptions): RootLogger {
  const write = opts.write ?? writeStderr;
  const now = opts.now ?? (() => new Date());
  const minRank = LOG_LEVELS.indexOf(opts.level);
  const limit = opts.rateLimit === undefined ? DEFAULT_RATE_LIMIT : opts.rateLimit;
  const limiter = limit === false ? null : createLimiter(limit, write, now, opts.setTimer ?? unrefTimer);
  const sink = { write, now, minRank, limiter };
  const logger = makeLogger(sink);
  if (limiter !== null && (opts.flushAtExit ?? opts.write === undefined)) process.once("exit", () => limiter.flush(true));
  return {
    ...logger,
    enabled: (level) => LOG_LEVELS.indexOf(level) >= sink.minRank,
    flushSuppressed: () => limiter?.flush(true),
    setLevel(level) {
      sink.minRank = LOG_LEVELS.indexOf(level);
    },
  };
}

/** `log` with `fields` added to every line (e.g. each host's bridge lines carry `host`). */
export function withFields(log: Logger, fields: LogFields): Logger {
  return {
    debug: (msg, f) => log.debug(msg, { ...fields, ...f }),
    info: (msg, f) => log.info(msg, { ...fields, ...f }),
    warn: (msg, f) => log.warn(msg, { ...fields, ...f }),
    error: (msg, f) => log.error(msg, { ...fields, ...f }),
    ...(log.enabled === undefined ? {} : { enabled: (level: LogLevel) => log.enabled?.(level) ?? true }),
  };
}

/** A logger that drops everything (for tests and optional wiring). */
export function createNullLogger(): Logger {
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: () => {},
    enabled: () => false,
  };
  return logger;
}

interface Sink {
  write: (line: string) => void;
  now: () => Date;
  minRank: number;
  limiter: Limiter | null;
}

function makeLogger(sink: Sink): Logger {
  function emit(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LOG_LEVELS.indexOf(level) < sink.minRank) return;
    const at = sink.now();
    if (sink.limiter !== null && !sink.limiter.admit(level, msg, at)) return;
    sink.write(formatEvent(at, level, msg, fields ?? {}));
  }
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
  };
}

interface Window {
  level: LogLevel;
  start: number;
  count: number;
  suppressed: number;
}

interface Limiter {
  /** Whether this warn/error line is written (always true below warn). */
  admit(level: LogLevel, msg: string, at: Date): boolean;
  /** Writes the counts of windows that have ended (all windows when `all`); `sweep` drops ended windows now. */
  flush(all: boolean, sweep?: boolean): void;
}

function createLimiter(
  limit: RateLimit,
  write: (line: string) => void,
  now: () => Date,
  setTimer: (fn: () => void, ms: number) => void,
): Limiter {
  const windows = new Map<string, Window>();
  /** Earliest end of a window that has suppressed lines (Infinity: none). */
  let nextEnd = Number.POSITIVE_INFINITY;

  function report(msg: string, w: Window): void {
    write(formatLine(now(), w.level, `${msg} (suppressed ${w.suppressed} similar lines)`, { suppressed: w.suppressed }));
  }

  function flush(all: boolean, sweep = false): void {
    const t = now().getTime();
    if (!all && !sweep && t < nextEnd) return;
    nextEnd = Number.POSITIVE_INFINITY;
    for (const [msg, w] of windows) {
      const ended = t - w.start >= limit.windowMs;
      if (w.suppressed > 0 && (ended || all)) {
        report(msg, w);
        w.suppressed = 0;
      }
      if (ended) windows.delete(msg);
      else if (w.suppressed > 0) nextEnd = Math.min(nextEnd, w.start + limit.windowMs);
    }
  }

  /** Writes the counts due; if the timer ran early by the logger's clock, waits for the rest. */
  function onTimer(): void {
    flush(false);
    if (nextEnd !== Number.POSITIVE_INFINITY) setTimer(onTimer, Math.max(1, nextEnd - now().getTime()));
  }

  return {
    admit(level, fullMsg, at) {
      const t = at.getTime();
      const msg = cut(fullMsg); // the key: a peer-supplied message cannot make the table large
      if (t >= nextEnd) flush(false);
      if (level !== "warn" && level !== "error") return true;
      let w = windows.get(msg);
      if (w !== undefined && t - w.start >= limit.windowMs) {
        if (w.suppressed > 0) report(msg, w);
        windows.delete(msg);
        w = undefined;
      }
      if (w === undefined) {
        if (windows.size >= MAX_TRACKED) flush(false, true);
        if (windows.size >= MAX_TRACKED) return true;
        windows.set(msg, { level, start: t, count: 1, suppressed: 0 });
        return true;
      }
      w.count++;
      if (w.count <= limit.max) return true;
      if (w.suppressed === 0) {
        const end = w.start + limit.windowMs;
        nextEnd = Math.min(nextEnd, end);
        setTimer(onTimer, Math.max(0, end - t));
      }
      w.suppressed++;
      return false;
    },
    flush,
  };
}

function unrefTimer(fn: () => void, ms: number): void {
  const timer = setTimeout(fn, ms);
  (timer as { unref?: () => void }).unref?.();
}

/** Formats one event as a logfmt line (no trailing newline). Pure; exported for tests. */
export function formatEvent(at: Date, level: LogLevel, msg: string, fields: LogFields): string {
  return formatLine(at, level, cut(msg), fields);
}

/** formatEvent with `msg` already bounded (the suppression line adds its count after the cut). */
function formatLine(at: Date, level: LogLevel, msg: string, fields: LogFields): string {
  const parts = [`ts=${formatTime(at)}`, `level=${level}`, `msg=${formatValue(msg)}`];
  for (const [rawKey, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    let key = sanitizeKey(rawKey);
    if (RESERVED_KEYS.has(key)) key = `_${key}`;
    const text = isSecretKey(rawKey) ? REDACTED : stringify(value);
    parts.push(`${key}=${formatValue(cut(text))}`);
  }
  return parts.join(" ");
}

function formatTime(at: Date): string {
  return Number.isNaN(at.getTime()) ? "invalid-date" : at.toISOString();
}

function sanitizeKey(key: string): string {
  const clean = key.slice(0, MAX_KEY_LENGTH).replace(/[^A-Za-z0-9_.-]/g, "_");
  return clean === "" ? "_" : clean;
}

/** `s` cut to MAX_VALUE_LENGTH UTF-16 units (never inside a surrogate pair), marked `…(+N)`. */
export function cut(s: string): string {
  if (s.length <= MAX_VALUE_LENGTH) return s;
  let end = MAX_VALUE_LENGTH;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${s.slice(0, end)}…(+${s.length - end})`;
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
// \p{Cf}: bidi overrides and zero-width characters could make a line display other than it reads;
// \p{Cs}: a lone surrogate (with the `u` flag a valid pair is one code point and never matches).
const NEEDS_QUOTES = /^$|[\s"=\\\p{Cc}\p{Cf}\p{Cs}\u2028\u2029]/u;
const ESCAPE = /[\\"\p{Cc}\p{Cf}\p{Cs}\u2028\u2029]/gu;

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
    default: {
      // Every UTF-16 unit as \uXXXX (an astral format character as its pair), as JSON writes it.
      let out = "";
      for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
      return out;
    }
  }
}

function writeStderr(line: string): void {
  try {
    process.stderr.write(`${line}\n`);
  } catch {
    // A broken log sink must not take the daemon down.
  }
}
