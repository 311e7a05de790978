// Fast path of the stream parser (stream-parser.ts) for the common case: one complete, plain
// stanza lying whole in the bytes just read, such as every event the bridge sends.
//
// "Plain" is a strict subset of what the full parser (ltx's SaxLtx) accepts: start tags with
// quoted attributes, end tags, self-closing tags and text; names of ASCII letters, digits and
// `-_.:`. For that subset SaxLtx builds exactly the same tree (same names, attributes
// unescaped with the same function, the same non-empty text nodes), so the fast path is only
// quicker, never different. Anything else — a comment, CDATA, a processing instruction, an
// unusual byte in a name, an unquoted attribute, a mismatched end tag, a bad entity, a stanza
// cut by the end of the read, over the size or depth limit — returns null, and the caller
// feeds the same bytes to the full parser, which accepts or rejects them as it always did.
//
// Every string is made from its own bytes (never sliced out of a larger decoded string), so a
// retained attribute value keeps only itself alive (see the memory note in stream-parser.ts).
// Delimiters are ASCII and never occur inside a multi-byte UTF-8 sequence, so decoding each
// range alone gives the same characters (U+FFFD for invalid bytes) as the streaming decoder.

import { Element, unescapeXML } from "ltx";

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const EQ = 0x3d;
const SQUOTE = 0x27;
const DQUOTE = 0x22;
const AMP = 0x26;

/** Bytes allowed in element and attribute names on the fast path: [A-Za-z0-9._:-]. */
const NAME_BYTE = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  const c = String.fromCharCode(b);
  NAME_BYTE[b] = /[A-Za-z0-9._:-]/.test(c) ? 1 : 0;
}

// ignoreBOM: a U+FEFF at the start of a value is data here (the stream decoder strips only the stream's first).
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Element and attribute names come from a small set: a direct-mapped cache, keyed by a hash of
 * the bytes and checked byte for byte, hands out one shared string for each instead of making
 * a new one. Fixed size, so hostile input cannot grow it (a colliding newcomer just replaces
 * the slot). Caching attribute values too was measured slower (hashing every byte).
 */
const CACHE_SLOTS = 1024; // a power of two
const CACHE_MAX_LENGTH = 64;
const cache: (string | undefined)[] = new Array(CACHE_SLOTS);

/** Node's Buffer#latin1Slice (also in Bun): a fresh string from bytes, cheaper than toString("latin1"). */
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

export interface PlainStanza {
  element: Element;
  /** Index just after the stanza's closing '>'. */
  end: number;
}

export interface PlainStanzaLimits {
  maxStanzaBytes: number;
  maxDepth: number;
}

function isSpace(b: number | undefined): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/**
 * Parses the stanza that starts at `start` (after optional whitespace) if it is plain and
 * complete within `bytes`; null otherwise (the caller then uses the full parser).
 */
