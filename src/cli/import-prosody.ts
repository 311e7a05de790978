/**
 * `cloud-notifyd import-prosody <prosody data dir> [--host HOST]… [--dry-run]`: copies
 * mod_cloud_notify registrations from Prosody's file storage ("internal") into our store.
 *
 * Hosts (issue 13): without --host, every host directory of the data directory that has
 * `cloud_notify` data and is one of the configured `hosts` is imported in one run; the others are
 * listed as skipped. `--host H` (repeatable) imports only H, which must be configured. Users
 * are stored as bare JIDs `local@host`.
 *
 * Idempotent: a registration is upserted under (user, identifier); one already in the store
 * with a newer `updatedAt` is left alone and counted as skipped. The report says what changed:
 * `imported` (not in the store before), `updated` (the store had an older or different copy),
 * `unchanged` (the store has it as Prosody does: nothing written, its error count kept), so a
 * repeated import reads "unchanged: 4". Registrations gone from Prosody are not deleted.
 * A file that cannot be read or parsed is reported and skipped; the import goes on.
 * Exit code: 0 all files imported, 1 some files had errors or the import failed, 2 usage error.
 * @module
 */
import { localPartProblem } from "../core/jid.ts";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config.ts";
import { coreConfigFrom, optionsForHost } from "../config.ts";
import type { Registration, StoreOp } from "../core/types.ts";
import { convertUserStore, decodeStoreName, encodeStoreName } from "../import/prosody.ts";
import { parseLuaData } from "../import/lua-table.ts";
import type { Logger } from "../log.ts";
import { openStore } from "../store/db.ts";
import { storeErrorText } from "../store/errors.ts";
import type { Store } from "../store/types.ts";
import { joinUser } from "../store/user-key.ts";

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
  /** New in the store (a dry run, which does not read the store, counts every registration here). */
  imported: number;
  updated: number;
  unchanged: number;
  skippedNewer: number;
  overLimit: number;
  invalidEntries: number;
  fileErrors: number;
}

export const IMPORT_USAGE = `Usage: cloud-notifyd import-prosody <prosody data dir> [--host HOST]... [--dry-run] [--config FILE]
  Imports mod_cloud_notify registrations from Prosody's file storage
  (<data dir>/<host>/cloud_notify/*.dat) into the configured store: of every configured host
  found there, or only of each HOST given (which must be one of the configured hosts).
`;

/** A user's file larger than this is refused (5 registrations take about 2 KB). */
const MAX_FILE_BYTES = 1024 * 1024;
const PLAIN_PROGRESS_EVERY = 1000;
const BAR_WIDTH = 30;

type ParsedArgs = { ok: true; dataDir: string; hosts: string[]; dryRun: boolean } | { ok: false; error: string };

/** One host's `cloud_notify` directory and its user files. */
interface HostDir {
  host: string;
  dir: string;
  names: string[];
}

type HostPlan =
  | { ok: true; imports: HostDir[]; skipped: Array<{ host: string; dir: string }>; missing: string[] }
  | { ok: false; code: number; error: string };

