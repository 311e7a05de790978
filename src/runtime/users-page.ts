/**
 * The admin API's user list over several hosts (issue 13): users are bare JIDs, and the store
 * lists them by (host, local part), so a local-part prefix matches one contiguous run per host.
 * Each host is searched in turn, in the store's order, until the page is full.
 * @module
 */
import type { UsersPage, UsersQuery } from "../http/deps.ts";
import type { Store } from "../store/types.ts";
import { hostOf, joinUser, localOf } from "../store/user-key.ts";

/** Users with a registration whose local part starts with `q.prefix`, on `q.host` or every host, after `q.after`. */
export async function listUsersOnHosts(store: Store, hosts: readonly string[], q: UsersQuery): Promise<UsersPage> {
  const { prefix, limit } = q;
  // The store compares hosts as SQLite's BINARY does; host names are ASCII, where `<` agrees.
  const order = [...(q.host === undefined ? hosts : [q.host])].sort();
  const afterHost = q.after === undefined ? undefined : hostOf(q.after);
  const found: string[] = [];
  for (const host of order) {
    if (afterHost !== undefined && host < afterHost) continue;
    const want = limit + 1 - found.length;
    found.push(...(await onHost(store, host, prefix, host === afterHost ? localOf(q.after!) : undefined, want)));
    if (found.length > limit) break;
  }
  if (found.length <= limit) return { users: found, next: null };
  const users = found.slice(0, limit);
  return { users, next: users[users.length - 1] ?? null };
}

/** Up to `want` users of one host whose local part starts with `prefix`, strictly after the local part `after`. */
async function onHost(store: Store, host: string, prefix: string, after: string | undefined, want: number): Promise<string[]> {
  const found: string[] = [];
  let cursor = after;
  if (cursor !== undefined && !cursor.startsWith(prefix)) {
    if (cursor > prefix) return found; // past every match of this host
    cursor = undefined;
  }
  if (cursor === undefined && prefix !== "") {
    // The store lists strictly after a cursor, so the prefix itself is looked up on its own.
    if ((await store.listByUser(joinUser(prefix, host))).length > 0) found.push(joinUser(prefix, host));
    cursor = prefix;
  }
  // `local@host` with an empty local part sorts before every user of the host.
  const batch = await store.listUsers({ limit: want, after: joinUser(cursor ?? "", host) });
  for (const user of batch) {
    if (hostOf(user) !== host || !localOf(user).startsWith(prefix)) break; // matches are contiguous per host
    found.push(user);
  }
  return found.slice(0, want);
}
