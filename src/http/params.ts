/**
 * Validation of admin API inputs (pure). Each parser returns a value or a 400 message.
 * @module
 */

import { localPartProblem } from "../core/jid.ts";

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export const MAX_IDENTIFIER_BYTES = 4096;
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

const CONTROL = /\p{Cc}/u;

const encoder = new TextEncoder();

function byteLength(s: string): number {
  return encoder.encode(s).length;
}

function fail(error: string): { ok: false; error: string } {
  return { ok: false, error };
}

/**
 * A user given as a bare JID `alice@example.com` on one of our hosts, or (only when exactly one
 * host is configured) as a local part `alice` (issue 13). Returns the bare JID `local@host`, the
 * local part normalised nodeprep-ish (NFKC, lower case), the host lower case.
 */
export function parseUser(raw: string, hosts: readonly string[]): Parsed<string> {
  let local = raw;
  let host: string;
  const at = raw.lastIndexOf("@");
  if (at >= 0) {
    const domain = raw.slice(at + 1);
    if (domain.includes("/")) return fail("Cannot use user: give a bare JID user@host, not a full JID");
    host = domain.normalize("NFKC").toLowerCase();
    if (!hosts.includes(host)) {
      return fail(`Cannot use user: ${host === "" ? "the host is empty" : `host ${host} is not served here`} (hosts: ${hosts.join(", ")})`);
    }
    local = raw.slice(0, at);
  } else if (hosts.length === 1) {
    host = hosts[0]!;
  } else {
    return fail(`Cannot use user: give user@host: several hosts are configured (${hosts.join(", ")})`);
  }
  // Prosody stores user names nodeprepped: NFKC and lower case stand in for nodeprep here; the
  // rule itself is the core's (core/jid.ts).
  local = local.normalize("NFKC").toLowerCase();
  const problem = localPartProblem(local);
  if (problem !== null) return fail(`Cannot use user: ${problem}`);
  return { ok: true, value: `${local}@${host}` };
}

/** Optional `host` of a query: one of `hosts` (lower case), or absent. */
export function parseOptionalHost(raw: string | undefined, hosts: readonly string[]): Parsed<string | undefined> {
  if (raw === undefined || raw === "") return { ok: true, value: undefined };
  const host = raw.normalize("NFKC").toLowerCase();
  if (!hosts.includes(host)) return fail(`Cannot use host: ${host} is not served here (hosts: ${hosts.join(", ")})`);
  return { ok: true, value: host };
}

/** A registration identifier as listed by the API: `${jid}<${node}`. */
export function parseIdentifier(raw: string): Parsed<string> {
  if (raw === "") return fail("Cannot use identifier: it is empty");
  if (byteLength(raw) > MAX_IDENTIFIER_BYTES) {
    return fail(`Cannot use identifier: it is longer than ${MAX_IDENTIFIER_BYTES} bytes`);
  }
  if (CONTROL.test(raw)) return fail("Cannot use identifier: it contains a control character");
  if (!raw.includes("<")) return fail("Cannot use identifier: expected the form jid<node, as listed by the API");
  return { ok: true, value: raw };
}

/** Optional identifier from a query string; empty means absent. */
export function parseOptionalIdentifier(raw: string | undefined): Parsed<string | undefined> {
  if (raw === undefined || raw === "") return { ok: true, value: undefined };
  return parseIdentifier(raw);
}

/** `limit` query parameter: absent/empty → 100; an integer is clamped to 1..1000; else an error. */
export function parseLimit(raw: string | undefined): Parsed<number> {
  if (raw === undefined || raw === "") return { ok: true, value: DEFAULT_LIMIT };
  if (!/^[+-]?\d{1,20}$/.test(raw)) return fail("Cannot use limit: expected an integer");
  const n = Number(raw);
  return { ok: true, value: Math.min(MAX_LIMIT, Math.max(1, n)) };
}

/** Optional JSON body of POST test-push: empty, or `{ "identifier"?: string }`. */
export function parseTestPushBody(text: string): Parsed<string | undefined> {
  if (text.trim() === "") return { ok: true, value: undefined };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return fail("Cannot parse body: invalid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return fail("Cannot use body: expected a JSON object");
  }
  const identifier: unknown = (body as Record<string, unknown>)["identifier"];
  if (identifier === undefined || identifier === null) return { ok: true, value: undefined };
  if (typeof identifier !== "string") return fail("Cannot use identifier: expected a string");
  return parseIdentifier(identifier);
}
