/**
 * E1: the JSON an encrypted push carries (Tigase "Encrypted push notifications", as
 * mod_cloud_notify_encrypted builds it): `unread`, `sender`, `message`, `type` and, by type,
 * `nickname` (groupchat) or `sid` and `media` (call). Pure; the caller encrypts it.
 * @module
 */
import type { XmlNode } from "../types.ts";
import { bareKey, parseJid, resourceOf } from "../jid.ts";
import { ENCRYPTION_MARKERS, NS_JMI_0, NS_JMI_1, proposeOf, unwrapCarbon } from "../importance.ts";
import { keptText } from "../slim.ts";
import { getChild, textOf } from "../xml.ts";

const NS_RTP = "urn:xmpp:jingle:apps:rtp:1";

/** E1.6: what `message` says for a message that is itself end-to-end encrypted. */
export const ENCRYPTED_MESSAGE_TEXT = "You have received an encrypted message";

/** Longest `message` preview in bytes of UTF-8 (mod_cloud_notify_encrypted's 255). */
export const MAX_PREVIEW_BYTES = 255;

/**
 * End-to-end encryption markers (OMEMO of every version, legacy PGP, OX, EME): never copied, only
 * named. The importance rule's list (core/importance.ts), plus OX's signcrypt, which names an
 * encrypted message here but does not make one important (B21).
 */
const E2E_MARKERS: ReadonlyArray<readonly [name: string, xmlns: string]> = [...ENCRYPTION_MARKERS, ["signcrypt", "urn:xmpp:openpgp:0"]];

export type PayloadType = "chat" | "groupchat" | "call" | "subscribe";

/** The plaintext of an encrypted push, in wire key order. */
export interface PushPayload {
  unread: number;
  sender?: string;
  message?: string;
  type?: PayloadType;
  nickname?: string;
  sid?: string;
  media?: string[];
}

/** True iff the message carries an end-to-end encryption element (E1.6). */
export function isEndToEndEncrypted(message: XmlNode): boolean {
  for (const child of message.children) {
    if (typeof child === "string") continue;
    for (const [name, xmlns] of E2E_MARKERS) if (child.name === name && (child.attrs.xmlns ?? message.attrs.xmlns) === xmlns) return true;
  }
  return false;
}

/** Whether a stanza is a call proposal that an encrypted push turns into `type='voip'`. */
export function isCall(stanza: XmlNode | null): boolean {
  if (stanza === null || stanza.name !== "message" || stanza.attrs.type === "error") return false;
  return proposeOf(unwrapCarbon(stanza).message) !== undefined;
}

/** `text` cut to at most `maxBytes` bytes of UTF-8, never inside a character. */
export function cutUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text; // fast path: cannot exceed
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += ch.length;
  }
  return end === text.length ? text : text.slice(0, end);
}

/** The bare form of a JID as sent (lower-cased when it parses), or null. */
export function bareOf(jid: string | undefined): string | null {
  if (jid === undefined) return null;
  const parsed = parseJid(jid);
  return parsed === null ? null : bareKey(parsed);
}

/**
 * Builds the payload of one push. `stanza` null (a ping, a recovery without a copy) gives only
 * `unread`. `preview` false (E1.5) leaves out `sender`, `message` and `nickname`.
 */
export function payloadOf(stanza: XmlNode | null, unread: number, preview: boolean): PushPayload {
  const payload: PushPayload = { unread };
  if (stanza === null) return payload;
  const message = stanza.name === "message" ? unwrapCarbon(stanza).message : stanza;
  const from = message.attrs.from;
  const propose = stanza.name === "message" && message.attrs.type !== "error" ? proposeOf(message) : undefined;
  if (preview) {
    const sender = propose !== undefined ? from : bareOf(from); // a call: the full JID (the device that rings)
    if (sender !== null && sender !== undefined) payload.sender = sender;
    if (stanza.name === "message") {
      const body = getChild(message, "body");
      if (isEndToEndEncrypted(message)) payload.message = ENCRYPTED_MESSAGE_TEXT;
      else if (body !== undefined) payload.message = cutUtf8(textOf(body), MAX_PREVIEW_BYTES);
    }
  }
  if (stanza.name === "message") {
    const type = message.attrs.type;
    if (type === "groupchat") {
      payload.type = "groupchat";
      const nick = from === undefined ? null : resourceOf(from);
      if (preview && nick !== null) payload.nickname = nick;
    } else if (propose !== undefined) {
      payload.type = "call";
      if (propose.attrs.id !== undefined) payload.sid = propose.attrs.id;
      payload.media = mediaOf(propose);
    } else if (type !== "error") payload.type = "chat";
  } else if (stanza.name === "presence" && stanza.attrs.type === "subscribe") payload.type = "subscribe";
  return payload;
}

