/**
 * `cloud-notifyd import-prosody <prosody data dir> [--host HOST] [--dry-run]`: copies
 * mod_cloud_notify registrations from Prosody's file storage ("internal") into our store.
 *
 * Idempotent: a registration is upserted under (user, identifier); one already in the store
 * with a newer `updatedAt` is left alone and counted as skipped. Re-importing an unchanged
 * registration keeps its stored error count. Registrations gone from Prosody are not deleted.
 * A file that cannot be read or parsed is reported and skipped; the import goes on.
 * Exit code: 0 all files imported, 1 some files had errors or the import failed, 2 usage error.
 * @module
 */
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config.ts";
import { coreConfigFrom } from "../config.ts";
import type { Registration, StoreOp } from "../core/types.ts";
import { convertUserStore, decodeStoreName, encodeStoreName } from "../import/prosody.ts";
import { parseLuaData } from "../import/lua-table.ts";
import type { Logger } from "../log.ts";
import { openStore } from "../store/db.ts";
import { storeErrorText } from "../store/errors.ts";
import type { Store } from "../store/types.ts";

/** Where the command writes its report (stdout in production). */
export interface ImportOutput {
  write(s: string): void;
  isTTY?: boolean;
}

export interface ImportDeps {
  config: Config;
  log: Logger;
  out: ImportOutput;
  /** unix ms, for entries without a timestamp (default Date.now). */
  now?: () => number;
}

export interface ImportCounts {
  users: number;
  imported: number;
  skippedNewer: number;
  overLimit: number;
  invalidEntries: number;
  fileErrors: number;
}

export const IMPORT_USAGE = `Usage: cloud-notifyd import-prosody <prosody data dir> [--host HOST] [--dry-run] [--config FILE]
  Imports mod_cloud_notify registrations of HOST (default: the configured host) from Prosody's
  file storage (<data dir>/<host>/cloud_notify/*.dat) into the configured store.
`;

/** A user's file larger than this is refused (5 registrations take about 2 KB). */
const MAX_FILE_BYTES = 1024 * 1024;
const PLAIN_PROGRESS_EVERY = 1000;
const BAR_WIDTH = 30;

type ParsedArgs = { ok: true; dataDir: string; host: string | null; dryRun: boolean } | { ok: false; error: string };

export async function importProsody(args: string[], deps: ImportDeps): Promise<number> {
  const { config, out } = deps;
  const parsed = parseArgs(args);
  if (!parsed.ok) {
    out.write(`${parsed.error}\n${IMPORT_USAGE}`);
    return 2;
  }
  const host = parsed.host ?? config.host;
  const dir = join(parsed.dataDir, encodeStoreName(host), "cloud_notify");
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith(".dat"))
      .sort();
  } catch (err) {
    out.write(`Cannot import: cannot list ${dir}: ${errorMessage(err)}\n`);
    return 1;
  }

  let store: Store | null = null;
  if (!parsed.dryRun) {
    try {
      store = await openStore(config.storeUrl, config.storeAuthToken ? { authToken: config.storeAuthToken } : {});
    } catch (err) {
      out.write(`${errorMessage(err)}\n`);
      return 1;
    }
  }
  const progress = createProgress(out, names.length);
  const counts: ImportCounts = { users: 0, imported: 0, skippedNewer: 0, overLimit: 0, invalidEntries: 0, fileErrors: 0 };
  const now = deps.now ?? Date.now;
  const limits = coreConfigFrom(config);
  try {
    for (const name of names) {
      const file = join(dir, name);
      const result = readUserFile(file, name, { host, limits, now: now() });
      if (!result.ok) {
        counts.fileErrors++;
        progress.line(`error: ${file}: ${result.error}`);
      } else {
        counts.users++;
        for (const line of result.notes) progress.line(`warning: ${file}: ${line}`);
        counts.invalidEntries += result.invalid;
        const kept = newestFirst(result.registrations);
        const over = kept.splice(config.pushMaxDevices);
        counts.overLimit += over.length;
        for (const r of over) progress.line(`warning: ${file}: ${r.identifier} not imported: over push_max_devices (${config.pushMaxDevices})`);
        const plan = await planUser(store, result.user, kept);
        counts.imported += plan.ops.length;
        counts.skippedNewer += plan.skipped;
        if (store !== null && plan.ops.length > 0) await store.apply(plan.ops);
      }
      progress.tick();
    }
  } catch (err) {
    progress.done();
    out.write(`Cannot import: store write failed: ${storeErrorText(err)}\n`);
    await store?.close();
    return 1;
  }
  progress.done();
  await store?.close();
  out.write(summary(counts, parsed.dryRun));
  deps.log.info("prosody import finished", {
    host,
    dry_run: parsed.dryRun,
    users: counts.users,
    imported: counts.imported,
    skipped_newer: counts.skippedNewer,
    over_limit: counts.overLimit,
    invalid_entries: counts.invalidEntries,
    file_errors: counts.fileErrors,
  });
  return counts.fileErrors > 0 ? 1 : 0;
}

