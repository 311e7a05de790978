/**
 * Fuzzes the component stream of the COMPILED binary: a scripted XEP-0114 server playing Prosody
 * and the bridge (test/helpers/fake-bridge.ts) feeds ≥ 100 000 generated hostile stanzas and
 * bridge events from a seeded PRNG (seed printed; set FUZZ_SEED to replay). Asserts:
 * - the process never exits;
 * - every IQ get/set that needs an answer (has an id and a from, is in the stream namespace) gets
 *   exactly the reply its class calls for (bad-request, jid-malformed, not-acceptable,
 *   feature-not-implemented, service-unavailable, forbidden, item-not-found, result …);
 * - VmRSS grows by less than 100 MB (a separate test). It found a real leak: attribute values
 *   sliced out of a decoded 64 KiB read kept the whole read alive (JSC substrings), so the live
 *   heap grew ~1.5 KB per stanza; the stream parser now decodes each piece on its own;
 * - oversize (> 1 MiB), not-well-formed or restricted XML (DOCTYPE, comment, processing
 *   instruction, a second stream header) ends the stream with a stream error and the daemon
 *   reconnects and says hello again; a stanza nested too deep is one refused stanza, not a fault;
 * - afterwards a valid enable still works and a valid event is still acknowledged.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Element } from "ltx";

import { type Daemon, ensureBinary, startDaemon } from "../helpers/daemon.ts";
import { type BridgeConnection, type FakeBridge, NS_BRIDGE, startFakeBridge, waitFor } from "../helpers/fake-bridge.ts";
import { attrs, createRng, esc, type Rng, rssKb } from "./fuzz-lib.ts";

const SECRET = "fuzz-secret";
const TOKEN = "fuzz-admin-token";
const HOST = "localhost";
const COMP = "push.localhost";
const NS_PUSH = "urn:xmpp:push:0";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const SEED = Number(process.env.FUZZ_SEED ?? 20240607);
const TOTAL = Number(process.env.FUZZ_STANZAS ?? 100_000);
const BATCH = 2500;
/** VmRSS growth allowed over the run (measured after 3 s idle). */
const RSS_LIMIT_KB = 100 * 1024;
const USERS = Array.from({ length: 12 }, (_, i) => `u${i}`);

/** What a tracked IQ must get back. */
type Expect =
  | { id: string; kind: "error"; type: string; condition: string }
  | { id: string; kind: "result" }
  | { id: string; kind: "response"; condition: string | null } // condition null = inner result
  | { id: string; kind: "any" };

interface Generated {
  parts: Array<string | Uint8Array>;
  expect?: Expect;
  cls: string;
}

const BAD_UTF8: Uint8Array[] = [
  new Uint8Array([0xff]),
  new Uint8Array([0xfe, 0xff]),
  new Uint8Array([0xc3, 0x28]),
  new Uint8Array([0xe2, 0x82]),
  new Uint8Array([0xf0, 0x28, 0x8c, 0xbc]),
  new Uint8Array([0xed, 0xa0, 0x80]), // UTF-16 surrogate encoded
  new Uint8Array([0xc0, 0xaf]), // overlong '/'
];

const INVALID_JIDS = ["a@@b", "@x", "x/", "sp ace", "a@", "x..y", ".x", "[zz]", "a<b@c", "a@b/ ", "", 'a"b@c', "x\ty"];
const BAD_SEQS = ["abc", "-1", "0", "1.5", "1e3", "99999999999999999999", " 7", "0x10", "NaN", "Infinity", "+3"];
const EVENT_TYPES = [
  "offline",
  "archived",
  "groupchat-bare",
  "session-started",
  "session-ended",
  "hibernation-started",
  "stanza-queued",
  "ack-delayed",
  "hibernation-ended",
];
const SOUP_NAMES = [
  "iq",
  "message",
  "presence",
  "request",
  "enable",
  "disable",
  "event",
  "hello",
  "x",
  "field",
  "value",
  "body",
  "query",
  "publish-as-host",
  "response",
  "error",
  "zz",
  "a:b",
  "stream:features",
];
const SOUP_NS = [
  NS_BRIDGE,
  NS_PUSH,
  "jabber:x:data",
  "jabber:client",
  "jabber:component:accept",
  "urn:evil",
  "",
  "urn:cloud-notifyd:bridge:2",
];
const SOUP_ATTRS = [
  "user",
  "session",
  "full",
  "jid",
  "node",
  "epoch",
  "seq",
  "type",
  "var",
  "version",
  "to",
  "from",
  "xml:lang",
  "client-id",
  "bound",
  "id",
];

