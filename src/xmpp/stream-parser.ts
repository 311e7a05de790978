// Streaming XML parser for an XMPP stream (RFC 6120 §4): bytes in, depth-1 stanzas out.
// https://xmpp.org/rfcs/rfc6120.html#streams
//
// Built on ltx's SAX tokenizer (SaxLtx), which keeps the not-yet-terminated tail of its
// input in memory. To keep memory bounded with a hostile peer we never feed it more than
// `maxStanzaBytes` since the last stanza boundary: input is cut after every '>' (the only
// character on which SaxLtx emits start/end events), so after each piece we know exactly
// whether a stanza (or the stream header) ended, and the byte count restarts at 0 there.
// Whitespace between stanzas (keepalives) is dropped before it reaches SaxLtx, so a quiet
// peer that only pings never accumulates anything. SaxLtx recognises the end of a comment
// or processing instruction ("-->", "?>") by looking back at the previous characters of
// the same write, so up to two trailing '-', '?' or ']' of a chunk are held back and fed
// with the next one (the XML declaration split across TCP reads would otherwise hang).
//
// Bytes are decoded with a streaming TextDecoder: a multi-byte character split across
// chunks decodes whole, and invalid UTF-8 becomes U+FFFD instead of throwing. Each piece is
// decoded on its own (0x3E never occurs inside a multi-byte UTF-8 sequence), never sliced out
// of a decoded chunk: JSC substrings keep their whole parent string alive, so one retained
// attribute (a user name, a dedupe key) would otherwise pin the entire 64 KiB read it came
// from, and memory grew with everything the peer ever sent.
//
// Fast path: at a stanza boundary, a plain stanza that lies whole in the bytes just read is
// parsed straight from the bytes by plain-stanza.ts (the same tree SaxLtx would build, several
// times cheaper; the inbound parse was the daemon's largest cost under load). Anything it does
// not accept goes through SaxLtx as above.

import { Element } from "ltx";
import SaxLtx from "ltx/src/parsers/ltx.js";

import { parsePlainStanza } from "./plain-stanza.ts";

export type StreamParserEvent =
  | { type: "stream-start"; attrs: Record<string, string> }
  /** `refused`: the stanza nested deeper than `maxDepth`; `element` holds its first `maxDepth` levels. */
  | { type: "stanza"; element: Element; refused?: string }
  | { type: "stream-end" }
  | { type: "error"; condition: StreamParserErrorCondition; detail: string };

/** RFC 6120 §4.9.3 stream error conditions the parser can detect. */
export type StreamParserErrorCondition = "policy-violation" | "not-well-formed" | "restricted-xml" | "bad-format";

export interface StreamParserOptions {
  /** Most bytes a single stanza (and any junk before it) may take; default 1 MiB. */
  maxStanzaBytes?: number;
  /** Deepest element nesting inside a stanza (the stanza itself is 1); default 64. */
  maxDepth?: number;
  /** Parse plain stanzas with the fast path (plain-stanza.ts); default true. Tests compare both. */
  fastPath?: boolean;
}

export interface StreamParser {
  /** Feed raw bytes (or already-decoded text); returns the events they completed, in order. */
  write(chunk: Uint8Array | string): StreamParserEvent[];
  /** Bytes fed since the last stanza boundary (what the parser may be holding). */
  readonly pendingBytes: number;
  /** True after an error or the end of the stream: later input is ignored. */
  readonly closed: boolean;
}

export const DEFAULT_MAX_STANZA_BYTES = 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 64;
const STREAM_ROOT = "stream:stream";
const LEADING_WHITESPACE = /^[ \t\r\n]+/;
const LOOKBEHIND_TAIL = /[-?\]]{1,2}$/;
const GT = 0x3e;
const CDATA_OPEN = "<![CDATA[";
const XML_DECLARATION_HEAD = "<?xml ";
const XML_DECLARATION = /^<\?xml[ \t\r\n]/;
const encoder = new TextEncoder();