function parseArgs(args: string[]): ParsedArgs {
  const positional: string[] = [];
  let host: string | null = null;
  let dryRun = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (arg === "--dry-run") dryRun = true;
    else if (arg === "--host" || arg === "--config") {
      const value = args[++i];
      if (value === undefined || value.startsWith("-")) return { ok: false, error: `Cannot import: ${arg} needs a value` };
      if (arg === "--host") host = value;
    } else if (arg.startsWith("--host=")) host = arg.slice(7);
    else if (arg.startsWith("--config=")) continue;
    else if (arg.startsWith("-")) return { ok: false, error: `Cannot import: unknown option ${arg}` };
    else positional.push(arg);
  }
  if (positional.length !== 1) return { ok: false, error: "Cannot import: give exactly one Prosody data directory" };
  if (host !== null && !/^[^\s@/]+$/.test(host)) return { ok: false, error: `Cannot import: --host ${host} is not a host name` };
  return { ok: true, dataDir: positional[0] as string, host, dryRun };
}

type UserFile =
  | { ok: true; user: string; registrations: Registration[]; invalid: number; notes: string[] }
  | { ok: false; error: string };

function readUserFile(
  file: string,
  name: string,
  ctx: { host: string; limits: ReturnType<typeof coreConfigFrom>; now: number },
): UserFile {
  const user = decodeStoreName(name.slice(0, -".dat".length));
  if (user === null || user === "" || /[@/\s]/.test(user)) return { ok: false, error: "the file name is not an encoded user name" };
  let text: string;
  try {
    const stat = lstatSync(file);
    if (!stat.isFile()) return { ok: false, error: "not a regular file" };
    if (stat.size > MAX_FILE_BYTES) return { ok: false, error: `larger than ${MAX_FILE_BYTES} bytes` };
    text = new TextDecoder("utf-8", { fatal: true }).decode(readFileSync(file));
  } catch (err) {
    return { ok: false, error: err instanceof TypeError ? "not valid UTF-8" : errorMessage(err) };
  }
  const parsed = parseLuaData(text, { maxLength: MAX_FILE_BYTES });
  if (!parsed.ok) return { ok: false, error: parsed.error };
  const converted = convertUserStore(user, parsed.value, { host: ctx.host, config: ctx.limits, now: ctx.now });
  if (!converted.ok) return { ok: false, error: converted.error };
  const { registrations, invalid, ignoredFields, renamed } = converted.value;
  const notes = [
    ...invalid.map((e) => `${e.identifier} not imported: ${e.error}`),
    ...renamed.map((r) => `${r.stored} imported as ${r.identifier}`),
    ...(ignoredFields.length > 0 ? [`fields not imported (not supported): ${ignoredFields.join(", ")}`] : []),
  ];
  return { ok: true, user, registrations, invalid: invalid.length, notes };
}

function newestFirst(registrations: Registration[]): Registration[] {
  return [...registrations].sort((a, b) => b.updatedAt - a.updatedAt || a.identifier.localeCompare(b.identifier));
}

/** Upserts for registrations not older than the stored ones; an equal one keeps its error state. */
async function planUser(store: Store | null, user: string, incoming: Registration[]): Promise<{ ops: StoreOp[]; skipped: number }> {
  const existing = new Map((store === null ? [] : await store.listByUser(user)).map((r) => [r.identifier, r]));
  const ops: StoreOp[] = [];
  let skipped = 0;
  for (const r of incoming) {
    const stored = existing.get(r.identifier);
    if (stored !== undefined && stored.updatedAt > r.updatedAt) {
      skipped++;
      continue;
    }
    const registration =
      stored !== undefined && stored.updatedAt === r.updatedAt
        ? { ...r, createdAt: stored.createdAt, errorCount: stored.errorCount, lastError: stored.lastError, lastErrorAt: stored.lastErrorAt }
        : r;
    ops.push({ op: "upsert", registration });
  }
  return { ops, skipped };
}

function summary(c: ImportCounts, dryRun: boolean): string {
  const rows: Array<[string, number]> = [
    ["users", c.users],
    [dryRun ? "registrations to import" : "registrations imported", c.imported],
    ["skipped (newer in store)", c.skippedNewer],
    ["skipped (over push_max_devices)", c.overLimit],
    ["invalid entries", c.invalidEntries],
    ["files with errors", c.fileErrors],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return `${dryRun ? "dry run, nothing written\n" : ""}${rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}\n`).join("")}`;
}

interface Progress {
  tick(): void;
  line(text: string): void;
  done(): void;
}

/** A bar redrawn in place on a terminal; otherwise a plain line every 1000 users. */
function createProgress(out: ImportOutput, total: number): Progress {
  let done = 0;
  let drawn = "";
  let lastDraw = 0;
  const tty = out.isTTY === true;
  function bar(): string {
    const ratio = total === 0 ? 1 : done / total;
    const filled = Math.round(ratio * BAR_WIDTH);
    return `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${Math.floor(ratio * 100)}% ${done}/${total} users`;
  }
  function draw(force: boolean): void {
    const text = bar();
    const at = Date.now();
    if (!force && (text === drawn || at - lastDraw < 100)) return;
    out.write(`\r${text}\x1b[K`);
    drawn = text;
    lastDraw = at;
  }
  return {
    tick() {
      done++;
      if (tty) draw(done === total);
      else if (done % PLAIN_PROGRESS_EVERY === 0) out.write(`progress: ${done}/${total} users\n`);
    },
    line(text) {
      if (tty && drawn !== "") out.write("\r\x1b[K");
      out.write(`${text}\n`);
      if (tty && drawn !== "") draw(true);
    },
    done() {
      if (tty && drawn !== "") out.write("\n");
      drawn = "";
    },
  };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
