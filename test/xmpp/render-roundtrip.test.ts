/**
 * Property test (issue 10 item 5): random strings, drawn from all of Unicode that XML 1.0 allows
 * plus the edge characters it does not, round-trip through EVERY attribute and text position the
 * daemon writes, parsed back by ltx (`parse`) and by Prosody's own parser (util.xml over expat,
 * one long-running lua5.4 process). Expected value of each string: itself, with every character
 * XML cannot carry replaced by U+FFFD (docs/behaviour.md, "XML output escaping").
 * Seeded PRNG: a failure prints its seed; rerun with ROUNDTRIP_SEED=<seed> to reproduce
 * (ROUNDTRIP_CASES=<n> runs more or fewer cases; default 2000, ~11 documents each).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Element, parse } from "ltx";

import type { Publish, XmlNode } from "../../src/core/types.ts";
import { serialize } from "../../src/core/xml.ts";
import {
  renderAck,
  renderDiscoInfo,
  renderHello,
  renderHibernationTimeout,
  renderIqError,
  renderPublishIq,
  renderResponse,
} from "../../src/xmpp/render.ts";
import { renderPublishAsHost } from "../helpers/publish-as-host-tree.ts";
import { publishAsHostText } from "../../src/xmpp/render-text.ts";
import { type ParsedXml, type ProsodyXml, startProsodyXml } from "../helpers/prosody-xml.ts";

const SEED = Number(process.env.ROUNDTRIP_SEED ?? 0x5eed_0010);
const CASES = Number(process.env.ROUNDTRIP_CASES ?? 2000);

// --- seeded PRNG (mulberry32) -------------------------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// --- random strings -----------------------------------------------------------------------------

const EDGE = [
  "\t",
  "\n",
  "\r",
  "\r\n",
  "&",
  "<",
  ">",
  '"',
  "'",
  "]]>",
  "&amp;",
  "&#9;",
  "&#x1F600;",
  "<![CDATA[x]]>",
  "<!--",
  "\u0085",
  "\u00a0",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\ud7ff",
  "\ue000",
  "\ufffd",
  "\u{10000}",
  "\u{10ffff}",
  "\u{1f600}",
  " ",
  "  ",
  "=",
];
/** Characters XML 1.0 cannot carry at all. */
const INVALID_EDGE = ["\0", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\ufffe", "\uffff", "\ud800", "\udbff", "\udc00", "\udfff"];

type Pick = (rng: () => number) => string;
const int = (rng: () => number, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const CLASSES: Array<[string, number, Pick]> = [
  ["ascii", 30, (r) => String.fromCharCode(int(r, 0x20, 0x7e))],
  ["edge", 14, (r) => EDGE[int(r, 0, EDGE.length - 1)] as string],
  ["invalid", 6, (r) => INVALID_EDGE[int(r, 0, INVALID_EDGE.length - 1)] as string],
  ["c1", 4, (r) => String.fromCharCode(int(r, 0x7f, 0x9f))],
  ["bmp-low", 12, (r) => String.fromCharCode(int(r, 0xa0, 0xd7ff))],
  ["bmp-high", 8, (r) => String.fromCharCode(int(r, 0xe000, 0xfffd))],
  ["astral", 12, (r) => String.fromCodePoint(int(r, 0x10000, 0x10ffff))],
  ["lone-surrogate", 4, (r) => String.fromCharCode(int(r, 0xd800, 0xdfff))],
  ["c0-any", 4, (r) => String.fromCharCode(int(r, 0, 0x1f))],
];
const TOTAL_WEIGHT = CLASSES.reduce((n, [, w]) => n + w, 0);
const classCounts = new Map<string, number>();

function randomString(rng: () => number): string {
  const len = rng() < 0.05 ? int(rng, 0, 300) : int(rng, 0, 24);
  let s = "";
  for (let i = 0; i < len; i++) {
    let x = rng() * TOTAL_WEIGHT;
    for (const [name, w, pick] of CLASSES) {
      x -= w;
      if (x < 0) {
        s += pick(rng);
        classCounts.set(name, (classCounts.get(name) ?? 0) + 1);
        break;
      }
    }
  }
  return s;
}

/** XML 1.0 `Char` (§2.2), written independently of the code under test. */
function xmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/** What a string must read back as: each character XML cannot carry → U+FFFD. */
function expectedString(s: string): string {
  let out = "";
  for (const ch of s) out += xmlChar(ch.codePointAt(0) as number) ? ch : "\ufffd";
  return out;
}

// --- trees, normalised for comparison -----------------------------------------------------------

interface Norm {
  name: string;
  attrs: Record<string, string>;
  children: Array<Norm | string>;
}

interface Treeish {
  name: string;
  attrs: Record<string, unknown>;
  children: readonly unknown[];
}

/** Adjacent text merged, empty text dropped; `fix` applied to every string. */
function normalise(el: Treeish, fix: (s: string) => string): Norm {
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(el.attrs)) if (v !== undefined && v !== null) attrs[k] = fix(String(v));
  const children: Array<Norm | string> = [];
  for (const child of el.children) {
    if (child === null || child === undefined) continue;
    if (typeof child === "object") children.push(normalise(child as Treeish, fix));
    else {
      const text = fix(String(child));
      if (text === "") continue;
      const last = children.at(-1);
      if (typeof last === "string") children[children.length - 1] = last + text;
      else children.push(text);
    }
  }
  return { name: el.name, attrs, children };
}

/** The tree as Prosody's util.xml presents it: `xmlns` is each element's resolved namespace. */
interface ProsodyView {
  name: string;
  attrs: Array<[string, string]>;
  children: Array<ProsodyView | string>;
}

function prosodyView(el: Norm, parentNs = ""): ProsodyView {
  const ns = el.attrs.xmlns ?? parentNs;
  const attrs: Array<[string, string]> = Object.entries(el.attrs).filter(([k]) => k !== "xmlns");
  if (ns !== "") attrs.push(["xmlns", ns]);
  attrs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { name: el.name, attrs, children: el.children.map((c) => (typeof c === "string" ? c : prosodyView(c, ns))) };
}

function fromProsody(el: ParsedXml): ProsodyView {
  const children: Array<ProsodyView | string> = [];
  for (const child of el.children) {
    if (typeof child !== "string") children.push(fromProsody(child));
    else if (child !== "") {
      const last = children.at(-1);
      if (typeof last === "string") children[children.length - 1] = last + child;
      else children.push(child);
    }
  }
  return { name: el.name, attrs: el.attrs, children };
}

// --- every position the daemon writes ------------------------------------------------------------

interface Doc {
  what: string;
  text: string;
  /** The tree that was meant (raw strings, before escaping). */
  built: Treeish;
}

function xmlNode(rng: () => number, depth: number): XmlNode {
  const children: Array<XmlNode | string> = [];
  const n = int(rng, 0, 3);
  for (let i = 0; i < n; i++) children.push(depth > 0 && rng() < 0.3 ? xmlNode(rng, depth - 1) : randomString(rng));
  return {
    name: rng() < 0.5 ? "ext" : "ext-2",
    attrs: { xmlns: `urn:test:${randomString(rng)}`, a: randomString(rng), b: randomString(rng) },
    children,
  };
}

/** A publish-options form as enable.ts stores it: core/xml.ts `serialize` of the client's form. */
function storedForm(rng: () => number): string {
  const fields: XmlNode[] = [
    {
      name: "field",
      attrs: { var: "FORM_TYPE" },
      children: [{ name: "value", attrs: {}, children: ["http://jabber.org/protocol/pubsub#publish-options"] }],
    },
  ];
  for (let i = int(rng, 1, 3); i > 0; i--) {
    fields.push({
      name: "field",
      attrs: { var: randomString(rng) },
      children: [{ name: "value", attrs: {}, children: [randomString(rng)] }],
    });
  }
  return serialize({ name: "x", attrs: { xmlns: "jabber:x:data", type: "submit" }, children: fields });
}

function maybe(rng: () => number, s: () => string): string | null {
  return rng() < 0.2 ? null : s();
}

function caseDocs(rng: () => number): Doc[] {
  const r = () => randomString(rng);
  const p: Publish = {
    id: r(),
    user: r(),
    identifier: r(),
    to: r(),
    node: maybe(rng, r),
    summary: {
      messageCount: maybe(rng, r),
      pendingSubscriptionCount: maybe(rng, r),
      lastMessageSender: maybe(rng, r),
      lastMessageBody: maybe(rng, r),
    },
    publishOptions: rng() < 0.3 ? null : storedForm(rng),
    important: true,
    trigger: "offline",
    payload: rng() < 0.5 ? [] : [xmlNode(rng, 2)],
    deadline: 0,
  };
  const ctx = { host: r(), componentDomain: r() };
  const docs: Doc[] = [];
  const tree = (what: string, el: Element) => docs.push({ what, text: el.toString(), built: el });

  tree("publish IQ (component)", renderPublishIq(p, r()));
  const asHost = renderPublishAsHost(p, { ...ctx, commandId: r() });
  tree("publish-as-host (tree)", asHost);
  const commandId = (asHost.attrs as Record<string, string>).id as string;
  docs.push({ what: "publish-as-host (text, hot path)", text: publishAsHostText(p, { ...ctx, commandId }), built: asHost });
  const error = rng() < 0.5 ? undefined : { type: r(), condition: "bad-request", text: rng() < 0.2 ? undefined : r() };
  tree("reply to a client", renderResponse({ type: "reply", requestId: r(), error, bound: rng() < 0.3 ? undefined : maybe(rng, r) }, ctx));
  tree(
    "hibernation extend",
    renderHibernationTimeout(
      { type: "hibernation-timeout", user: r(), sessionId: r(), mode: "extend", seconds: int(rng, 0, 1e9) },
      { ...ctx, iqId: r() },
    ),
  );
  tree(
    "hibernation restore",
    renderHibernationTimeout({ type: "hibernation-timeout", user: r(), sessionId: r(), mode: "restore" }, { ...ctx, iqId: r() }),
  );
  tree(
    "hello",
    renderHello({ ...ctx, iqId: r(), features: Array.from({ length: int(rng, 0, 3) }, r), limits: { depth: 64, bytes: 65536, copies: 8 } }),
  );
  tree("ack", renderAck({ ...ctx, epoch: r(), seq: int(rng, 0, 2 ** 40) }));
  tree("IQ error", renderIqError(r(), r(), r(), r(), "item-not-found", rng() < 0.2 ? null : r()));
  tree("disco#info", renderDiscoInfo(r(), r(), r()));
  return docs;
}

// --- the test -------------------------------------------------------------------------------------

let prosody: ProsodyXml;
beforeAll(() => {
  prosody = startProsodyXml();
});
afterAll(async () => {
  await prosody.close();
});

/** The first place two trees differ, as a short path and both sides (JSON), or null when equal. */
function firstDiff(got: unknown, want: unknown, path = ""): string | null {
  if (Bun.deepEquals(got, want, true)) return null;
  if (typeof got === "object" && got !== null && typeof want === "object" && want !== null && Array.isArray(got) === Array.isArray(want)) {
    const g = got as Record<string, unknown>;
    const w = want as Record<string, unknown>;
    for (const k of new Set([...Object.keys(g), ...Object.keys(w)])) {
      const d = firstDiff(g[k], w[k], `${path}/${k}`);
      if (d !== null) return d;
    }
  }
  return `${path}: got ${JSON.stringify(got)?.slice(0, 300)}, want ${JSON.stringify(want)?.slice(0, 300)}`;
}

interface Failure {
  seed: number;
  caseIndex: number;
  what: string;
  parser: string;
  doc: string;
  diff: string | null;
}

describe("every string the daemon writes reads back the same (ltx and Prosody util.xml)", () => {
  test(`item 5: ${CASES} random cases × every render position, seed ${SEED}`, async () => {
    const rng = mulberry32(SEED);
    const all: Array<{ caseIndex: number; doc: Doc }> = [];
    for (let i = 0; i < CASES; i++) for (const doc of caseDocs(rng)) all.push({ caseIndex: i, doc });

    const failures: Failure[] = [];
    const fail = (f: Omit<Failure, "seed" | "doc"> & { doc: Doc }) =>
      failures.push({ ...f, seed: SEED, what: f.doc.what, doc: JSON.stringify(f.doc.text).slice(0, 2000) });

    const parsedByProsody = await prosody.parseMany(all.map((d) => d.doc.text));
    all.forEach(({ caseIndex, doc }, i) => {
      const want = normalise(doc.built, expectedString);
      let ltxTree: Norm | string;
      try {
        ltxTree = normalise(parse(doc.text) as unknown as Treeish, (s) => s);
      } catch (err) {
        ltxTree = `ltx error: ${(err as Error).message}`;
      }
      if (!Bun.deepEquals(ltxTree, want, true)) fail({ caseIndex, doc, what: doc.what, parser: "ltx", diff: firstDiff(ltxTree, want) });
      const res = parsedByProsody[i];
      const got = res === undefined ? "no answer" : res.ok ? fromProsody(res.tree) : `util.xml error: ${res.error}`;
      const wantProsody = prosodyView(want);
      if (!Bun.deepEquals(got, wantProsody, true))
        fail({ caseIndex, doc, what: doc.what, parser: "prosody util.xml", diff: firstDiff(got, wantProsody) });
    });

    // The generator really covered every class of character (else the property says little).
    for (const [name] of CLASSES) expect(classCounts.get(name) ?? 0).toBeGreaterThan(CASES);
    expect(all.length).toBeGreaterThanOrEqual(CASES * 10);
    expect(failures.slice(0, 3)).toEqual([]);
    expect(failures.length).toBe(0);
  }, 120_000);

  test("item 5: the oracle catches the old defect (ltx's own serialiser, TAB/LF/CR raw in an attribute)", async () => {
    const el = new Element("publish", { node: "a\tb\nc\rd" });
    const [res] = await prosody.parseMany([el.toString()]);
    expect(res?.ok && res.tree.attrs).toEqual([["node", "a b c d"]]);
    const [fixed] = await prosody.parseMany([renderPublishIq({ ...minimalPublish(), node: "a\tb\nc\rd" }, "push.example").toString()]);
    const publish = fixed?.ok ? findFirst(fixed.tree, "publish") : null;
    expect(publish?.attrs).toEqual([
      ["node", "a\tb\nc\rd"],
      ["xmlns", "http://jabber.org/protocol/pubsub"],
    ]);
  });
});

function minimalPublish(): Publish {
  return {
    id: "1",
    user: "u",
    identifier: "i",
    to: "push.app",
    node: null,
    summary: { messageCount: null, pendingSubscriptionCount: null, lastMessageSender: null, lastMessageBody: null },
    publishOptions: null,
    important: true,
    trigger: "offline",
    payload: [],
    deadline: 0,
  };
}

function findFirst(el: ParsedXml, name: string): ParsedXml | null {
  if (el.name === name) return el;
  for (const c of el.children) {
    if (typeof c === "string") continue;
    const found = findFirst(c, name);
    if (found !== null) return found;
  }
  return null;
}
