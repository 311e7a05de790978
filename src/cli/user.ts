/**
 * `cloud-notifyd user USER [--limit N] [--json] [--config FILE]`: asks the running daemon's admin
 * API for one user's devices, recent pushes, removals and sessions and prints one readable page.
 * `cloud-notifyd user --list [PREFIX] [--host HOST] [--after USER] [--limit N]` lists users (paged).
 * USER is `alice@host`; `alice` alone only when the daemon serves one host (issue 13).
 * The admin token comes from the configuration (CLOUD_NOTIFYD_ADMIN_TOKEN, admin_token_file,
 * the config file or systemd's credential), never from the command line.
 * Exit 0 on success, 1 when the user is unknown or the request is refused, 2 on a usage error
 * or when the daemon cannot be asked.
 * @module
 */
import type { Config } from "../config.ts";
import type { UserViewJson } from "../http/user-json.ts";
import { readyzUrl } from "./doctor.ts";
import { formatUserView } from "./user-format.ts";

export interface UserIo {
  out: (line: string) => void;
  err: (line: string) => void;
  fetch?: typeof fetch;
  now?: () => number;
}

const USAGE =
  "usage: cloud-notifyd user USER@HOST [--limit N] [--json] | user --list [PREFIX] [--host HOST] [--after USER@HOST] [--limit N]";

interface Parsed {
  list: boolean;
  json: boolean;
  target: string | null;
  after: string | null;
  host: string | null;
  limit: string | null;
}

function parseArgs(args: string[]): Parsed | string {
  const p: Parsed = { list: false, json: false, target: null, after: null, host: null, limit: null };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--list") p.list = true;
    else if (a === "--json") p.json = true;
    else if (a === "--limit" || a === "--after" || a === "--host" || a === "--config") {
      const v = args[++i];
      if (v === undefined) return `Cannot parse arguments: ${a} needs a value`;
      if (a === "--limit") p.limit = v;
      if (a === "--after") p.after = v;
      if (a === "--host") p.host = v;
    } else if (a.startsWith("--config=")) continue;
    else if (a.startsWith("-")) return `Cannot parse arguments: unknown option ${a}`;
    else if (p.target !== null) return `Cannot parse arguments: unexpected ${a}`;
    else p.target = a;
  }
  if (p.limit !== null && !/^\d{1,4}$/.test(p.limit)) return "Cannot parse arguments: --limit expects a number";
  if (!p.list && p.target === null) return "Cannot parse arguments: give a user (alice@host; alice alone when one host is configured)";
  if (!p.list && p.host !== null) return "Cannot parse arguments: --host goes with --list (give the user as alice@host)";
  return p;
}

export async function userCommand(args: string[], config: Readonly<Config>, io: UserIo): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === "string") {
    io.err(parsed);
    io.err(USAGE);
    return 2;
  }
  if (config.adminToken === null) {
    io.err("Cannot ask the daemon: admin_token is not configured (set CLOUD_NOTIFYD_ADMIN_TOKEN_FILE or admin_token_file)");
    return 2;
  }
  const base = readyzUrl(config.adminHost, config.adminPort).replace(/\/readyz$/, "/api/v1");
  const query = new URLSearchParams();
  if (parsed.limit !== null) query.set("limit", parsed.limit);
  let url: string;
  if (parsed.list) {
    if (parsed.target !== null) query.set("prefix", parsed.target);
    if (parsed.after !== null) query.set("after", parsed.after);
    if (parsed.host !== null) query.set("host", parsed.host);
    url = `${base}/users?${query}`;
  } else {
    url = `${base}/users/${encodeURIComponent(parsed.target!)}${query.size > 0 ? `?${query}` : ""}`;
  }
  const get = io.fetch ?? fetch;
  let res: Response;
  let body: unknown;
  try {
    res = await get(url, { headers: { Authorization: `Bearer ${config.adminToken}` }, signal: AbortSignal.timeout(10_000) });
    body = await res.json();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = typeof code === "string" ? code : err instanceof Error ? err.message : String(err);
    io.err(`Cannot ask the daemon at ${base}: ${why} (is cloud-notifyd running with this configuration?)`);
    return 2;
  }
  if (!res.ok) {
    const error =
      typeof body === "object" && body !== null && typeof (body as { error?: unknown }).error === "string"
        ? (body as { error: string }).error
        : `HTTP ${res.status}`;
    io.err(error);
    return 1;
  }
  if (parsed.json) {
    io.out(JSON.stringify(body, null, 2));
    return 0;
  }
  if (parsed.list) {
    const page = body as { users: string[]; next: string | null };
    for (const u of page.users) io.out(u);
    if (page.users.length === 0) io.out("(no users)");
    if (page.next !== null) io.out(`… more: --after ${page.next}`);
    return 0;
  }
  for (const line of formatUserView(body as UserViewJson, (io.now ?? Date.now)())) io.out(line);
  return 0;
}