export function createStreamParser(options: StreamParserOptions = {}): StreamParser {
  const { maxStanzaBytes = DEFAULT_MAX_STANZA_BYTES, maxDepth = DEFAULT_MAX_DEPTH, fastPath = true } = options;
  const limits = { maxStanzaBytes, maxDepth };
  const decoder = new TextDecoder("utf-8");
  const sax = new SaxLtx();
  let events: StreamParserEvent[] = [];
  let inStream = false;
  let current: Element | null = null; // innermost open element of the stanza being built
  let depth = 0; // nesting inside the current stanza
  const skipped: string[] = []; // names of open elements nested deeper than maxDepth (not built)
  let refused: string | undefined; // why the stanza being built is refused (nesting too deep)
  let recent = ""; // the last characters fed to SaxLtx, scanned again with the next piece (restricted())
  let boundary = false; // a stanza or the stream header ended in the piece just fed
  let betweenStanzas = true; // SaxLtx is in text state right after a boundary
  let pendingBytes = 0;
  let closed = false;
  let carry = ""; // held-back tail, see the file comment
  let decoderClean = true; // the decoder holds no partial character (its last input ended in '>')

  function fail(condition: StreamParserErrorCondition, detail: string): void {
    if (closed) return;
    closed = true;
    current = null;
    events.push({ type: "error", condition, detail });
  }

  sax.on("startElement", function onStart(name, attrs) {
    if (closed) return;
    if (!inStream) {
      if (name !== STREAM_ROOT) return fail("not-well-formed", `root element is <${name}>`);
      inStream = true;
      boundary = true;
      events.push({ type: "stream-start", attrs: { ...attrs } });
      return;
    }
    if (
      current === null &&
      (name === STREAM_ROOT || (name.startsWith("stream:") && name !== "stream:error" && name !== "stream:features"))
    ) {
      // A second stream header (or another stream-level element) where a stanza belongs would
      // swallow everything up to the server's own stream close.
      return fail("bad-format", `<${name}> inside the stream`);
    }
    if (depth + 1 > maxDepth || skipped.length > 0) {
      // Too deep for us, yet well-formed XML: one stanza, not a stream fault. Its first levels are
      // kept (a bridge event's epoch and seq are at level 2) so the receiver can acknowledge and
      // drop it; deeper elements are only counted. Bytes stay bounded by maxStanzaBytes.
      refused ??= `stanza nesting exceeds ${maxDepth}`;
      skipped.push(name);
      return;
    }
    const element = new Element(name, attrs);
    current = current === null ? element : current.cnode(element);
    depth += 1;
  });

  sax.on("endElement", function onEnd(name) {
    if (closed) return;
    if (skipped.length > 0) {
      const open = skipped.pop();
      if (name !== open) return fail("not-well-formed", `</${name}> closes <${open}>`);
      return;
    }
    if (current === null) {
      if (inStream && name === STREAM_ROOT) {
        closed = true;
        events.push({ type: "stream-end" });
        return;
      }
      return fail("not-well-formed", `unexpected </${name}>`);
    }
    if (name !== current.name) return fail("not-well-formed", `</${name}> closes <${current.name}>`);
    depth -= 1;
    if (depth === 0) {
      events.push(refused === undefined ? { type: "stanza", element: current } : { type: "stanza", element: current, refused });
      current = null;
      refused = undefined;
      boundary = true;
    } else {
      current = current.parent ?? null;
    }
  });

  sax.on("text", function onText(text) {
    // Character data at depth 1 is not allowed (RFC 6120 §11.7) and is ignored here; it still
    // counts toward the byte limit, so it cannot grow without bound.
    if (!closed && current !== null && skipped.length === 0) current.t(text);
  });

  // RFC 6120 §11.1: no comments, processing instructions, DTDs or entity declarations in a stream
  // (the XML declaration before the stream header is the one allowed "<?"). SaxLtx would read
  // "<!DOCTYPE" as the start of a comment and swallow every later stanza. Markup may be cut by the
  // end of a read, so the last characters fed are scanned again with the next piece: a construct
  // not yet decidable is decided then.
  function restricted(text: string): string | null {
    const window = recent + text;
    for (let at = window.indexOf("<!"); at !== -1; at = window.indexOf("<!", at + 2)) {
      if (!CDATA_OPEN.startsWith(window.slice(at, at + CDATA_OPEN.length))) return "comment, DTD or declaration";
    }
    for (let at = window.indexOf("<?"); at !== -1; at = window.indexOf("<?", at + 2)) {
      const head = window.slice(at, at + XML_DECLARATION_HEAD.length);
      const declaration =
        !inStream && (head.length < XML_DECLARATION_HEAD.length ? "<?xml".startsWith(head.slice(0, 5)) : XML_DECLARATION.test(head));
      if (!declaration) return "processing instruction";
    }
    recent = window.slice(-CDATA_OPEN.length);
    return null;
  }

  function feed(piece: string): void {
    let text = piece;
    if (betweenStanzas) {
      text = text.replace(LEADING_WHITESPACE, "");
      if (text === "") return;
      betweenStanzas = false;
    }
    const bytes = Buffer.byteLength(text, "utf8");
    if (pendingBytes + bytes > maxStanzaBytes) {
      return fail("policy-violation", `stanza exceeds ${maxStanzaBytes} bytes`);
    }
    pendingBytes += bytes;
    boundary = false;
    const why = restricted(text);
    if (why !== null) return fail("restricted-xml", `${why} in the stream`);
    try {
      sax.write(text);
    } catch {
      // ltx's entity decoder throws on illegal entities and character references; its
      // message quotes the input, which must not reach a log line (D17).
      return fail("not-well-formed", "illegal entity or character reference");
    }
    if (boundary && !closed) {
      pendingBytes = 0;
      betweenStanzas = true;
    }
  }

  function write(chunk: Uint8Array | string): StreamParserEvent[] {
    if (closed) return [];
    events = [];
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    let start = 0;
    const buf = fastPath ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : null;
    while (!closed) {
      if (buf !== null && inStream && betweenStanzas && decoderClean && carry === "") {
        const plain = parsePlainStanza(buf, start, limits);
        if (plain !== null) {
          events.push({ type: "stanza", element: plain.element });
          start = plain.end;
          continue;
        }
      }
      const gt = bytes.indexOf(GT, start);
      if (gt === -1) break;
      const piece = carry + decoder.decode(bytes.subarray(start, gt + 1), { stream: true });
      carry = "";
      decoderClean = true;
      feed(piece);
      start = gt + 1;
    }
    if (!closed && start < bytes.length) {
      decoderClean = false;
      const tail = carry + decoder.decode(bytes.subarray(start), { stream: true });
      carry = LOOKBEHIND_TAIL.exec(tail.slice(-2))?.[0] ?? "";
      if (tail.length > carry.length) feed(tail.slice(0, tail.length - carry.length));
    }
    return events;
  }

  return {
    write,
    get pendingBytes() {
      return pendingBytes;
    },
    get closed() {
      return closed;
    },
  };
}
