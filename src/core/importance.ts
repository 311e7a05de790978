/**
 * Importance classification (B18–B23, changed by D7): decides the placeholder body and
 * whether a push counts as "important" (wakes the user).
 * @module
 */
import type { XmlNode } from "./types.ts";
import { getChild, textOf } from "./xml.ts";

export const NS_CARBONS = "urn:xmpp:carbons:2";
export const NS_FORWARD = "urn:xmpp:forward:0";

/** End-to-end encryption markers that make a message important (B21 + D7), as `name xmlns` pairs; E1's payload names them too. */
export const ENCRYPTION_MARKERS: ReadonlyArray<readonly [name: string, xmlns: string]> = [
  ["encrypted", "eu.siacs.conversations.axolotl"],
  ["encrypted", "urn:xmpp:omemo:0"],
  ["encrypted", "urn:xmpp:omemo:1"],
  ["encrypted", "urn:xmpp:omemo:2"],
  ["x", "jabber:x:encrypted"],
  ["openpgp", "urn:xmpp:openpgp:0"],
  ["encryption", "urn:xmpp:eme:0"],
];

/** XEP-0353 Jingle Message Initiation, both versions in use. */
export const NS_JMI_0 = "urn:xmpp:jingle-message:0";
export const NS_JMI_1 = "urn:xmpp:jingle-message:1";

/** Children that make a message important (B21 + D7): the encryption markers and call proposals. */
const IMPORTANT_MARKERS: ReadonlyArray<readonly [name: string, xmlns: string]> = [
  ...ENCRYPTION_MARKERS,
  ["propose", NS_JMI_0],
  ["propose", NS_JMI_1],
];

/** A carbon unwrapped (B19): the inner message and whether the wrapper was `sent`. */
export interface Unwrapped {
  message: XmlNode;
  sent: boolean;
}

/** Unwraps a XEP-0280 carbon; a message without a (complete) carbon is returned as is. */
export function unwrapCarbon(stanza: XmlNode): Unwrapped {
  for (const child of stanza.children) {
    if (typeof child === "string" || child.attrs.xmlns !== NS_CARBONS) continue;
    if (child.name !== "sent" && child.name !== "received") continue;
    const forwarded = getChild(child, "forwarded", NS_FORWARD);
    const inner = forwarded === undefined ? undefined : getChild(forwarded, "message");
    if (inner === undefined) continue;
    const innerNs = inner.attrs.xmlns;
    if (innerNs !== undefined && innerNs !== "jabber:client") continue;
    return { message: inner, sent: child.name === "sent" };
  }
  return { message: stanza, sent: false };
}

/** True iff the message carries one of the encryption or call markers of B21/D7. */
export function hasImportantMarker(message: XmlNode): boolean {
  for (const child of message.children) {
    if (typeof child === "string") continue;
    for (const [name, xmlns] of IMPORTANT_MARKERS) {
      if (child.name === name && child.attrs.xmlns === xmlns) return true;
    }
  }
  return false;
}

/** The JMI `<propose>` of a message (jingle-message :0 or :1), if any. */
export function proposeOf(message: XmlNode): XmlNode | undefined {
  return getChild(message, "propose", NS_JMI_0) ?? getChild(message, "propose", NS_JMI_1);
}

/** True iff the message proposes a call (XEP-0353, jingle-message:0 and :1). Used by B36. */
export function isCallPropose(stanza: XmlNode): boolean {
  return proposeOf(stanza) !== undefined;
}

/** B18–B23 with D7: whether a stanza deserves an important push. */
export function isImportant(stanza: XmlNode | null): boolean {
  if (stanza === null || stanza.name !== "message") return false; // B18
  const { message, sent } = unwrapCarbon(stanza); // B19
  if (sent) return false;
  const type = message.attrs.type;
  if (type === "headline") return false; // B20
  if (type === "error") return false; // D7 (B23 quirk fixed)
  if (hasImportantMarker(message)) return true; // B21, D7
  if (type === "groupchat" && getChild(message, "subject") !== undefined) return false; // B22
  const body = getChild(message, "body");
  return body !== undefined && textOf(body) !== ""; // B23
}
