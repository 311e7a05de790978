/**
 * The D1 and D2 rules for a push target (the app server's JID and node, and the publish options),
 * in one place for both ways a registration arrives: an `<enable>` (enable.ts) and an import of
 * mod_cloud_notify's storage (import/prosody.ts). Each caller words its own refusal.
 * @module
 */
import { bareKey, parseJid } from "./jid.ts";
import type { CoreConfig } from "./types.ts";
import { utf8Length } from "./xml.ts";

/**
 * D1 (and B4): null when `jid` is a valid JID other than the user's own account, server or
 * (when given) the requesting session's full JID; else what is wrong.
 */
export function pushJidProblem(jid: string, own: { user: string; host: string; fullJid?: string }): "malformed" | "own" | null {
  const parsed = parseJid(jid);
  if (parsed === null) return "malformed";
  const host = own.host.toLowerCase();
  const bare = bareKey(parsed);
  if (jid === own.fullJid || bare === `${own.user}@${host}`.toLowerCase() || bare === host) return "own";
  return null;
}

/** D2: a node longer than `maxNodeLength` characters (UTF-16 units) is refused. */
export function nodeTooLong(node: string, config: Pick<CoreConfig, "maxNodeLength">): boolean {
  return node.length > config.maxNodeLength;
}

/** D2: serialised publish options larger than `maxPublishOptionsBytes` (UTF-8) are refused. */
export function publishOptionsTooLarge(options: string, config: Pick<CoreConfig, "maxPublishOptionsBytes">): boolean {
  return utf8Length(options) > config.maxPublishOptionsBytes;
}
