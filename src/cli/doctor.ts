/**
 * `cloud-notifyd doctor [--config FILE]`: asks the running daemon (its admin listener's
 * `/readyz`, which needs no token) how it is and prints a readable checklist: the store, the
 * component link, the bridge (version, Prosody's own push module loaded beside it) and the
 * Prosody modules the push behaviour relies on. Exit 0 when ready, 1 when not, 2 when the
 * daemon cannot be asked.
 * @module
 */
import type { Readiness } from "../http/deps.ts";

export interface DoctorIo {
  out: (line: string) => void;
  err: (line: string) => void;
  fetch?: typeof fetch;
}

/** The URL of the daemon's /readyz for the configured admin listener (a wildcard address means loopback). */
export function readyzUrl(adminHost: string, adminPort: number): string {
  const host = adminHost === "0.0.0.0" || adminHost === "" ? "127.0.0.1" : adminHost === "::" ? "::1" : adminHost;
  return `http://${host.includes(":") ? `[${host}]` : host}:${adminPort}/readyz`;
}

export async function doctor(url: string, io: DoctorIo): Promise<number> {
  const get = io.fetch ?? fetch;
  let readiness: Readiness;
  try {
    const res = await get(url, { signal: AbortSignal.timeout(5000) });
    readiness = (await res.json()) as Readiness;
    if (typeof readiness !== "object" || readiness === null || typeof readiness.checks !== "object") {
      throw new Error(`unexpected answer (HTTP ${res.status})`);
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = typeof code === "string" ? code : err instanceof Error ? err.message : String(err);
    io.err(`Cannot ask the daemon at ${url}: ${why} (is cloud-notifyd running with this configuration?)`);
    return 2;
  }
  const lines = formatChecklist(readiness);
  io.out(`cloud-notifyd doctor (${url})`);
  for (const line of lines) io.out(line);
  return readiness.ready ? 0 : 1;
}

/** One line per check, `[ok]`, `[warn]` or `[FAIL]`, then a summary line. */
export function formatChecklist(readiness: Readiness): string[] {
  const lines: string[] = [];
  let problems = 0;
  let warnings = 0;
  for (const [name, check] of Object.entries(readiness.checks)) {
    if (!check.ok) {
      problems++;
      lines.push(`  [FAIL] ${name}: ${check.reason ?? "not ok"}`);
    } else if (check.warning !== undefined) {
      warnings++;
      lines.push(`  [warn] ${name}: ${check.warning}`);
    } else {
      lines.push(`  [ok]   ${name}`);
    }
  }
  const counts = `${problems} problem${problems === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}`;
  lines.push(readiness.ready ? `Ready (${counts}).` : `Not ready (${counts}).`);
  return lines;
}
