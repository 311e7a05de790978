import { describe, expect, test } from "bun:test";

import type { Element } from "ltx";

import { createStreamParser, type StreamParserEvent, type StreamParserOptions } from "../../src/xmpp/stream-parser.ts";
import { attrs, createRng, esc } from "../fuzz/fuzz-lib.ts";

const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " +
  "xmlns:stream='http://etherx.jabber.org/streams' from='push.example.com' id='abc123'>";
const MESSAGE = "<message to='a@b' id='m1'><body>héllo 😀 &amp; &lt;you&gt;</body><x xmlns='y'/></message>";
const IQ = "<iq type='get' id='i1' from='example.com'><ping xmlns='urn:xmpp:ping'/></iq>";

function feedAll(chunks: (Uint8Array | string)[], options: StreamParserOptions = {}): StreamParserEvent[] {
  const parser = createStreamParser(options);
  return chunks.flatMap((chunk) => parser.write(chunk));
}

function stanzas(events: StreamParserEvent[]): string[] {
  return events.flatMap((e) => (e.type === "stanza" ? [e.element.toString()] : []));
}

function splitBytes(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(bytes.subarray(start, cut));
    start = cut;
  }
  return out;
}

describe("createStreamParser", () => {
  test("write() emits stream-start with the header attributes, then each depth-1 stanza", () => {
    const events = feedAll([HEADER + MESSAGE + IQ]);
    expect(events[0]).toEqual({
      type: "stream-start",
      attrs: {
        xmlns: "jabber:component:accept",
        "xmlns:stream": "http://etherx.jabber.org/streams",
        from: "push.example.com",
        id: "abc123",
      },
    });
    expect(events.length).toBe(3);
    const message = events[1];
    if (message?.type !== "stanza") throw new Error("expected a stanza");
    expect(message.element.name).toBe("message");
    expect(message.element.getChildText("body")).toBe("héllo 😀 & <you>");
    expect(message.element.getChild("x", "y")).toBeDefined();
    expect(stanzas(events)[1]).toBe(IQ.replace("'urn:xmpp:ping'", '"urn:xmpp:ping"').replaceAll("'", '"'));
  });

  test("write() delivers stanzas whole when fed one byte at a time (splits inside UTF-8 characters)", () => {
    const bytes = new TextEncoder().encode(HEADER + MESSAGE + IQ + MESSAGE);
    const oneByOne = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
    const expected = stanzas(feedAll([HEADER + MESSAGE + IQ + MESSAGE]));
    expect(expected.length).toBe(3);
    expect(stanzas(feedAll(oneByOne))).toEqual(expected);
  });

  test("write() delivers stanzas whole for every two-way split of the input", () => {
    const bytes = new TextEncoder().encode(HEADER + MESSAGE + IQ);
    const expected = stanzas(feedAll([bytes]));
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(stanzas(feedAll(splitBytes(bytes, [cut])))).toEqual(expected);
    }
  });

  test("write() handles CDATA and the XML declaration split at every byte", () => {
    const input = `${HEADER}<message><body><![CDATA[a <b> ]] & c]]></body></message>`;
    const bytes = new TextEncoder().encode(input);
    for (let cut = 1; cut < bytes.length; cut++) {
      const events = feedAll(splitBytes(bytes, [cut]));
      const stanza = events.find((e) => e.type === "stanza");
      if (stanza?.type !== "stanza") throw new Error(`no stanza when cut at ${cut}`);
      expect(stanza.element.getChildText("body")).toBe("a <b> ]] & c");
    }
  });

  test("write() decodes a 4-byte character split across three chunks", () => {
    const bytes = new TextEncoder().encode(`${HEADER}<message><body>😀</body></message>`);
    const emoji = bytes.indexOf(0xf0);
    const events = feedAll(splitBytes(bytes, [emoji + 1, emoji + 3]));
    const stanza = events.find((e) => e.type === "stanza");
    if (stanza?.type !== "stanza") throw new Error("expected a stanza");
    expect(stanza.element.getChildText("body")).toBe("😀");
  });

  test("write() replaces invalid UTF-8 with U+FFFD instead of throwing", () => {
    const head = new TextEncoder().encode(`${HEADER}<message><body>a`);
    const tail = new TextEncoder().encode("b</body></message>");
    const events = feedAll([head, new Uint8Array([0xff, 0xc3]), tail]);
    const stanza = events.find((e) => e.type === "stanza");
    if (stanza?.type !== "stanza") throw new Error("expected a stanza");
    expect(stanza.element.getChildText("body")).toBe("a\uFFFD\uFFFDb");
  });

  test("write() ignores whitespace keepalives between stanzas without holding them", () => {
    const parser = createStreamParser({ maxStanzaBytes: 200 });
    expect(parser.write(HEADER)).toHaveLength(1);
    for (let i = 0; i < 1000; i++) expect(parser.write(" \n")).toEqual([]);
    expect(parser.pendingBytes).toBe(0);
    expect(stanzas(parser.write(IQ))).toHaveLength(1);
    expect(parser.closed).toBe(false);
  });

  test("write() accepts a stanza of exactly maxStanzaBytes and rejects one byte more", () => {
    const shortHeader = "<stream:stream id='s'>";
    const exact = createStreamParser({ maxStanzaBytes: Buffer.byteLength(MESSAGE) });
    expect(exact.write(shortHeader)).toHaveLength(1);
    expect(stanzas(exact.write(MESSAGE))).toHaveLength(1);
    const tooSmall = createStreamParser({ maxStanzaBytes: Buffer.byteLength(MESSAGE) - 1 });
    expect(tooSmall.write(shortHeader)).toHaveLength(1);
    expect(tooSmall.write(MESSAGE)).toEqual([
      { type: "error", condition: "policy-violation", detail: `stanza exceeds ${Buffer.byteLength(MESSAGE) - 1} bytes` },
    ]);
    expect(tooSmall.closed).toBe(true);
  });

  test("write() keeps pending bytes bounded by the limit while an endless stanza streams in", () => {
    const parser = createStreamParser({ maxStanzaBytes: 64 * 1024 });
    parser.write(HEADER);
    parser.write("<message><body>");
    const junk = "x".repeat(4096);
    let error: StreamParserEvent | undefined;
    let writes = 0;
    while (error === undefined && writes < 10_000) {
      writes += 1;
      error = parser.write(junk).find((e) => e.type === "error");
      expect(parser.pendingBytes).toBeLessThanOrEqual(64 * 1024);
    }
    expect(error).toEqual({ type: "error", condition: "policy-violation", detail: "stanza exceeds 65536 bytes" });
    expect(writes).toBeLessThan(20);
    expect(parser.write(junk)).toEqual([]);
  });

  test("write() counts the limit per stanza, not per connection", () => {
    const parser = createStreamParser({ maxStanzaBytes: 200 });
    expect(parser.write(HEADER)).toHaveLength(1);
    for (let i = 0; i < 100; i++) expect(stanzas(parser.write(IQ))).toHaveLength(1);
  });

  test("write() refuses a stanza nested deeper than maxDepth, keeps its first levels and goes on with the stream", () => {
    const deep = `<a seq='7'>${"<a>".repeat(4)}deep text${"</a>".repeat(4)}</a>`;
    expect(stanzas(feedAll([HEADER, deep], { maxDepth: 5 }))).toHaveLength(1);
    const events = feedAll([HEADER, deep, IQ], { maxDepth: 4 });
    const refused = events[1];
    if (refused?.type !== "stanza") throw new Error("no refused stanza");
    expect(refused.refused).toBe("stanza nesting exceeds 4");
    expect(refused.element.attrs.seq).toBe("7");
    expect(refused.element.toString()).toBe('<a seq="7"><a><a><a/></a></a></a>');
    expect(events[2]).toMatchObject({ type: "stanza", element: { name: "iq" } });
    expect((events[2] as { refused?: string }).refused).toBeUndefined();
    expect(events.some((e) => e.type === "error")).toBe(false);
  });

  test("write() still reports a mismatched end tag inside the part nested too deep", () => {
    const events = feedAll([HEADER, `<a>${"<b>".repeat(4)}</c>`], { maxDepth: 2 });
    expect(events.at(-1)).toMatchObject({ type: "error", condition: "not-well-formed" });
  });

  test("write() ends the stream with restricted-xml on a DOCTYPE, a comment or a processing instruction (RFC 6120 §11.1)", () => {
    for (const junk of [
      "<!DOCTYPE x>",
      "<!DOCTYPE x [<!ENTITY e 'boom'>]>",
      "<!-- hi -->",
      "<?php x?>",
      "<message><!-- c --></message>",
      "<message><?pi x?></message>",
    ]) {
      const bytes = new TextEncoder().encode(HEADER + junk + IQ);
      for (let cut = 1; cut < bytes.length; cut += 3) {
        const events = feedAll(splitBytes(bytes, [cut]));
        expect(events.at(-1)).toMatchObject({ type: "error", condition: "restricted-xml" });
        expect(stanzas(events)).toHaveLength(0);
      }
    }
  });

  test("write() ends the stream with bad-format on a second stream header instead of hiding the stream close", () => {
    const events = feedAll([HEADER, IQ, `<stream:stream xmlns='jabber:component:accept' id='2'>`, IQ, "</stream:stream>"]);
    expect(stanzas(events)).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: "error", condition: "bad-format" });
  });

  test("write() reports not-well-formed for a mismatched end tag", () => {
    const events = feedAll([HEADER, "<message><body></message>"]);
    expect(events.at(-1)).toMatchObject({ type: "error", condition: "not-well-formed" });
  });

  test("write() reports not-well-formed for an illegal entity instead of throwing", () => {
    const events = feedAll([HEADER, "<message><body>&bogus;</body></message>"]);
    expect(events.at(-1)).toEqual({ type: "error", condition: "not-well-formed", detail: "illegal entity or character reference" });
  });

  test("write() reports not-well-formed when the root is not stream:stream", () => {
    expect(feedAll(["<html>"])).toEqual([{ type: "error", condition: "not-well-formed", detail: "root element is <html>" }]);
  });

  test("write() emits stream-end on </stream:stream> and ignores later input", () => {
    const parser = createStreamParser();
    parser.write(HEADER);
    expect(parser.write(`${IQ}</stream:stream>`).map((e) => e.type)).toEqual(["stanza", "stream-end"]);
    expect(parser.closed).toBe(true);
    expect(parser.write(IQ)).toEqual([]);
  });

  test("write() returns stanzas completed before an error in the same chunk", () => {
    const events = feedAll([HEADER + IQ + "<message></iq>"]);
    expect(events.map((e) => e.type)).toEqual(["stream-start", "stanza", "error"]);
  });
});