function createGenerator(rng: Rng, epoch: string) {
  let counter = 0;
  let seq = 0;
  let validEnables = 0;
  const id = (p = "z") => `${p}${++counter}`;
  const user = () => rng.pick(USERS);

  function requestXml(iqId: string, u: string, inner: string, extra: Record<string, string | undefined> = {}): string {
    const a = { user: u, session: `s-${u}-${rng.int(0, 3)}`, full: `${u}@${HOST}/r${rng.int(0, 3)}`, ...extra };
    return `<iq type='set' from='${HOST}' to='${COMP}' id='${iqId}'><request xmlns='${NS_BRIDGE}'${attrs(a)}>${inner}</request></iq>`;
  }
  function clientIq(payload: string, type = "set"): string {
    return `<iq xmlns='jabber:client' type='${type}' id='c${counter}'>${payload}</iq>`;
  }
  function hugeForm(bytes: number): string {
    let fields = "";
    while (fields.length < bytes) fields += `<field var='f${fields.length}'><value>${esc(rng.text(200))}x</value></field>`;
    return `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>${fields}</x>`;
  }
  function nested(depth: number, leaf: string): string {
    let open = "";
    let close = "";
    for (let i = 0; i < depth; i++) {
      open += `<n${i % 7}>`;
      close = `</n${i % 7}>` + close;
    }
    return open + leaf + close;
  }
  function message(u: string): string {
    return `<message xmlns='jabber:client' from='${esc(`peer${rng.int(0, 9)}@example.org/r`)}' to='${u}@${HOST}' type='chat' id='m${counter}'><body>${esc(rng.text(40))}</body></message>`;
  }
  function event(a: Record<string, string | undefined>, inner = "", from = HOST): string {
    return `<message from='${esc(from)}' to='${COMP}'><event xmlns='${NS_BRIDGE}'${attrs(a)}>${inner}</event></message>`;
  }

  function soupElement(depth: number): string {
    const name = rng.pick(SOUP_NAMES);
    const a: Record<string, string> = {};
    const nAttrs = rng.int(0, 4);
    for (let i = 0; i < nAttrs; i++)
      a[rng.pick(SOUP_ATTRS)] = rng.chance(0.5) ? rng.text(12) : rng.pick([HOST, COMP, "u1", "1", "set", epoch, "u1@localhost/r"]);
    if (rng.chance(0.5)) a.xmlns = rng.pick(SOUP_NS);
    let inner = "";
    if (depth < 6) {
      const kids = rng.int(0, 3);
      for (let i = 0; i < kids; i++) inner += rng.chance(0.7) ? soupElement(depth + 1) : esc(rng.text(20));
    }
    return rng.chance(0.2) && inner === "" ? `<${name}${attrs(a)}/>` : `<${name}${attrs(a)}>${inner}</${name}>`;
  }

  /** Top-level soup; tracked when it is an IQ that needs an answer. */
  function soup(): Generated {
    const name = rng.pick(["iq", "iq", "message", "presence", "foo", "event"]);
    const a: Record<string, string | undefined> = {
      type: rng.pick(["get", "set", "result", "error", "chat", "x", undefined]),
      id: rng.chance(0.85) ? id("s") : undefined,
      from: rng.pick([HOST, HOST, "evil.example", "u1@localhost/r", "", esc(rng.text(10)), undefined]),
      to: rng.pick([COMP, COMP, HOST, "x", undefined]),
      xmlns: rng.pick([undefined, undefined, undefined, "jabber:client", "jabber:component:accept", "urn:evil"]),
    };
    let inner = "";
    const kids = rng.int(0, 3);
    for (let i = 0; i < kids; i++) inner += soupElement(2);
    const xml = `<${name}${attrs(a)}>${inner}</${name}>`;
    const needsAnswer =
      name === "iq" &&
      (a.type === "get" || a.type === "set") &&
      a.id !== undefined &&
      a.from !== undefined &&
      a.from !== "" &&
      (a.xmlns === undefined || a.xmlns === "jabber:client" || a.xmlns === "jabber:component:accept");
    return { parts: [xml], cls: "soup", ...(needsAnswer ? { expect: { id: a.id as string, kind: "any" as const } } : {}) };
  }

  const gens: Array<[number, () => Generated]> = [
    // --- client requests through the bridge (answered by the core) ---
    [
      6,
      () => {
        const i = id();
        return {
          cls: "enable-no-jid",
          parts: [requestXml(i, user(), clientIq(`<enable xmlns='${NS_PUSH}' node='${esc(rng.text(10))}'/>`))],
          expect: { id: i, kind: "response", condition: "bad-request" },
        };
      },
    ],
    [
      6,
      () => {
        const i = id();
        return {
          cls: "enable-bad-jid",
          parts: [requestXml(i, user(), clientIq(`<enable xmlns='${NS_PUSH}' jid='${esc(rng.pick(INVALID_JIDS))}' node='n'/>`))],
          expect: { id: i, kind: "response", condition: "jid-malformed" },
        };
      },
    ],
    [
      3,
      () => {
        const i = id();
        const u = user();
        const jid = rng.pick([`${u}@${HOST}`, HOST, `${u}@${HOST}/r1`, `${u.toUpperCase()}@LOCALHOST`]);
        return {
          cls: "enable-own-jid",
          parts: [requestXml(i, u, clientIq(`<enable xmlns='${NS_PUSH}' jid='${jid}'/>`), { full: `${u}@${HOST}/r1` })],
          expect: { id: i, kind: "response", condition: "bad-request" },
        };
      },
    ],
    [
      2,
      () => {
        const i = id();
        const form = hugeForm(rng.int(8400, 40000));
        return {
          cls: "enable-huge-form",
          parts: [requestXml(i, user(), clientIq(`<enable xmlns='${NS_PUSH}' jid='app.example' node='big'>${form}</enable>`))],
          expect: { id: i, kind: "response", condition: "not-acceptable" },
        };
      },
    ],
    [
      1,
      () => {
        const i = id();
        return {
          cls: "enable-long-node",
          parts: [
            requestXml(i, user(), clientIq(`<enable xmlns='${NS_PUSH}' jid='app.example' node='${"n".repeat(rng.int(1025, 5000))}'/>`)),
          ],
          expect: { id: i, kind: "response", condition: "not-acceptable" },
        };
      },
    ],
    [
      1,
      () => {
        const i = id();
        validEnables += 1;
        const form = rng.chance(0.5)
          ? `<x xmlns='jabber:x:data' type='submit'><field var='secret'><value>${esc(rng.text(30))}</value></field></x>`
          : "";
        return {
          cls: "enable-valid",
          parts: [
            requestXml(
              i,
              user(),
              clientIq(`<enable xmlns='${NS_PUSH}' jid='app${rng.int(0, 3)}.example' node='n${rng.int(0, 9)}'>${form}</enable>`),
            ),
          ],
          expect: { id: i, kind: "response", condition: null },
        };
      },
    ],
    [
      2,
      () => {
        const i = id();
        return {
          cls: "disable-no-jid",
          parts: [requestXml(i, user(), clientIq(`<disable xmlns='${NS_PUSH}'/>`))],
          expect: { id: i, kind: "response", condition: "bad-request" },
        };
      },
    ],
    [
      1,
      () => {
        const i = id();
        return {
          cls: "disable-valid",
          parts: [
            requestXml(i, user(), clientIq(`<disable xmlns='${NS_PUSH}' jid='app${rng.int(0, 3)}.example' node='n${rng.int(0, 9)}'/>`)),
          ],
          expect: { id: i, kind: "response", condition: null },
        };
      },
    ],
    [
      2,
      () => {
        const i = id();
        return {
          cls: "inner-iq-get",
          parts: [requestXml(i, user(), clientIq(`<enable xmlns='${NS_PUSH}' jid='app.example'/>`, rng.pick(["get", "result", "x"])))],
          expect: { id: i, kind: "response", condition: "bad-request" },
        };
      },
    ],
    [
      2,
      () => {
        const i = id();
        const payload = rng.pick([
          `<enable xmlns='urn:xmpp:push:1' jid='a.example'/>`,
          `<foo xmlns='${NS_PUSH}'/>`,
          `<enable jid='a.example'/>`,
          `<enable xmlns='${NS_PUSH}' jid='a.example'/><disable xmlns='${NS_PUSH}' jid='a.example'/>`,
          "",
        ]);
        return {
          cls: "inner-payload-wrong",
          parts: [requestXml(i, user(), clientIq(payload))],
          expect: { id: i, kind: "response", condition: "bad-request" },
        };
      },
    ],
    [
      2,
      () => {
        const i = id();
        const u = user();
        const extra = rng.pick<Record<string, string | undefined>>([
          { user: undefined },
          { session: undefined },
          { full: undefined },
          { full: "other@localhost/r" },
          { full: `${u}@evil.example/r` },
          { full: `${u}@${HOST}` },
          { full: "@@" },
        ]);
        return {
          cls: "request-missing-attrs",
          parts: [requestXml(i, u, clientIq(`<enable xmlns='${NS_PUSH}' jid='app.example'/>`), extra)],
          expect: { id: i, kind: "error", type: "modify", condition: "bad-request" },
        };
      },
    ],
    [
      1,
      () => {
        const i = id();
        const inner = rng.pick([
          `<iq xmlns='urn:evil' type='set' id='q'><enable xmlns='${NS_PUSH}' jid='a.example'/></iq>`,
          "",
          `<message xmlns='jabber:client'/>`,
          clientIq("") + clientIq(""),
        ]);
        return {
          cls: "request-bad-inner",
          parts: [requestXml(i, user(), inner)],
          expect: { id: i, kind: "error", type: "modify", condition: "bad-request" },
        };
      },
    ],
    [
      2,
      () => {
        const i = id();
        const u = user();
        const bad = rng.pick(BAD_UTF8);
        // Invalid UTF-8 in the user (the same bytes in full), in the node and in a text: decoded as U+FFFD.
        return {
          cls: "invalid-utf8-request",
          parts: [
            `<iq type='set' from='${HOST}' to='${COMP}' id='${i}'><request xmlns='${NS_BRIDGE}' user='${u}`,
            bad,
            `' session='s' full='${u}`,
            bad,
            `@${HOST}/r'><iq xmlns='jabber:client' type='set' id='q'><enable xmlns='${NS_PUSH}' node='`,
            rng.pick(BAD_UTF8),
            `'>`,
            rng.pick(BAD_UTF8),
            `</enable></iq></request></iq>`,
          ],
          expect: { id: i, kind: "response", condition: "bad-request" },
        };
      },
    ],
    // --- bridge-level IQs (answered by the stanza classifier) ---
    [
      3,
      () => {
        const i = id();
        const name = rng.pick([
          "reboot",
          "hello",
          "publish-as-host",
          "hibernation-timeout",
          "ack",
          "response",
          esc(rng.pick(["x", "y-z", "evil"])),
        ]);
        return {
          cls: "unknown-bridge-command",
          parts: [`<iq type='${rng.pick(["set", "get"])}' from='${HOST}' to='${COMP}' id='${i}'><${name} xmlns='${NS_BRIDGE}'/></iq>`],
          expect: { id: i, kind: "error", type: "cancel", condition: "feature-not-implemented" },
        };
      },
    ],
    [
      1,
      () => {
        const i = id();
        return {
          cls: "request-as-get",
          parts: [requestXml(i, user(), clientIq(`<enable xmlns='${NS_PUSH}' jid='app.example'/>`)).replace("type='set'", "type='get'")],
          expect: { id: i, kind: "error", type: "cancel", condition: "feature-not-implemented" },
        };
      },
    ],
    [
      3,
      () => {
        const i = id();
        const from = rng.pick(["evil.example", `u1@${HOST}`, `u1@${HOST}/r`, `${HOST}.evil`, `app.${HOST}`, COMP, "x"]);
        return {
          cls: "bridge-wrong-sender",
          parts: [
            requestXml(i, "u1", clientIq(`<enable xmlns='${NS_PUSH}' jid='app.example'/>`)).replace(`from='${HOST}'`, `from='${from}'`),
          ],
          expect: { id: i, kind: "error", type: "cancel", condition: "forbidden" },
        };
      },
    ],
    [
      4,
      () => {
        const i = id();
        const payload = rng.pick([
          `<query xmlns='jabber:iq:version'/>`,
          `<ping xmlns='urn:xmpp:ping'/>`,
          `<query xmlns='http://jabber.org/protocol/disco#items'/>`,
          `<request xmlns='urn:cloud-notifyd:bridge:2' user='u1'/>`,
          `<request xmlns='urn:cloud-notifyd:bridge'/>`,
          `<enable xmlns='${NS_PUSH}' jid='a.example'/>`,
          `<x/>`,
        ]);
        const from = rng.pick([HOST, "evil.example", `u2@${HOST}/r`]);
        return {
          cls: "non-bridge-iq",
          parts: [`<iq type='${rng.pick(["get", "set"])}' from='${from}' to='${COMP}' id='${i}'>${payload}</iq>`],
          expect: { id: i, kind: "error", type: "cancel", condition: "service-unavailable" },
        };
      },
    ],
    [
      2,
      () => {
        const i = id();
        const body = rng.pick([
          "",
          "hello text",
          `<a xmlns='x'/><b xmlns='y'/>`,
          `<query xmlns='jabber:iq:version'/><ping xmlns='urn:xmpp:ping'/>`,
        ]);
        return {
          cls: "iq-payload-count",
          parts: [`<iq type='get' from='${HOST}' to='${COMP}' id='${i}'>${body}</iq>`],
          expect: { id: i, kind: "error", type: "modify", condition: "bad-request" },
        };
      },
    ],
    [
      2,
      () => {
        const i = id();
        const type = rng.pick(["foo", "SET", "", "subscribe"]);
        return {
          cls: "iq-bad-type",
          parts: [`<iq${attrs({ type: type === "" ? undefined : type })} from='${HOST}' id='${i}'><ping xmlns='urn:xmpp:ping'/></iq>`],
          expect: { id: i, kind: "error", type: "modify", condition: "bad-request" },
        };
      },
    ],
    [
      2,
      () => {
        const i = id();
        const node = rng.chance(0.3);
        return {
          cls: "disco-info",
          parts: [
            `<iq type='get' from='u3@${HOST}/r' to='${COMP}' id='${i}'><query xmlns='http://jabber.org/protocol/disco#info'${node ? " node='x'" : ""}/></iq>`,
          ],
          expect: node ? { id: i, kind: "error", type: "cancel", condition: "item-not-found" } : { id: i, kind: "result" },
        };
      },
    ],
    [
      1,
      () => {
        // Deeper than the parser's 64 levels: one stanza refused with an error, not a stream fault.
        const i = id();
        return {
          cls: "too-deep",
          parts: [
            `<iq type='set' from='${HOST}' to='${COMP}' id='${i}'><deep xmlns='urn:deep'>${nested(rng.int(70, 300), "leaf")}</deep></iq>`,
          ],
          expect: { id: i, kind: "error", type: "modify", condition: "policy-violation" },
        };
      },
    ],
    [
      2,
      () => {
        const i = id();
        return {
          cls: "deep-nesting",
          parts: [
            `<iq type='set' from='${HOST}' to='${COMP}' id='${i}'><deep xmlns='urn:deep'>${nested(rng.int(10, 60), "leaf")}</deep></iq>`,
          ],
          expect: { id: i, kind: "error", type: "cancel", condition: "service-unavailable" },
        };
      },
    ],
    [
      2,
      () => {
        const i = id();
        return {
          cls: "invalid-utf8-iq",
          parts: [
            `<iq type='get' from='${HOST}' to='${COMP}' id='${i}'><query xmlns='jabber:iq:version' a='`,
            rng.pick(BAD_UTF8),
            `'>`,
            rng.pick(BAD_UTF8),
            `x</query></iq>`,
          ],
          expect: { id: i, kind: "error", type: "cancel", condition: "service-unavailable" },
        };
      },
    ],
    [
      2,
      () => {
        // Not answerable (no id, no from, foreign stream namespace): must not crash, no reply needed.
        const variant = rng.int(0, 3);
        const xml = [
          `<iq type='set' from='${HOST}'><request xmlns='${NS_BRIDGE}'/></iq>`,
          `<iq type='get' id='${id("n")}'><ping xmlns='urn:xmpp:ping'/></iq>`,
          `<iq xmlns='urn:evil' type='get' from='${HOST}' id='${id("n")}'><ping xmlns='urn:xmpp:ping'/></iq>`,
          `<iq type='${rng.pick(["result", "error"])}' from='${rng.pick([HOST, "app.example"])}' id='${id("r")}'><publish-result xmlns='${NS_BRIDGE}'${rng.chance(0.5) ? " timeout='true'" : ""}><iq xmlns='jabber:client' type='error' id='x' from='app.example'><error type='cancel'/></iq></publish-result></iq>`,
        ][variant] as string;
        return { cls: "iq-unanswerable", parts: [xml] };
      },
    ],
    // --- bridge events ---
    [
      14,
      () => {
        const u = user();
        const type = rng.pick(EVENT_TYPES);
        const a: Record<string, string | undefined> = { epoch, seq: String(++seq), type, user: u };
        let inner = "";
        if (type === "offline" || type === "archived" || type === "groupchat-bare" || type === "stanza-queued") inner = message(u);
        if (type === "hibernation-started" || type === "ack-delayed") for (let k = rng.int(0, 3); k > 0; k--) inner += message(u);
        if (type === "archived") a["archive-id"] = id("a");
        if (type !== "offline" && type !== "archived" && type !== "groupchat-bare") a.session = `s-${u}-${rng.int(0, 3)}`;
        if (type === "session-started") a.full = `${u}@${HOST}/r${rng.int(0, 3)}`;
        return { cls: "event-valid", parts: [event(a, inner)] };
      },
    ],
    [1, () => ({ cls: "event-user-deleted", parts: [event({ epoch, seq: String(++seq), type: "user-deleted", user: user() })] })],
    [
      2,
      () => {
        // Publish outcomes (bridge protocol 2), for ids the daemon never sent and with hostile shapes.
        const pid = rng.pick([id("p"), "", esc(rng.text(12)), "x".repeat(5000)]);
        const inner = rng.pick([
          `<iq xmlns='jabber:client' type='result' from='app.example' id='${pid}'/>`,
          `<iq xmlns='jabber:client' type='error' from='app.example' id='${pid}'><error type='${rng.pick(["cancel", "wait", "auth", "bogus"])}'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
          `<iq type='set' from='app.example' id='${pid}'/>`,
          `<iq xmlns='jabber:server' type='result' id='${pid}'/>`,
          `<message xmlns='jabber:client' id='${pid}'/>`,
          "",
        ]);
        const a: Record<string, string | undefined> = {
          epoch,
          seq: String(++seq),
          type: "publish-result",
          publish: rng.chance(0.9) ? pid : undefined,
        };
        if (rng.chance(0.2)) a.timeout = rng.pick(["true", "false", ""]);
        return { cls: "event-publish-result", parts: [event(a, inner)] };
      },
    ],
    [
      3,
      () => ({
        cls: "event-unknown-type",
        parts: [
          event({ epoch, seq: String(++seq), type: rng.pick(["reboot", "", "OFFLINE", esc(rng.text(8))]), user: user() }, message("u1")),
        ],
      }),
    ],
    [3, () => ({ cls: "event-bad-seq", parts: [event({ epoch, seq: rng.pick(BAD_SEQS), type: "offline", user: user() }, message("u1"))] })],
    [
      1,
      () => ({
        cls: "event-duplicate-seq",
        parts: [event({ epoch, seq: String(Math.max(1, seq - rng.int(0, 50))), type: "offline", user: "u1" }, message("u1"))],
      }),
    ],
    [
      2,
      () => {
        const a = rng.pick<Record<string, string | undefined>>([
          { epoch: undefined },
          { user: undefined },
          { type: undefined },
          { seq: undefined },
          { user: "a@b" },
          { user: "x y" },
          { user: "" },
          { session: undefined, type: "session-ended" },
          { type: "session-started", session: "s", full: "evil@elsewhere/r" },
        ]);
        // Without an epoch the event has no place in the sequence, so it takes no seq.
        const at = a.epoch === undefined || a.seq === undefined ? seq + 1 : ++seq;
        return { cls: "event-missing-attrs", parts: [event({ epoch, seq: String(at), type: "offline", user: "u2", ...a }, message("u2"))] };
      },
    ],
    [
      2,
      () => {
        const from = rng.pick(["evil.example", `u1@${HOST}`, `u1@${HOST}/r`, "", `${HOST}.evil`]);
        return {
          cls: "event-wrong-sender",
          parts: [event({ epoch, seq: String(seq + 1000), type: "offline", user: "u1" }, message("u1"), from)],
        };
      },
    ],
    [
      2,
      () => {
        const inner = rng.pick([
          `<message xmlns='urn:evil'/>`,
          `<foo xmlns='jabber:client'/>`,
          message("u1") + message("u1"),
          "",
          `<iq xmlns='jabber:client' type='set'/>`,
        ]);
        return { cls: "event-bad-child", parts: [event({ epoch, seq: String(++seq), type: "offline", user: "u1" }, inner)] };
      },
    ],
    [
      1,
      () => ({
        cls: "event-invalid-utf8",
        parts: [
          `<message from='${HOST}' to='${COMP}'><event xmlns='${NS_BRIDGE}' epoch='${epoch}' seq='${++seq}' type='offline' user='u`,
          rng.pick(BAD_UTF8),
          `'><message xmlns='jabber:client' to='u1@${HOST}'><body>`,
          rng.pick(BAD_UTF8),
          `</body></message></event></message>`,
        ],
      }),
    ],
    [
      1,
      () => ({
        cls: "event-wrong-ns",
        parts: [
          `<message from='${HOST}' to='${COMP}'><event xmlns='urn:cloud-notifyd:bridge:2' epoch='${epoch}' seq='${seq + 1}' type='offline' user='u1'/></message>`,
        ],
      }),
    ],
    [
      2,
      () => {
        const xml = rng.pick([
          `<message type='error' from='${HOST}' to='${COMP}'><error type='cancel'><service-unavailable xmlns='${NS_STANZAS}'/></error></message>`,
          `<presence from='u1@${HOST}/r' to='${COMP}'/>`,
          `<presence type='subscribe' from='evil.example' to='${COMP}'/>`,
          `<foo xmlns='jabber:component:accept'/>`,
          `<message from='${HOST}' to='${COMP}'><body>not an event</body></message>`,
          `<handshake>x</handshake>`,
          `<stream:features/>`,
        ]);
        return { cls: "misc-top-level", parts: [xml] };
      },
    ],
    // --- element soup ---
    [30, soup],
  ];
  const totalWeight = gens.reduce((n, [w]) => n + w, 0);

  function pickOne(): Generated {
    let r = rng.next() * totalWeight;
    for (const [w, gen] of gens) {
      r -= w;
      if (r < 0) return gen();
    }
    return soup();
  }

  return {
    /** FUZZ_ONLY=<regex of class names> restricts the mix (diagnostics). */
    next(): Generated {
      const only = process.env.FUZZ_ONLY;
      if (only !== undefined) {
        for (;;) {
          const g = pickOne();
          if (new RegExp(only).test(g.cls)) return g;
        }
      }
      return pickOne();
    },
    get seq() {
      return seq;
    },
    nextSeq: () => ++seq,
    id,
    get validEnables() {
      return validEnables;
    },
  };
}