export async function importProsody(args: string[], deps: ImportDeps): Promise<number> {
  const { config, out } = deps;
  const parsed = parseArgs(args);
  if (!parsed.ok) {
    out.write(`${parsed.error} (usage: cloud-notifyd import-prosody DIR [--host HOST] [--dry-run] [--config FILE])\n`);
    return 2;
  }
  const hostPlan = planHosts(parsed.dataDir, parsed.hosts, config.hosts);
  if (!hostPlan.ok) {
    out.write(`${hostPlan.error}\n`);
    return hostPlan.code;
  }

  let store: Store | null = null;
  if (!parsed.dryRun) {
    try {
      store = await openStore(config.storeUrl, {
        ...(config.storeAuthToken ? { authToken: config.storeAuthToken } : {}),
        hosts: config.hosts,
        log: deps.log,
      });
    } catch (err) {
      out.write(`${errorMessage(err)}\n`);
      return 1;
    }
  }
  for (const { host, dir } of hostPlan.skipped) out.write(`skipped host ${host}: not in hosts (${dir})\n`);
  for (const host of hostPlan.missing) out.write(`note: no cloud_notify data for host ${host}\n`);
  for (const { host, dir, names } of hostPlan.imports) out.write(`host ${host}: ${names.length} user files (${dir})\n`);
  const progress = createProgress(
    out,
    hostPlan.imports.reduce((n, h) => n + h.names.length, 0),
  );
  const counts: ImportCounts = {
    users: 0,
    imported: 0,
    updated: 0,
    unchanged: 0,
    skippedNewer: 0,
    overLimit: 0,
    invalidEntries: 0,
    fileErrors: 0,
  };
  const now = deps.now ?? Date.now;
  const limits = coreConfigFrom(config);
  try {
    for (const { host, dir, names } of hostPlan.imports) {
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
          const maxDevices = optionsForHost(config, host).pushMaxDevices;
          const over = kept.splice(maxDevices);
          counts.overLimit += over.length;
          for (const r of over) progress.line(`warning: ${file}: ${r.identifier} not imported: over push_max_devices (${maxDevices})`);
          const plan = await planUser(store, result.user, kept);
          counts.imported += plan.added;
          counts.updated += plan.updated;
          counts.unchanged += plan.unchanged;
          counts.skippedNewer += plan.skipped;
          if (store !== null && plan.ops.length > 0) await store.apply(plan.ops);
        }
        progress.tick();
      }
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
    hosts: hostPlan.imports.map((h) => h.host).join(","),
    skipped_hosts: hostPlan.skipped.map((h) => h.host).join(","),
    dry_run: parsed.dryRun,
    users: counts.users,
    imported: counts.imported,
    updated: counts.updated,
    unchanged: counts.unchanged,
    skipped_newer: counts.skippedNewer,
    over_limit: counts.overLimit,
    invalid_entries: counts.invalidEntries,
    file_errors: counts.fileErrors,
  });
  return counts.fileErrors > 0 ? 1 : 0;
}

function parseArgs(args: string[]): ParsedArgs {
  const positional: string[] = [];
  const hosts: string[] = [];
  let dryRun = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (arg === "--dry-run") dryRun = true;
    else if (arg === "--host" || arg === "--config") {
      const value = args[++i];
      if (value === undefined || value.startsWith("-")) return { ok: false, error: `Cannot import: ${arg} needs a value` };
      if (arg === "--host") hosts.push(value);
    } else if (arg.startsWith("--host=")) hosts.push(arg.slice(7));
    else if (arg.startsWith("--config=")) continue;
    else if (arg.startsWith("-")) return { ok: false, error: `Cannot import: unknown option ${arg}` };
    else positional.push(arg);
  }
  if (positional.length !== 1) return { ok: false, error: "Cannot import: give exactly one Prosody data directory" };
  const bad = hosts.find((h) => !/^[^\s@/]+$/.test(h));
  if (bad !== undefined) return { ok: false, error: `Cannot import: --host ${bad} is not a host name` };
  return { ok: true, dataDir: positional[0] as string, hosts: [...new Set(hosts.map((h) => h.toLowerCase()))], dryRun };
}

/**
 * Which host directories to import. Prosody keeps host H's data in `<data>/<encode H>/`
 * (util/datamanager.lua: every byte outside [A-Za-z0-9] as %xx, so `a.example` is `a%2eexample`).
 */
function planHosts(dataDir: string, wanted: string[], configured: readonly string[]): HostPlan {
  const notConfigured = wanted.find((h) => !configured.includes(h));
  if (notConfigured !== undefined) {
    return {
      ok: false,
      code: 2,
      error: `Cannot import: --host ${notConfigured} is not one of the configured hosts (${configured.join(", ")})`,
    };
  }
  const listed = (dir: string): { ok: true; names: string[] } | { ok: false; error: string } => {
    try {
      return {
        ok: true,
        names: readdirSync(dir)
          .filter((n) => n.endsWith(".dat"))
          .sort(),
      };
    } catch (err) {
      return { ok: false, error: `Cannot import: cannot list ${dir}: ${errorMessage(err)}` };
    }
  };
  const imports: HostDir[] = [];
  if (wanted.length > 0) {
    for (const host of wanted) {
      const dir = join(dataDir, encodeStoreName(host), "cloud_notify");
      const names = listed(dir);
      if (!names.ok) return { ok: false, code: 1, error: names.error };
      imports.push({ host, dir, names: names.names });
    }
    return { ok: true, imports, skipped: [], missing: [] };
  }
  let entries: string[];
  try {
    entries = readdirSync(dataDir).sort();
  } catch (err) {
    return { ok: false, code: 1, error: `Cannot import: cannot list ${dataDir}: ${errorMessage(err)}` };
  }
  const skipped: Array<{ host: string; dir: string }> = [];
  for (const entry of entries) {
    const dir = join(dataDir, entry, "cloud_notify");
    if (!existsSync(dir)) continue; // another kind of store, or a host without push registrations
    const host = decodeStoreName(entry)?.toLowerCase() ?? entry;
    if (!configured.includes(host) || imports.some((h) => h.host === host)) {
      skipped.push({ host, dir });
      continue;
    }
    const names = listed(dir);
    if (!names.ok) return { ok: false, code: 1, error: names.error };
    imports.push({ host, dir, names: names.names });
  }
  if (imports.length === 0) {
    const where = configured.map((h) => join(dataDir, encodeStoreName(h), "cloud_notify")).join(", ");
    return {
      ok: false,
      code: 1,
      error: `Cannot import: no cloud_notify data of ${configured.join(", ")} in ${dataDir} (looked for ${where})`,
    };
  }
  const missing = configured.filter((h) => !imports.some((i) => i.host === h));
  return { ok: true, imports, skipped, missing };
}

