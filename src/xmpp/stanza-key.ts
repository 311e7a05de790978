/**
 * D8: a stable identity for one message across the offline, archive and session-queue paths,
 * so the core pushes it at most once per registration.
 *
 * - carbons (XEP-0280) are keyed by the forwarded inner message;
 * - `<origin-id xmlns='urn:xmpp:sid:0' id>` (XEP-0359) → `o:<bare from>:<id>`;
 * - else the `id` attribute → `i:<bare from>:<id>`;
 * - else a digest of a canonical serialisation → `d:<32 hex>`. The canonical form leaves out
 *   what the server adds or changes per path: top-level `<stanza-id>` and `<delay>` children
 *   (and legacy `jabber:x:delay`), the root's `xmlns`, whitespace-only text, and reduces `to`
 *   to its bare JID (the archived/offline copy is addressed to the bare JID, the smacks-queue
 *   copy to the full JID). Attributes are sorted.
 *
 * Bare JIDs are lower-cased (a cheap stand-in for nodeprep/nameprep, enough for equality here).
 * The serialiser is iterative, so a deeply nested (hostile) stanza cannot exhaust the stack.
 * @module
 */
import { unwrapCarbon } from "../core/importance.ts";
import type { XmlNode } from "../core/types.ts";
import { escapeAttr, escapeText } from "../core/xml.ts";
import { localName } from "./errors.ts";
import { NS_DELAY, NS_SID } from "./ns.ts";

const NS_LEGACY_DELAY = "jabber:x:delay";

/** The D8 identity of a stanza copy. Deterministic: the same input always gives the same key. */
export function stanzaKey(stanza: XmlNode): string {
  const message = carbonInner(stanza) ?? stanza;
  const from = bareJid(message.attrs.from ?? "");
  const originId = originIdOf(message);
  if (originId !== null) return `o:${from}:${originId}`;
  const id = message.attrs.id;
  if (typeof id === "string" && id.length > 0) return `i:${from}:${id}`;
  return `d:${digest(canonical(message))}`;
}

/** The bare form of a JID string, lower-cased (`a@B.example/r` → `a@b.example`). */
export function bareJid(jid: string): string {
  const slash = jid.indexOf("/");
  return (slash === -1 ? jid : jid.slice(0, slash)).toLowerCase();
}

/**
 * The message inside a carbon (`<received|sent xmlns=carbons:2><forwarded><message/>`), or null:
 * the core's own unwrapping (B19), so that importance and identity agree on what a carbon is.
 */
export function carbonInner(stanza: XmlNode): XmlNode | null {
  if (localName(stanza.name) !== "message") return null;
  const { message } = unwrapCarbon(stanza);
  return message === stanza ? null : message;
}

function originIdOf(message: XmlNode): string | null {
  for (const child of message.children) {
    if (typeof child === "string" || child.attrs.xmlns !== NS_SID || localName(child.name) !== "origin-id") continue;
    const id = child.attrs.id;
    if (typeof id === "string" && id.length > 0) return id;
  }
  return null;
}

/** True for the children a server adds to its stored or queued copies. */
function isServerAdded(child: XmlNode): boolean {
  const name = localName(child.name);
  const ns = child.attrs.xmlns;
  return (name === "stanza-id" && ns === NS_SID) || (name === "delay" && ns === NS_DELAY) || (name === "x" && ns === NS_LEGACY_DELAY);
}

/** The canonical text of a stanza for the digest (see the module comment). */
export function canonical(stanza: XmlNode): string {
  const attrs: Record<string, string | undefined> = { ...stanza.attrs };
  delete attrs.xmlns;
  if (typeof attrs.to === "string") attrs.to = bareJid(attrs.to);
  const children = stanza.children.filter((c) => (typeof c === "string" ? true : !isServerAdded(c)));
  return serializeIteratively({ name: localName(stanza.name), attrs, children });
}

function serializeIteratively(root: XmlNode): string {
  // The stack holds nodes still to open and strings that are already output text.
  const stack: Array<XmlNode | string> = [root];
  let out = "";
  while (stack.length > 0) {
    const item = stack.pop() as XmlNode | string;
    if (typeof item === "string") {
      out += item;
      continue;
    }
    const name = localName(item.name);
    out += `<${name}`;
    for (const key of Object.keys(item.attrs).sort()) {
      const value = item.attrs[key];
      if (value !== undefined && value !== null) out += ` ${key}="${escapeAttr(String(value))}"`;
    }
    out += ">";
    stack.push(`</${name}>`);
    for (let i = item.children.length - 1; i >= 0; i--) {
      const child = item.children[i];
      if (child === undefined) continue;
      if (typeof child === "string") {
        if (child.trim().length > 0) stack.push(escapeText(child));
      } else {
        stack.push(child);
      }
    }
  }
  return out;
}

function digest(text: string): string {
  return new Bun.CryptoHasher("sha256").update(text).digest("hex").slice(0, 32);
}