describe("createStreamParser() fast path (plain-stanza.ts)", () => {
  /** Every event with its tree spelled out (names, attribute entries in order, text nodes as they are). */
  function dump(events: StreamParserEvent[]): unknown[] {
    const tree = (el: Element): unknown => [
      el.name,
      Object.entries(el.attrs),
      Object.getPrototypeOf(el.attrs) === Object.prototype,
      el.children.map((c) => (typeof c === "string" ? c : tree(c as Element))),
    ];
    return events.map((e) => (e.type === "stanza" ? ["stanza", tree(e.element)] : e));
  }

  function both(chunks: (Uint8Array | string)[], options: StreamParserOptions = {}): { fast: unknown[]; full: unknown[] } {
    return {
      fast: dump(feedAll(chunks, { ...options, fastPath: true })),
      full: dump(feedAll(chunks, { ...options, fastPath: false })),
    };
  }

  const EDGE_CASES = [
    MESSAGE,
    IQ,
    "<presence/>",
    "<presence />",
    "<a x='1' x='2'/>",
    "<a __proto__='p' constructor='c'/>",
    "<a b = \"x\" c='y'd='z'></a>",
    "<a b='x > y'>1 > 2</a>",
    "<a b='&lt;&#65;&#x42;&quot;'>&amp;&apos;</a>",
    "<a b='&bogus;'/>",
    "<a>&#0;</a>",
    "<a>&amp</a>",
    "<a><!-- c --><b/></a>",
    "<a><![CDATA[x<y]]></a>",
    "<a><?pi x?></a>",
    "<a><b></a>",
    "<a></a >",
    "<a></a/>",
    "<a b></a>",
    "<a b=x></a>",
    "<a\tb='1'\r\n/>",
    "<é a='1'/>",
    "<a é='1'/>",
    "<a b='é😀'>ü 中</a>",
    "<a>\u0001\u0002</a>",
    "<a:b xmlns:a='u'><a:c/></a:b>",
    "<a>x<b/>y<c>z</c> </a>",
    "  \n<a/>\t<b/>",
    "<a b='<'/>",
    "</stream:stream>",
    "<iq type='get' id='x'/></stream:stream><iq/>",
  ];

  test("write() builds the same events with and without the fast path for edge cases", () => {
    for (const xml of EDGE_CASES) {
      const { fast, full } = both([HEADER, xml]);
      expect({ xml, events: fast }).toEqual({ xml, events: full });
      const oneChunk = both([HEADER + xml + IQ]);
      expect({ xml, events: oneChunk.fast }).toEqual({ xml, events: oneChunk.full });
    }
  });

  test("write() builds the same events with and without the fast path for invalid UTF-8", () => {
    const enc = new TextEncoder();
    for (const bad of [[0xff], [0xfe, 0xff], [0xc3, 0x28], [0xe2, 0x82], [0xf0, 0x28, 0x8c, 0xbc], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
      const bytes = new Uint8Array([
        ...enc.encode(`${HEADER}<a b='x`),
        ...bad,
        ...enc.encode("'>t"),
        ...bad,
        ...enc.encode("</a>"),
        ...enc.encode(IQ),
      ]);
      const { fast, full } = both([bytes]);
      expect(fast).toEqual(full);
    }
  });

  test("write() builds the same events with and without the fast path at the size and depth limits", () => {
    const size = Buffer.byteLength(MESSAGE);
    for (const maxStanzaBytes of [size - 1, size, size + 1]) {
      const { fast, full } = both([HEADER + MESSAGE + IQ], { maxStanzaBytes });
      expect(fast).toEqual(full);
    }
    const deep = `${"<a>".repeat(5)}${"</a>".repeat(5)}`;
    for (const maxDepth of [4, 5]) {
      const { fast, full } = both([HEADER + deep + IQ], { maxDepth });
      expect(fast).toEqual(full);
    }
  });

  test("write() builds the same events with and without the fast path for 3000 random stanzas split at random", () => {
    const rng = createRng(4242);
    const NAMES = ["iq", "message", "event", "x", "a:b", "body", "é", "field"];
    const ATTRS = ["id", "to", "from", "xmlns", "type", "user", "seq", "a:b"];
    const element = (depth: number): string => {
      const name = rng.pick(NAMES);
      const a: Record<string, string> = {};
      for (let i = rng.int(0, 4); i > 0; i--) a[rng.pick(ATTRS)] = rng.text(12);
      let inner = "";
      if (depth < 5) for (let i = rng.int(0, 3); i > 0; i--) inner += rng.chance(0.6) ? element(depth + 1) : esc(rng.text(20));
      // CDATA and character references make the fast path defer to SaxLtx; input that ends the
      // stream (a bad entity, a mismatched end tag, a comment or PI) is in the edge cases above.
      if (rng.chance(0.05)) inner += rng.pick(["<![CDATA[<x>]]>", "<![CDATA[]]>", "&#x41;"]);
      const open = `<${name}${attrs(a)}`;
      return inner === "" && rng.chance(0.3) ? `${open}/>` : `${open}>${inner}</${name}>`;
    };
    const bytes = new TextEncoder().encode(HEADER + Array.from({ length: 3000 }, () => element(0) + rng.pick(["", " ", "\n"])).join(""));
    const cuts: number[] = [];
    for (let at = 0; at < bytes.length; at += rng.int(1, 4000)) cuts.push(at);
    const { fast, full } = both(splitBytes(bytes, cuts.slice(1)));
    expect(full.length).toBe(3001); // stream-start and every stanza: nothing ended the stream early
    expect(fast).toEqual(full);
  });
});