/** Input that must end the stream: oversize, not well-formed, restricted XML (RFC 6120 §11.1), illegal entity. */
const KILLERS: Array<{ name: string; condition: string; make: () => string }> = [
  {
    name: "oversize 1.1 MiB message",
    condition: "policy-violation",
    make: () => `<message from='${HOST}' to='${COMP}'><body>${"A".repeat(1100 * 1024)}</body></message>`,
  },
  {
    name: "oversize 2 MiB attribute",
    condition: "policy-violation",
    make: () => `<iq type='get' from='${HOST}' id='big' a='${"B".repeat(2 * 1024 * 1024)}'/>`,
  },
  {
    name: "DOCTYPE with an entity",
    condition: "restricted-xml",
    make: () => `<!DOCTYPE x [<!ENTITY boom 'b'>]><iq type='get' from='${HOST}' id='dt'/>`,
  },
  { name: "processing instruction", condition: "restricted-xml", make: () => `<?php evil ?><iq type='get' from='${HOST}' id='pi'/>` },
  { name: "comment", condition: "restricted-xml", make: () => `<message from='${HOST}' to='${COMP}'><!-- c --></message>` },
  {
    name: "second stream header",
    condition: "bad-format",
    make: () => `<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='again'>`,
  },
  { name: "mismatched end tag", condition: "not-well-formed", make: () => `<iq type='get' from='${HOST}' id='mm'><a></b></iq>` },
  {
    name: "illegal entity",
    condition: "not-well-formed",
    make: () => `<message from='${HOST}' to='${COMP}'><body>&bogus;</body></message>`,
  },
  {
    name: "oversize 1.5 MiB request",
    condition: "policy-violation",
    make: () => `<iq type='set' from='${HOST}' id='bigreq'><request xmlns='${NS_BRIDGE}'><x>${"C".repeat(1536 * 1024)}</x></request></iq>`,
  },
];

