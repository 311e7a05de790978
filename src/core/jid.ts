/**
 * A small pure JID validator (D1). Checks structure and limits, never normalises (stringprep is
 * not applied: the jid is stored and compared as sent, behaviour.md §1).
 * @module
 */

export interface Jid {
  local: string | null;
  domain: string;
  resource: string | null;
}

/** RFC 7622: each part at most 1023 octets (we count UTF-16 units, a close bound). */
const MAX_PART = 1023;
/** Characters forbidden in a localpart (RFC 7622 §3.3.1) plus whitespace and controls (C0, DEL, C1). */
const BAD_LOCAL = /["&'/:<>@\s\p{Cc}]/u;
/** RFC 7622 §3.3: a localpart is at most 1023 octets of UTF-8. */
export const MAX_LOCALPART_BYTES = 1023;
const encoder = new TextEncoder();

/**
 * The one rule for a local part, wherever one comes from (a JID, the admin API, a Prosody data
 * directory): null when valid, else what is wrong.
 */
export function localPartProblem(local: string): string | null {
  if (local.length === 0) return "local part is empty";
  // UTF-8 takes at most 3 bytes per UTF-16 unit: only a long string needs encoding to check.
  if (local.length * 3 > MAX_LOCALPART_BYTES && encoder.encode(local).length > MAX_LOCALPART_BYTES) {
    return `local part is longer than ${MAX_LOCALPART_BYTES} bytes`;
  }
  if (BAD_LOCAL.test(local)) return "local part contains a forbidden character (\"&'/:<>@, whitespace or control)";
  return null;
}
/** Domain: no whitespace, controls or the delimiters that would make it ambiguous. */
const BAD_DOMAIN = /["&'/:<>@\s\u0000-\u001f\u007f\\[\]]|^\.|\.\./;
/** Resource: any characters but whitespace-only ones are allowed; forbid controls. */
const BAD_RESOURCE = /[\u0000-\u001f\u007f]/;

/** Parses a JID string; returns null when it is not a valid JID. */
export function parseJid(text: string): Jid | null {
  const slash = text.indexOf("/");
  const bare = slash === -1 ? text : text.slice(0, slash);
  const resource = slash === -1 ? null : text.slice(slash + 1);
  const at = bare.indexOf("@");
  const local = at === -1 ? null : bare.slice(0, at);
  let domain = at === -1 ? bare : bare.slice(at + 1);
  if (domain.endsWith(".")) domain = domain.slice(0, -1);
  if (local !== null && localPartProblem(local) !== null) return null;
  if (!validDomain(domain)) return null;
  if (resource !== null) {
    if (resource.length === 0 || resource.length > MAX_PART || BAD_RESOURCE.test(resource)) return null;
    if (resource.trim().length === 0) return null;
  }
  return { local, domain, resource };
}

function validDomain(domain: string): boolean {
  if (domain.length === 0 || domain.length > MAX_PART) return false;
  if (domain.startsWith("[")) return IPV6_LITERAL.test(domain);
  return !BAD_DOMAIN.test(domain);
}

const IPV6_LITERAL = /^\[[0-9a-fA-F:.]+\]$/;

/** The bare form `local@domain` (or `domain`), lower-cased for comparisons. */
export function bareKey(jid: Jid): string {
  const bare = jid.local === null ? jid.domain : `${jid.local}@${jid.domain}`;
  return bare.toLowerCase();
}

/** The resource part of a full JID string, or null. */
export function resourceOf(fullJid: string): string | null {
  const slash = fullJid.indexOf("/");
  return slash === -1 ? null : fullJid.slice(slash + 1);
}
