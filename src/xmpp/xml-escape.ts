/**
 * XML 1.0 output escaping and tree serialisation for everything the daemon writes.
 *
 * ltx's own `escapeXML` leaves TAB, LF and CR raw inside attribute values, and the receiving
 * parser's attribute-value normalisation (XML 1.0 §3.3.3) turns them into spaces: the app service
 * would read node `a\tb\nc` as `a b c`. ltx also leaves CR raw in text, which end-of-line handling
 * (§2.11) turns into LF. Here:
 * - attribute values: `& < > " '` as entities, TAB/LF/CR as `&#9;` `&#10;` `&#13;`;
 * - text: `& < >` as entities (`>` so `]]>` can never appear), CR as `&#13;`; TAB and LF stay raw;
 * - characters XML 1.0 cannot carry at all (C0 controls other than TAB/LF/CR, U+FFFE, U+FFFF,
 *   lone surrogates) are written as U+FFFD (docs/behaviour.md, "XML output escaping").
 * Values that need none of this (the common case) are returned as they are after one regex test
 * (no per-character work in JS).
 * @module
 */
import { Element } from "ltx";

// The `*_NEEDS` tests run on every value: without the `u` flag (measured ~1.7× faster in Bun), so
// they also match a valid surrogate pair (an emoji); the `u`-flag replace then leaves the pair as it is.
const ATTR_NEEDS = /[\0-\x1f"&'<>\ufffe\uffff\ud800-\udfff]/;
const ATTR_ESCAPE = /[\0-\x1f"&'<>\ufffe\uffff\ud800-\udfff]/gu;
const TEXT_NEEDS = /[\0-\x08\x0b-\x1f&<>\ufffe\uffff\ud800-\udfff]/;
const TEXT_ESCAPE = /[\0-\x08\x0b-\x1f&<>\ufffe\uffff\ud800-\udfff]/gu;

/** Written for a character XML cannot carry. */
export const REPLACEMENT = "\ufffd";

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  "\t": "&#9;",
  "\n": "&#10;",
  "\r": "&#13;",
};

function entity(c: string): string {
  return ENTITIES[c] ?? REPLACEMENT;
}

/** An attribute value, escaped for either quote character. */
export function escapeAttr(value: string): string {
  return ATTR_NEEDS.test(value) ? value.replace(ATTR_ESCAPE, entity) : value;
}

/** Character data (element text), escaped. */
export function escapeText(text: string): string {
  return TEXT_NEEDS.test(text) ? text.replace(TEXT_ESCAPE, entity) : text;
}

/** The structural shape shared by ltx `Element` and the core's `XmlNode`. */
export interface XmlLike {
  name: string;
  attrs: Record<string, unknown>;
  children: readonly unknown[];
}

/**
 * An element tree as XML text, with the escaping above. Same layout as ltx's `toString()`
 * (double-quoted attributes in insertion order, `null`/`undefined` attributes left out,
 * `<x/>` for an element without children), so only the escaping differs.
 */
export function xmlOf(el: XmlLike): string {
  let out = `<${el.name}`;
  for (const key in el.attrs) {
    const v = el.attrs[key];
    if (v !== null && v !== undefined) out += ` ${key}="${escapeAttr(typeof v === "string" ? v : String(v))}"`;
  }
  if (el.children.length === 0) return `${out}/>`;
  out += ">";
  for (const child of el.children) {
    if (child === null || child === undefined) continue;
    if (typeof child === "string") out += escapeText(child);
    else if (typeof child === "object" && "name" in child && "children" in child) out += xmlOf(child as XmlLike);
    else out += escapeText(String(child));
  }
  return `${out}</${el.name}>`;
}

/**
 * An ltx element whose `toString()` (and `write()`, used when it is nested in another ltx element)
 * goes through `xmlOf` for its whole subtree. The renderers build every root element they return
 * with it, so the component's `stanza.toString()` writes correct XML; the children can be plain
 * ltx elements (`.c()`, parsed forms, error elements).
 */
export class SafeElement extends Element {
  override write(writer: (part: string) => void): void {
    writer(xmlOf(this));
  }

  override toString(): string {
    return xmlOf(this);
  }
}
