/**
 * RFC 6120 §8.3 stanza errors: build an `<error>` element, read one back.
 * https://www.rfc-editor.org/rfc/rfc6120#section-8.3
 * @module
 */
import { Element } from "ltx";

import type { StanzaError } from "../core/enable.ts";
import type { XmlNode } from "../core/types.ts";
import { NS_STANZAS } from "./ns.ts";

/** A stanza error as read from the wire (the core's StanzaError): the text is null when absent. */
export type ReadStanzaError = Omit<StanzaError, "text"> & { text: string | null };

/** Used when a peer sends an `<error>` without a `type` attribute (RFC 6120 says it MUST have one). */
export const FALLBACK_ERROR_TYPE = "cancel";
/** Used when a peer sends an `<error>` without a defined condition element. */
export const FALLBACK_CONDITION = "undefined-condition";

/**
 * `<error type='…'><condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>[<text xmlns=…>…</text>]</error>`.
 * The `error` element itself carries no xmlns: it inherits the stanza's namespace.
 */
export function buildErrorElement(type: string, condition: string, text?: string | null): Element {
  const error = new Element("error", { type });
  error.c(condition, { xmlns: NS_STANZAS });
  if (text !== undefined && text !== null) error.c("text", { xmlns: NS_STANZAS }).t(text);
  return error;
}

/**
 * Reads the `<error>` child of a stanza (or `node` itself when it is the `<error>` element).
 * Keeps type, condition and text exactly as sent; a missing type or condition falls back to
 * `cancel` / `undefined-condition`. Returns null when there is no `<error>` at all.
 */
export function readStanzaError(node: XmlNode): ReadStanzaError | null {
  const error = localName(node.name) === "error" ? node : findChild(node, "error");
  if (error === null) return null;
  const type = error.attrs.type;
  let condition: string | null = null;
  let text: string | null = null;
  for (const child of error.children) {
    if (typeof child === "string" || child.attrs.xmlns !== NS_STANZAS) continue;
    const name = localName(child.name);
    if (name === "text") {
      if (text === null) text = textOf(child);
    } else if (condition === null) {
      condition = name;
    }
  }
  return {
    type: typeof type === "string" && type.length > 0 ? type : FALLBACK_ERROR_TYPE,
    condition: condition ?? FALLBACK_CONDITION,
    text,
  };
}

function findChild(node: XmlNode, name: string): XmlNode | null {
  for (const child of node.children) {
    if (typeof child !== "string" && localName(child.name) === name) return child;
  }
  return null;
}

function textOf(node: XmlNode): string {
  let text = "";
  for (const child of node.children) if (typeof child === "string") text += child;
  return text;
}

/** Element name without a namespace prefix. */
export function localName(name: string): string {
  const colon = name.indexOf(":");
  return colon === -1 ? name : name.slice(colon + 1);
}
