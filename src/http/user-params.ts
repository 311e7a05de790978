/**
 * Validation of the user list's query (`GET /api/v1/users?prefix=&host=&after=&limit=`), pure.
 * @module
 */
import { localPartProblem } from "../core/jid.ts";
import { parseLimit, parseOptionalHost, parseUser, type Parsed } from "./params.ts";
import type { UsersQuery } from "./deps.ts";

export const DEFAULT_USERS_LIMIT = 50;

/** A local-part fragment: empty is allowed, else the one local-part rule (core/jid.ts); normalised like a user (NFKC, lower case). */
function parseFragment(name: string, raw: string | undefined): Parsed<string> {
  const value = (raw ?? "").normalize("NFKC").toLowerCase();
  const problem = value === "" ? null : localPartProblem(value);
  return problem === null ? { ok: true, value } : { ok: false, error: `Cannot use ${name}: ${problem}` };
}

/**
 * `prefix` is a local-part fragment; `host` (optional) keeps the list to one of `hosts`; `after`
 * is the previous page's `next`, a bare JID (a bare local part when one host is configured).
 */
export function parseUsersQuery(
  q: { prefix?: string; after?: string; host?: string; limit?: string },
  hosts: readonly string[],
): Parsed<UsersQuery> {
  const prefix = parseFragment("prefix", q.prefix);
  if (!prefix.ok) return prefix;
  const host = parseOptionalHost(q.host, hosts);
  if (!host.ok) return host;
  const after = q.after === undefined || q.after === "" ? { ok: true as const, value: "" } : parseUser(q.after, hosts);
  if (!after.ok) return { ok: false, error: after.error.replace(/^Cannot use user/, "Cannot use after") };
  const limit = q.limit === undefined || q.limit === "" ? { ok: true as const, value: DEFAULT_USERS_LIMIT } : parseLimit(q.limit);
  if (!limit.ok) return limit;
  const value: UsersQuery = { prefix: prefix.value, limit: limit.value };
  if (after.value !== "") value.after = after.value;
  if (host.value !== undefined) value.host = host.value;
  return { ok: true, value };
}
