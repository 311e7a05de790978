/**
 * Validation of the user list's query (`GET /api/v1/users?prefix=&host=&after=&limit=`), pure.
 * @module
 */
import { MAX_LOCALPART_BYTES, parseLimit, parseOptionalHost, parseUser, type Parsed } from "./params.ts";
import type { UsersQuery } from "./deps.ts";

export const DEFAULT_USERS_LIMIT = 50;

const FORBIDDEN = /["&'/:<>@\s\p{Cc}]/u;
const encoder = new TextEncoder();

/** A local-part fragment: empty is allowed; normalised like a user (NFKC, lower case). */
function parseFragment(name: string, raw: string | undefined): Parsed<string> {
  const value = (raw ?? "").normalize("NFKC").toLowerCase();
  if (encoder.encode(value).length > MAX_LOCALPART_BYTES) {
    return { ok: false, error: `Cannot use ${name}: longer than ${MAX_LOCALPART_BYTES} bytes` };
  }
  if (FORBIDDEN.test(value)) {
    return { ok: false, error: `Cannot use ${name}: contains a forbidden character ("&'/:<>@, whitespace or control)` };
  }
  return { ok: true, value };
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
