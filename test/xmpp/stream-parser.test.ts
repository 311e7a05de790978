import { describe, expect, test } from "bun:test";

import { createStreamParser, type StreamParserEvent } from "../../src/xmpp/stream-parser.ts";

const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " +
  "xmlns:stream='http://etherx.jabber.org/streams' from='push.example.com' id='abc123'>";
const MESSAGE = "<message to='a@b' id='m1'><body>héllo 😀 &amp; &lt;you&gt;</body><x xmlns='y'/></message>";
const IQ = "<iq type='get' id='i1' from='example.com'><ping xmlns='urn:xmpp:ping'/></iq>";

function feedAll(chunks: (Uint8Array | string)[], options = {}): StreamParserEvent[] {
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

  test("write() rejects nesting deeper than maxDepth with policy-violation", () => {
    const deep = `${"<a>".repeat(5)}${"</a>".repeat(5)}`;
    expect(stanzas(feedAll([HEADER, deep], { maxDepth: 5 }))).toHaveLength(1);
    const events = feedAll([HEADER, deep], { maxDepth: 4 });
    expect(events.at(-1)).toEqual({ type: "error", condition: "policy-violation", detail: "stanza nesting exceeds 4" });
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