function checkReply(exp: Expect, reply: Element): string | null {
  const type = reply.attrs.type;
  const errorOf = (el: Element): string => {
    const error = el.getChild("error");
    const cond = error?.children.find((c): c is Element => typeof c !== "string" && c.attrs.xmlns === NS_STANZAS && c.name !== "text");
    return `${error?.attrs.type ?? "?"}/${cond?.name ?? "?"}`;
  };
  switch (exp.kind) {
    case "any":
      return type === "result" || type === "error" ? null : `type ${type}`;
    case "result":
      return type === "result" ? null : `wanted result, got ${type} ${errorOf(reply)}`;
    case "error": {
      if (type !== "error") return `wanted error ${exp.type}/${exp.condition}, got ${type}`;
      const got = errorOf(reply);
      return got === `${exp.type}/${exp.condition}` ? null : `wanted ${exp.type}/${exp.condition}, got ${got}`;
    }
    case "response": {
      if (type !== "result") return `wanted result with response, got ${type} ${errorOf(reply)}`;
      const inner = reply.getChild("response", NS_BRIDGE)?.getChild("iq");
      if (inner === undefined) return "result without response/iq";
      if (exp.condition === null)
        return inner.attrs.type === "result" ? null : `wanted inner result, got ${inner.attrs.type} ${errorOf(inner)}`;
      if (inner.attrs.type !== "error") return `wanted inner error ${exp.condition}, got ${inner.attrs.type}`;
      const got = errorOf(inner);
      return got === `modify/${exp.condition}` ? null : `wanted modify/${exp.condition}, got ${got}`;
    }
    default:
      return "unknown expectation";
  }
}