type UserFile = { ok: true; user: string; registrations: Registration[]; invalid: number; notes: string[] } | { ok: false; error: string };

function readUserFile(file: string, name: string, ctx: { host: string; limits: ReturnType<typeof coreConfigFrom>; now: number }): UserFile {
  const user = decodeStoreName(name.slice(0, -".dat".length));
  if (user === null || localPartProblem(user) !== null) return { ok: false, error: "the file name is not an encoded user name" };
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
  const bare = joinUser(user, ctx.host);
  const notes = [
    ...invalid.map((e) => `${e.identifier} not imported: ${e.error}`),
    ...renamed.map((r) => `${r.stored} imported as ${r.identifier}`),
    ...(ignoredFields.length > 0 ? [`fields not imported (not supported): ${ignoredFields.join(", ")}`] : []),
  ];
  return { ok: true, user: bare, registrations, invalid: invalid.length, notes };
}

function newestFirst(registrations: Registration[]): Registration[] {
  return [...registrations].sort((a, b) => b.updatedAt - a.updatedAt || a.identifier.localeCompare(b.identifier));
}

interface UserPlan {
  ops: StoreOp[];
  added: number;
  updated: number;
  unchanged: number;
  skipped: number;
}

/**
 * Upserts for registrations not older than the stored ones. One with the same `updatedAt` keeps
 * its stored error state; if nothing else differs either it is unchanged and not written.
 */
async function planUser(store: Store | null, user: string, incoming: Registration[]): Promise<UserPlan> {
  const existing = new Map((store === null ? [] : await store.listByUser(user)).map((r) => [r.identifier, r]));
  const plan: UserPlan = { ops: [], added: 0, updated: 0, unchanged: 0, skipped: 0 };
  for (const r of incoming) {
    const stored = existing.get(r.identifier);
    if (stored === undefined) {
      plan.added++;
      plan.ops.push({ op: "upsert", registration: r });
      continue;
    }
    if (stored.updatedAt > r.updatedAt) {
      plan.skipped++;
      continue;
    }
    const registration =
      stored.updatedAt === r.updatedAt
        ? { ...r, createdAt: stored.createdAt, errorCount: stored.errorCount, lastError: stored.lastError, lastErrorAt: stored.lastErrorAt }
        : r;
    if (sameRegistration(stored, registration)) {
      plan.unchanged++;
      continue;
    }
    plan.updated++;
    plan.ops.push({ op: "upsert", registration });
  }
  return plan;
}

/**
 * Field by field (absent and null extensions are the same; key order does not matter). Not
 * `user`: the store found `a` under this user, whichever way it spells the name.
 */
function sameRegistration(a: Registration, b: Registration): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof Registration>;
  keys.delete("user");
  for (const k of keys) if (stable(a[k] ?? null) !== stable(b[k] ?? null)) return false;
  return true;
}

/** JSON with object keys sorted (a store may give nested objects back in another key order). */
function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([p], [q]) => (p < q ? -1 : 1)))
      : x,
  );
}

function summary(c: ImportCounts, dryRun: boolean): string {
  const rows: Array<[string, number]> = [
    ["users", c.users],
    ...(dryRun
      ? ([["registrations to import", c.imported]] as Array<[string, number]>)
      : ([
          ["imported", c.imported],
          ["updated", c.updated],
          ["unchanged", c.unchanged],
        ] as Array<[string, number]>)),
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