export function parsePlainStanza(bytes: Buffer, start: number, limits: PlainStanzaLimits): PlainStanza | null {
  let pos = start;
  while (isSpace(bytes[pos])) pos++;
  if (bytes[pos] !== LT) return null;
  const limit = Math.min(bytes.length, pos + limits.maxStanzaBytes);
  const buf = bytes as Latin1Buffer;
  let current: Element | null = null;
  let depth = 0;
  try {
    // Invariant at the top of the loop: bytes[pos] is the '<' of a tag.
    for (;;) {
      if (bytes[pos + 1] === SLASH) {
        // End tag: </name S?>
        const nameStart = pos + 2;
        let p = nameStart;
        while (p < limit && NAME_BYTE[bytes[p]!] === 1) p++;
        if (p === nameStart || current === null || !nameIs(buf, nameStart, p, current.name)) return null;
        while (p < limit && isSpace(bytes[p])) p++;
        if (p >= limit || bytes[p] !== GT) return null;
        pos = p + 1;
        depth--;
        if (depth === 0) return { element: current, end: pos };
        current = current.parent;
      } else {
        // Start tag: <name (S? name S? = S? quoted)* S? (/>|>)
        const nameStart = pos + 1;
        let p = nameStart;
        while (p < limit && NAME_BYTE[bytes[p]!] === 1) p++;
        if (p === nameStart) return null; // '<!', '<?', '< ' …: not plain
        const name = nameAt(buf, nameStart, p);
        // Attributes go straight into the element's own object (SaxLtx fills a fresh object
        // that the Element constructor then copies: same keys, same order, one object less).
        const element = new Element(name);
        const attrs = element.attrs as Record<string, string>;
        let selfClosing = false;
        for (;;) {
          while (p < limit && isSpace(bytes[p])) p++;
          if (p >= limit) return null;
          const b = bytes[p];
          if (b === GT) {
            p++;
            break;
          }
          if (b === SLASH) {
            if (bytes[p + 1] !== GT || p + 1 >= limit) return null;
            selfClosing = true;
            p += 2;
            break;
          }
          const attrStart = p;
          while (p < limit && NAME_BYTE[bytes[p]!] === 1) p++;
          if (p === attrStart) return null;
          const attrName = nameAt(buf, attrStart, p);
          while (p < limit && isSpace(bytes[p])) p++;
          if (bytes[p] !== EQ) return null;
          p++;
          while (p < limit && isSpace(bytes[p])) p++;
          const quote = bytes[p];
          if (quote !== SQUOTE && quote !== DQUOTE) return null;
          const valueEnd = bytes.indexOf(quote, p + 1);
          if (valueEnd === -1 || valueEnd >= limit) return null;
          attrs[attrName] = text(buf, p + 1, valueEnd);
          p = valueEnd + 1;
        }
        if (depth + 1 > limits.maxDepth) return null;
        if (current !== null) current.cnode(element);
        pos = p;
        if (!selfClosing) {
          current = element;
          depth++;
        } else if (current === null) {
          return { element, end: pos };
        }
      }
      // Character data up to the next tag.
      const lt = bytes.indexOf(LT, pos);
      if (lt === -1 || lt >= limit) return null;
      if (lt > pos) current!.t(text(buf, pos, lt));
      pos = lt;
    }
  } catch {
    return null; // an illegal entity or character reference: the full parser reports it
  }
}

/**
 * The unescaped text of bytes [from, to) (an attribute value or character data): decoded as
 * latin1 when all ASCII (the common case, cheaper), else as UTF-8; unescaped with ltx's own
 * function (which throws on an illegal entity) only when there is an '&' at all.
 */
function text(buf: Latin1Buffer, from: number, to: number): string {
  let ascii = true;
  let amp = false;
  for (let i = from; i < to; i++) {
    const b = buf[i]!;
    if (b >= 0x80) ascii = false;
    else if (b === AMP) amp = true;
  }
  const raw = ascii ? buf.latin1Slice(from, to) : utf8.decode(buf.subarray(from, to));
  return amp ? unescapeXML(raw) : raw;
}

/** The name spelled by bytes [from, to) (ASCII name bytes only), through `cache` when short. */
function nameAt(buf: Latin1Buffer, from: number, to: number): string {
  if (to - from > CACHE_MAX_LENGTH) return buf.latin1Slice(from, to);
  let hash = to - from;
  for (let i = from; i < to; i++) hash = (Math.imul(hash, 31) + buf[i]!) | 0;
  const slot = hash & (CACHE_SLOTS - 1);
  const known = cache[slot];
  if (known !== undefined && nameIs(buf, from, to, known)) return known;
  const made = buf.latin1Slice(from, to);
  cache[slot] = made;
  return made;
}

/** Whether bytes [from, to) spell the ASCII string `name`. */
function nameIs(buf: Buffer, from: number, to: number, name: string): boolean {
  if (to - from !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (buf[from + i] !== name.charCodeAt(i)) return false;
  return true;
}
