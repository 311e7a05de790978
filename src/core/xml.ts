/**
 * Tiny pure helpers over `XmlNode`: child lookup, text, and a serialiser with proper escaping.
 * Namespaces are read from the `xmlns` attribute of each element (prefixes are not resolved).
 * @module
 */
import type { XmlNode } from "./types.ts";

/** The first child element named `name` whose namespace (own or inherited from `node`) is `xmlns`. */
export function getChild(node: XmlNode, name: string, xmlns?: string): XmlNode | undefined {
  const parentNs = node.attrs.xmlns;
  for (const child of node.children) {
    if (typeof child === "string" || child.name !== name) continue;
    if (xmlns === undefined || (child.attrs.xmlns ?? parentNs) === xmlns) return child;
  }
  return undefined;
}

/** Concatenated direct text of an element. */
export function textOf(node: XmlNode): string {
  let text = "";
  for (const child of node.children) if (typeof child === "string") text += child;
  return text;
}

/** Text of the first child `name` (any namespace unless given), or null if there is no such child. */
export function childText(node: XmlNode, name: string, xmlns?: string): string | null {
  const child = getChild(node, name, xmlns);
  return child === undefined ? null : textOf(child);
}

/** Escapes text content. */
export function escapeText(text: string): string {
  return text.replace(/[&<>]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : "&gt;"));
}

/** Escapes an attribute value (for double quotes). */
export function escapeAttr(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ATTR_ESCAPES[c] ?? c);
}

const ATTR_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

/** Serialises an element tree to XML text (attributes with `undefined` values are left out). */
export function serialize(node: XmlNode): string {
  let out = `<${node.name}`;
  for (const [key, value] of Object.entries(node.attrs)) {
    if (value !== undefined) out += ` ${key}="${escapeAttr(String(value))}"`;
  }
  if (node.children.length === 0) return `${out}/>`;
  out += ">";
  for (const child of node.children) out += typeof child === "string" ? escapeText(child) : serialize(child);
  return `${out}</${node.name}>`;
}

/** UTF-8 byte length of a string, without allocating. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