/** The distinct `media` of the proposal's RTP descriptions, in order. */
function mediaOf(propose: XmlNode): string[] {
  const media: string[] = [];
  for (const child of propose.children) {
    if (typeof child === "string" || child.name !== "description" || child.attrs.xmlns !== NS_RTP) continue;
    const m = child.attrs.media;
    if (m !== undefined && !media.includes(m)) media.push(m);
  }
  return media;
}

/** Characters of base64(ciphertext ‖ 16-byte tag) for a plaintext of `bytes` bytes. */
export function encodedLength(bytes: number): number {
  return 4 * Math.ceil((bytes + 16) / 3);
}

/**
 * E1.2: the payload's JSON, trimmed so that its encoded form fits `maxSize` characters (Tigase
 * `max-size`): the message is cut further (on a UTF-8 boundary); if even none does not fit,
 * `message`, then `nickname` and `sender` are left out. What still does not fit goes as it is
 * (a client asking for less than a bare payload gets the smallest one we can make).
 */
export function fitJson(payload: PushPayload, maxSize: number | null): string {
  let json = JSON.stringify(payload);
  if (maxSize === null) return json;
  let bytes = Buffer.byteLength(json);
  if (encodedLength(bytes) <= maxSize) return json;
  const budget = Math.floor(maxSize / 4) * 3 - 16; // most plaintext bytes that fit
  let trimmed: PushPayload = payload;
  while (trimmed.message !== undefined && trimmed.message !== "" && bytes > budget) {
    const messageBytes = Buffer.byteLength(trimmed.message);
    trimmed = { ...trimmed, message: cutUtf8(trimmed.message, Math.max(0, messageBytes - (bytes - budget))) };
    json = JSON.stringify(trimmed);
    bytes = Buffer.byteLength(json);
  }
  for (const drop of ["message", "nickname", "sender"] as const) {
    if (bytes <= budget) break;
    if (trimmed[drop] === undefined) continue;
    const { [drop]: _dropped, ...rest } = trimmed;
    trimmed = rest;
    json = JSON.stringify(trimmed);
    bytes = Buffer.byteLength(json);
  }
  return json;
}

/** Longest body text a queued stanza keeps for the extensions (characters). */
/** A body for a queued stanza: its text cut and copied as slim.ts keeps every queued body. */
export function keptBody(body: XmlNode): XmlNode {
  return { name: "body", attrs: {}, children: [keptText(textOf(body))] };
}

/**
 * What the encrypted payload reads of a queued stanza's child (B30 slimming): the body (for the
 * preview), end-to-end markers as empty elements (their content is never needed nor kept) and a
 * call proposal's id and media.
 */
export function keepForPayload(child: XmlNode, stanza: XmlNode, preview: boolean): XmlNode | null {
  if (child.name === "body") return preview ? keptBody(child) : null;
  const xmlns = child.attrs.xmlns ?? stanza.attrs.xmlns;
  if (xmlns === undefined) return null;
  if (child.name === "propose" && (xmlns === NS_JMI_0 || xmlns === NS_JMI_1)) {
    const descriptions: XmlNode[] = [];
    for (const d of child.children) {
      if (typeof d === "string" || d.name !== "description" || d.attrs.xmlns !== NS_RTP || d.attrs.media === undefined) continue;
      if (descriptions.length < 8) descriptions.push({ name: "description", attrs: { xmlns: NS_RTP, media: d.attrs.media }, children: [] });
    }
    const attrs: Record<string, string> = { xmlns };
    if (child.attrs.id !== undefined) attrs.id = child.attrs.id;
    return { name: "propose", attrs, children: descriptions };
  }
  for (const [name, ns] of E2E_MARKERS) if (child.name === name && xmlns === ns) return { name, attrs: { xmlns }, children: [] };
  return null;
}
