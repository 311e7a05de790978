/**
 * E3 (Tigase push filters, as mod_cloud_notify_filters): the `<ignore-unknown>`, `<muted>` and
 * `<groupchat>` children of `<enable>`, and the filter stage that vetoes pushes by them (B28).
 * @module
 */
import type { CoreConfig, PushFilters, XmlNode } from "../types.ts";
import type { PushDraft, PushExtension } from "../pipeline.ts";
import type { StanzaError } from "../enable.ts";
import { unwrapCarbon } from "../importance.ts";
import { childText } from "../xml.ts";
import { bareOf, keptBody } from "./payload.ts";

export const NS_FILTER_UNKNOWN = "tigase:push:filter:ignore-unknown:0";
export const NS_FILTER_MUTED = "tigase:push:filter:muted:0";
export const NS_FILTER_GROUPCHAT = "tigase:push:filter:groupchat:0";
const NS_REFERENCE = "urn:xmpp:reference:0";

/** E3.3: most muted JIDs and most room rules one registration may hold. */
export const MAX_FILTER_ITEMS = 1000;
const MAX_NICK = 1023;

export type FiltersParse = { ok: true; value: PushFilters | null } | { ok: false; error: StanzaError };

function childOf(el: XmlNode, name: string, xmlns: string): XmlNode | undefined {
  return el.children.find((c): c is XmlNode => typeof c !== "string" && c.name === name && c.attrs.xmlns === xmlns);
}

function elements(el: XmlNode, name: string): XmlNode[] {
  return el.children.filter((c): c is XmlNode => typeof c !== "string" && c.name === name);
}

function tooMany(what: string): FiltersParse {
  return { ok: false, error: { type: "modify", condition: "not-acceptable", text: `More than ${MAX_FILTER_ITEMS} ${what}` } };
}

/**
 * The filters of an `<enable>`; null when it has none. Invalid JIDs and unknown `allow` values are
 * skipped (as prosody-modules does since 2023-04); more than MAX_FILTER_ITEMS → modify/not-acceptable.
 */
export function parseFilters(enable: XmlNode): FiltersParse {
  const unknown = childOf(enable, "ignore-unknown", NS_FILTER_UNKNOWN);
  const mutedEl = childOf(enable, "muted", NS_FILTER_MUTED);
  const groupchatEl = childOf(enable, "groupchat", NS_FILTER_GROUPCHAT);
  if (unknown === undefined && mutedEl === undefined && groupchatEl === undefined) return { ok: true, value: null };
  const muted: string[] = [];
  for (const item of mutedEl === undefined ? [] : elements(mutedEl, "item")) {
    const jid = bareOf(item.attrs.jid);
    if (jid === null || muted.includes(jid)) continue;
    if (muted.length >= MAX_FILTER_ITEMS) return tooMany("muted JIDs");
    muted.push(jid);
  }
  const groupchat: PushFilters["groupchat"] = [];
  for (const room of groupchatEl === undefined ? [] : elements(groupchatEl, "room")) {
    const jid = bareOf(room.attrs.jid);
    const allow = room.attrs.allow;
    if (jid === null || (allow !== "always" && allow !== "mentioned" && allow !== "never")) continue;
    if (groupchat.some((r) => r.room === jid)) continue;
    if (groupchat.length >= MAX_FILTER_ITEMS) return tooMany("group chat rules");
    const nick = room.attrs.nick;
    groupchat.push({ room: jid, allow, nick: nick === undefined || nick === "" || nick.length > MAX_NICK ? null : nick });
  }
  return { ok: true, value: { ignoreUnknown: unknown !== undefined, muted, groupchat } };
}

/**
 * E3.2: whether a room message mentions the user: an XEP-0372 reference of type `mention` to
 * `xmpp:user@host` or `xmpp:room/nick`, or (as Tigase's server does) the nick in the body,
 * case-insensitively.
 */
export function mentions(message: XmlNode, own: string, room: string, nick: string | null): boolean {
  const uris = nick === null ? [`xmpp:${own}`] : [`xmpp:${own}`, `xmpp:${room}/${nick}`];
  for (const child of message.children) {
    if (typeof child === "string" || child.name !== "reference" || child.attrs.xmlns !== NS_REFERENCE) continue;
    if (child.attrs.type === "mention" && uris.includes(child.attrs.uri ?? "")) return true;
  }
  if (nick === null) return false;
  const body = childText(message, "body");
  return body?.toLowerCase().includes(nick.toLowerCase()) === true;
}

/** The reason to veto a push by the registration's filters, or null. */
export function filterReason(draft: Readonly<PushDraft>, host: string): string | null {
  const filters = draft.registration.filters;
  if (filters === undefined || filters === null || draft.stanza === null) return null;
  const message = draft.stanza.name === "message" ? unwrapCarbon(draft.stanza).message : draft.stanza;
  const sender = bareOf(message.attrs.from);
  if (sender === null) return null;
  const user = draft.registration.user;
  const own = (user.includes("@") ? user : `${user}@${host}`).toLowerCase();
  // E3.1: the server said the sender is no subscribed contact; unknown (undefined) lets it through.
  if (filters.ignoreUnknown && draft.contact === false && sender !== own) return "unknown sender";
  if (filters.muted.includes(sender)) return "muted";
  if (message.name === "message" && message.attrs.type === "groupchat") {
    const rule = filters.groupchat.find((r) => r.room === sender);
    if (rule?.allow === "never") return "muted group chat";
    if (rule?.allow === "mentioned" && !mentions(message, own, sender, rule.nick)) return "not mentioned";
  }
  return null;
}

export const FILTERS_EXTENSION: PushExtension = Object.freeze({
  name: "filters",
  features: Object.freeze([NS_FILTER_UNKNOWN, NS_FILTER_MUTED, NS_FILTER_GROUPCHAT]),
  filter(draft: Readonly<PushDraft>, config: CoreConfig): string | null {
    return filterReason(draft, config.host);
  },
  keep: keepForFilters,
});

/** What the filters read of a queued stanza (B30 slimming): a room message's body and mention references. */
function keepForFilters(child: XmlNode, stanza: XmlNode): XmlNode | null {
  if (child.name === "body" && stanza.attrs.type === "groupchat") return keptBody(child);
  if (child.name !== "reference" || child.attrs.xmlns !== NS_REFERENCE || child.attrs.type !== "mention") return null;
  return { name: "reference", attrs: { xmlns: NS_REFERENCE, type: "mention", uri: child.attrs.uri }, children: [] };
}
