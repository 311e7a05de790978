/**
 * Store errors as operators need them: the cause in one line, never drizzle's SQL text.
 *
 * drizzle wraps every failing query in a DrizzleQueryError whose message is the query itself
 * ("Failed query: CREATE TABLE …\nparams: …"); the real cause (SQLITE_NOTADB, ECONNREFUSED, a
 * libSQL HTTP error) is its `cause`. `storeErrorText` walks down to that cause and names it with
 * its code, e.g. `database or disk is full (SQLITE_FULL)`.
 * @module
 */

/** Longest error text we print; store errors can carry whole statements or server pages. */
const MAX_TEXT = 300;

interface ErrorLike {
  message?: unknown;
  code?: unknown;
  cause?: unknown;
  name?: unknown;
}

/** The innermost meaningful error: drizzle's query wrapper (and our own "Cannot …" wrappers) give way to their cause. */
export function rootCause(err: unknown): unknown {
  let e = err;
  for (let i = 0; i < 8; i++) {
    const cause = (e as ErrorLike | null)?.cause;
    if (cause === undefined || cause === null || cause === e) break;
    e = cause;
  }
  return e;
}

/** The SQLite or system error code of `err` or of any of its causes (e.g. "SQLITE_FULL", "ECONNREFUSED"). */
export function errorCode(err: unknown): string | undefined {
  let e = err;
  for (let i = 0; i < 8 && e !== undefined && e !== null; i++) {
    const code = (e as ErrorLike).code;
    if (typeof code === "string" && code !== "") return code;
    e = (e as ErrorLike).cause;
  }
  return undefined;
}

/** One line: the root cause's message with its code, control characters folded, cut to 300 characters. */
export function storeErrorText(err: unknown): string {
  const root = rootCause(err);
  let text =
    root instanceof Error || typeof (root as ErrorLike | null)?.message === "string" ? String((root as ErrorLike).message) : String(root);
  const code = errorCode(err);
  if (code !== undefined && !text.includes(code)) text = `${text} (${code})`;
  text = text
    .replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  if (text === "") text = "unknown error";
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}

/** SQLite result codes that mean "try again later": the disk, a lock or the I/O layer, not the data. */
const TRANSIENT_SQLITE = [
  "SQLITE_FULL",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_IOERR",
  "SQLITE_CANTOPEN",
  "SQLITE_PROTOCOL",
  "SQLITE_NOMEM",
  "SQLITE_INTERRUPT",
];

/**
 * Whether a failed write may succeed later unchanged: a full disk, a lock, an I/O error, a
 * remote store that cannot be reached. A constraint or SQL error is permanent: retrying the same
 * rows would fail forever.
 */
export function isTransientStoreError(err: unknown): boolean {
  const code = errorCode(err);
  if (code === undefined) return true; // network errors of the remote client often carry none
  if (code.startsWith("SQLITE_")) return TRANSIENT_SQLITE.some((c) => code === c || code.startsWith(`${c}_`));
  return true;
}

/** Whether `err` (or a cause) is SQLite's "database or disk is full". */
export function isDiskFull(err: unknown): boolean {
  const code = errorCode(err);
  return code === "SQLITE_FULL" || code === "ENOSPC";
}