describe("component stream fuzz (compiled binary)", () => {
  let bridge: FakeBridge;
  let daemon: Daemon;
  const rss = { start: 0, end: 0, ran: false };

  beforeAll(async () => {
    await ensureBinary();
    bridge = await startFakeBridge({ secret: SECRET, host: HOST, componentDomain: COMP, epoch: "fuzz-epoch-1" });
    daemon = await startDaemon({
      env: {
        CLOUD_NOTIFYD_HOST: HOST,
        CLOUD_NOTIFYD_COMPONENT_DOMAIN: COMP,
        CLOUD_NOTIFYD_COMPONENT_PORT: String(bridge.port),
        CLOUD_NOTIFYD_COMPONENT_SECRET: SECRET,
        CLOUD_NOTIFYD_ADMIN_TOKEN: TOKEN,
        CLOUD_NOTIFYD_LOG_LEVEL: "error",
      },
    });
    await daemon.waitReady();
  }, 30000);

  afterAll(async () => {
    if (daemon && daemon.proc.exitCode === null) await daemon.kill9();
    await bridge?.close();
  });

  test(`≥ ${TOTAL} hostile stanzas: never exits, every IQ answered correctly, reconnects after stream-killing input, still works after`, async () => {
    const rng = createRng(SEED);
    console.log(`component-stream fuzz: seed ${SEED} (replay with FUZZ_SEED=${SEED}), ${TOTAL} stanzas`);
    const gen = createGenerator(rng, bridge.epoch);
    const pending = new Map<string, Expect>();
    const failures: string[] = [];
    const classes = new Map<string, number>();
    let answered = 0;
    let unexpectedReplies = 0;
    let failureCount = 0;
    bridge.onStanza((el) => {
      if (el.name !== "iq") return;
      const id = String(el.attrs.id);
      const exp = pending.get(id);
      if (exp === undefined) {
        if (el.attrs.type === "result" || el.attrs.type === "error") unexpectedReplies += 1;
        return;
      }
      pending.delete(id);
      answered += 1;
      const problem = checkReply(exp, el);
      if (problem !== null) {
        failureCount += 1;
        if (failures.length < 20) failures.push(`${id}: ${problem}: ${el.toString().slice(0, 400)}`);
      }
    });

    let conn: BridgeConnection = await bridge.ready();
    const rssStart = await rssKb(daemon.proc.pid);
    let rssWarm = 0;
    let sent = 0;
    let sentBytes = 0;
    let tracked = 0;
    let reconnects = 0;
    const killerEvery = Math.floor(TOTAL / BATCH / (KILLERS.length + 1));
    const killersToSend = [...KILLERS];
    const started = Date.now();
    const sentById = new Map<string, string>(); // id → class, for diagnostics of unanswered IQs

    for (let batchNo = 0; sent < TOTAL; batchNo++) {
      const chunks: Uint8Array[] = [];
      const encoder = new TextEncoder();
      for (let i = 0; i < BATCH && sent < TOTAL; i++, sent++) {
        const g = gen.next();
        classes.set(g.cls, (classes.get(g.cls) ?? 0) + 1);
        if (g.expect !== undefined) {
          pending.set(g.expect.id, g.expect);
          sentById.set(g.expect.id, g.cls);
          tracked += 1;
        }
        for (const p of g.parts) {
          const bytes = typeof p === "string" ? encoder.encode(p) : p;
          chunks.push(bytes);
          sentBytes += bytes.length;
        }
      }
      // A request IQ goes through the daemon's serial event queue: its answer means the whole batch was handled.
      const syncId = gen.id("sync");
      pending.set(syncId, { id: syncId, kind: "response", condition: "bad-request" });
      sentById.set(syncId, "sync");
      tracked += 1;
      chunks.push(
        encoder.encode(
          `<iq type='set' from='${HOST}' to='${COMP}' id='${syncId}'><request xmlns='${NS_BRIDGE}' user='u0' session='s' full='u0@${HOST}/r'><iq xmlns='jabber:client' type='set' id='x'><enable xmlns='${NS_PUSH}'/></iq></request></iq>`,
        ),
      );
      expect(conn.write(Buffer.concat(chunks))).toBe(true);
      await conn.drained();
      try {
        await waitFor(() => pending.size === 0 || daemon.proc.exitCode !== null, 20000, "replies to every tracked IQ");
      } catch {
        const missing = [...pending.keys()].slice(0, 10).map((id) => `${id} (${sentById.get(id)})`);
        throw new Error(
          `IQs left unanswered after batch ${batchNo}: ${pending.size}, e.g. ${missing.join(", ")}\n${daemon.logs().slice(-2000)}`,
        );
      }
      expect(daemon.proc.exitCode).toBeNull();
      sentById.clear();
      if (batchNo === 1) rssWarm = await rssKb(daemon.proc.pid);
      if (process.env.FUZZ_VERBOSE) {
        const heap = /cloud_notifyd_heap_used_bytes (\d+)/.exec(await (await fetch(daemon.url("/metrics"))).text())?.[1];
        console.log(`batch ${batchNo}: sent ${sent}, VmRSS ${await rssKb(daemon.proc.pid)} kB, heap ${Math.round(Number(heap) / 1024)} kB`);
      }

      // Stream-killing input between batches (after every reply of the batch arrived).
      if (killerEvery > 0 && batchNo % killerEvery === killerEvery - 1 && killersToSend.length > 0) {
        const killer = killersToSend.shift()!;
        const before = conn;
        before.write(killer.make());
        await Promise.race([before.closedPromise, Bun.sleep(10000)]);
        expect(before.closed).toBe(true);
        expect(before.streamErrors).toContain(killer.condition);
        conn = await bridge.ready(before.index, 15000);
        reconnects += 1;
      }
    }
    expect(killersToSend).toEqual([]);

    // Afterwards: a valid enable still works (and is stored), a valid event is still acknowledged.
    const finalId = gen.id("final");
    const reply = new Promise<Element>((ok) => {
      const off = bridge.onStanza((el) => {
        if (el.name === "iq" && el.attrs.id === finalId) {
          off();
          ok(el);
        }
      });
    });
    conn.write(
      `<iq type='set' from='${HOST}' to='${COMP}' id='${finalId}'><request xmlns='${NS_BRIDGE}' user='final' session='sf' full='final@${HOST}/phone'>` +
        `<iq xmlns='jabber:client' type='set' id='cf'><enable xmlns='${NS_PUSH}' jid='push.app.example' node='final-node'/></iq></request></iq>`,
    );
    const finalReply = await Promise.race([reply, Bun.sleep(5000).then(() => null)]);
    expect(finalReply?.attrs.type).toBe("result");
    const response = finalReply?.getChild("response", NS_BRIDGE);
    expect(response?.attrs.bound).toBe("push.app.example<final-node");
    expect(response?.getChild("iq")?.attrs.type).toBe("result");
    const regs = await fetch(daemon.url("/api/v1/users/final/registrations"), { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(regs.status).toBe(200);
    const body = (await regs.json()) as { registrations: Array<{ identifier: string }> };
    expect(body.registrations.map((r) => r.identifier)).toEqual(["push.app.example<final-node"]);

    const lastSeq = gen.nextSeq(); // the next in the sequence (a jump would be answered by a resync)
    conn.write(
      `<message from='${HOST}' to='${COMP}'><event xmlns='${NS_BRIDGE}' epoch='${bridge.epoch}' seq='${lastSeq}' type='offline' user='final'><message xmlns='jabber:client' to='final@${HOST}' id='last'><body>x</body></message></event></message>`,
    );
    await waitFor(() => (bridge.acks.get(bridge.epoch) ?? 0) >= lastSeq, 5000, `ack of seq ${lastSeq}`);
    await waitFor(() => bridge.publishes.some((p) => p.attrs.to === "push.app.example"), 5000, "publish for the final registration");

    const rssPeak = await rssKb(daemon.proc.pid);
    await Bun.sleep(3000);
    const rssEnd = await rssKb(daemon.proc.pid);
    if (process.env.FUZZ_VERBOSE) {
      const m = await (await fetch(daemon.url("/metrics"))).text();
      console.log(
        m
          .split("\n")
          .filter((l) => /^(process_|cloud_notifyd_(heap|event_backlog|pending|cached))/.test(l))
          .join("\n"),
      );
      console.log(
        `metrics ${m.length} bytes; totals ${await (await fetch(daemon.url("/api/v1/totals"), { headers: { authorization: `Bearer ${TOKEN}` } })).text()}`,
      );
      console.log(
        m
          .split("\n")
          .filter((l) => !l.startsWith("#"))
          .slice(0, 80)
          .join("\n"),
      );
    }
    if (process.env.FUZZ_VERBOSE)
      for (let i = 0; i < 12; i++) {
        await Bun.sleep(1000);
        console.log(`idle ${i + 1} s: VmRSS ${await rssKb(daemon.proc.pid)} kB`);
      }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const metricsText = await (await fetch(daemon.url("/metrics"))).text();
    const counter = (name: string) => Number(metricsText.match(new RegExp(`^${name} ([0-9]+)`, "m"))?.[1] ?? 0);
    console.log(
      `component-stream fuzz bridge: ${counter("cloud_notifyd_bridge_refused_events_total")} events refused (acknowledged), ${counter("cloud_notifyd_bridge_resyncs_total")} resyncs`,
    );
    console.log(
      `component-stream fuzz: ${sent} stanzas (${(sentBytes / 1048576).toFixed(1)} MiB) in ${seconds} s, ${tracked} tracked IQs, ${answered} answered, ` +
        `${failureCount} wrong answers, ${unexpectedReplies} replies to untracked IQs, ${reconnects} stream-killing inputs → reconnects, ` +
        `${gen.validEnables} valid enables, ${bridge.publishes.length} publishes; VmRSS start ${rssStart} kB, after warm-up ${rssWarm} kB, at the end ${rssPeak} kB, after 3 s idle ${rssEnd} kB`,
    );
    console.log(`component-stream fuzz classes: ${[...classes].map(([k, v]) => `${k}=${v}`).join(" ")}`);
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(TOTAL);
    expect(answered).toBe(tracked);
    expect(reconnects).toBe(KILLERS.length);
    expect(bridge.connections.filter((c) => c.authenticated).length).toBe(KILLERS.length + 1);
    rss.start = rssStart;
    rss.end = rssEnd;
    rss.ran = true;
    expect(daemon.proc.exitCode).toBeNull();
    expect((await fetch(daemon.url("/healthz"))).status).toBe(200);
  }, 90000);

  test(`VmRSS grows by less than ${RSS_LIMIT_KB / 1024} MB over the fuzz run`, () => {
    expect(rss.ran).toBe(true);
    expect(rss.end - rss.start).toBeLessThan(RSS_LIMIT_KB);
  });
});
