/**
 * A user inside the daemon is its bare JID `local@host` (issue 13, notes/multihost.md); the store
 * keeps it as two columns, `host` and `user` (the local part). These pure helpers split and join.
 * A JID's local part and domain never contain '@' (RFC 7622), so the split is at the LAST '@'.
 * @module
 */

// The split itself is the core's (a user key is the core's fact, core/host-config.ts).
export { hostOf, localOf } from "../core/host-config.ts";

/** `local@host`. */
export function joinUser(local: string, host: string): string {
  return `${local}@${host}`;
}

export interface UserKey {
  host: string;
  local: string;
}

/**
 * The store's reading of a user string: `local@host` as is; a bare local part only when exactly
 * one host is configured (the one-host spelling, which is also what a caller that has not moved
 * to bare JIDs yet passes). With several hosts a user without '@' is a programming error: throws
 * `Cannot use user "x" in the store: …`.
 */
export function userKeyFor(hosts: readonly string[]): (user: string) => UserKey {
  const only = hosts.length === 1 ? hosts[0]! : null;
  return function userKey(user) {
    const at = user.lastIndexOf("@");
    if (at >= 0) return { host: user.slice(at + 1), local: user.slice(0, at) };
    if (only !== null) return { host: only, local: user };
    throw new Error(`Cannot use user ${JSON.stringify(user)} in the store: no @host and several hosts are configured`);
  };
}
