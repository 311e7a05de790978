import { describe, expect, test } from "bun:test";
import { parse } from "ltx";

import { accountFeatures } from "../../src/core/features.ts";
import { extensionsFor, PRIORITY_EXTENSION } from "../../src/core/pipeline.ts";
import { initState } from "../../src/core/state.ts";
import { encryptExtension, encryptText, parseEncrypt } from "../../src/core/extensions/encrypt.ts";
import { cutUtf8, ENCRYPTED_MESSAGE_TEXT, encodedLength, fitJson, payloadOf } from "../../src/core/extensions/payload.ts";
import { FILTERS_EXTENSION, parseFilters } from "../../src/core/extensions/filters.ts";
import { seededRandom } from "../../src/core/extensions/random.ts";
import type { CoreConfig, Publish, PushEncryption, PushFilters, XmlNode } from "../../src/core/types.ts";
import { publishAsHostText } from "../../src/xmpp/render-text.ts";
import { renderPublishAsHost } from "../helpers/publish-as-host-tree.ts";
import { parseInbound } from "../../src/xmpp/parse-bridge.ts";
import { openPayload } from "../helpers/decrypting-app-service.ts";
import {
  APP,
  chat,
  config,
  copyOf,
  enableEl,
  HOST,
  load,
  only,
  publishes,
  registration,
  requestEnable,
  run,
  SEED,
  sessionRef,
  started,
  xml,
} from "./harness.ts";

const KEY = Buffer.alloc(16, 7).toString("base64");
const ENC: PushEncryption = { alg: "aes-128-gcm", key: KEY, maxSize: null };
const ON: Partial<CoreConfig> = { pushEncryption: true, pushFilters: true };

function stateOn(over: Partial<CoreConfig> = {}, regs = [registration("alice", APP, "n1", { encryption: ENC })]) {
  const state = initState(config({ ...ON, ...over }), { idSeed: SEED });
  load(state, "alice", regs);
  return state;
}

function encryptedOf(p: Publish | undefined): XmlNode {
  const el = p?.payload.find((n) => n.name === "encrypted");
  if (el === undefined) throw new Error("no <encrypted> in the publish");
  return el;
}

function open(p: Publish | undefined, key = KEY): Record<string, unknown> {
  const el = encryptedOf(p);
  return JSON.parse(openPayload(key, el.attrs.iv ?? "", String(el.children[0]))) as Record<string, unknown>;
}

const msg = (inner: string, attrs = `from="bob@example.net/phone" type="chat"`) =>
  xml(`<message xmlns="jabber:client" ${attrs} to="alice@${HOST}" id="m">${inner}</message>`);

describe("E1 enable with <encrypt>", () => {
  const enc = (attrs: string, key: string) => `<encrypt xmlns="tigase:push:encrypt:0" ${attrs}>${key}</encrypt>`;

  test("E1 a 16-byte key is stored with the registration (TigaseSwift's shape, with max-size)", () => {
    const state = stateOn({}, []);
    started(state, sessionRef());
    const actions = requestEnable(state, sessionRef(), enableEl(APP, "n1", enc(`alg="aes-128-gcm" max-size="3072"`, KEY)));
    const store = only(actions, "store")[0];
    expect(store?.ops[0]).toMatchObject({ op: "upsert", registration: { encryption: { alg: "aes-128-gcm", key: KEY, maxSize: 3072 } } });
  });

  test("E1 another algorithm is modify/feature-not-implemented and nothing is stored", () => {
    const state = stateOn({}, []);
    const actions = requestEnable(state, sessionRef(), enableEl(APP, "n1", enc(`alg="aes-256-cbc"`, KEY)));
    expect(only(actions, "store")).toEqual([]);
    expect(only(actions, "reply")[0]?.error).toEqual({
      type: "modify",
      condition: "feature-not-implemented",
      text: "Unknown encryption algorithm",
    });
  });

  test("E1 a key that is not base64 of 16 bytes is modify/bad-request; so is a bad max-size", () => {
    for (const [attrs, key] of [
      [`alg="aes-128-gcm"`, Buffer.alloc(15).toString("base64")],
      [`alg="aes-128-gcm"`, Buffer.alloc(32).toString("base64")],
      [`alg="aes-128-gcm"`, "not base64!!"],
      [`alg="aes-128-gcm"`, ""],
      [`alg="aes-128-gcm" max-size="0"`, KEY],
      [`alg="aes-128-gcm" max-size="-5"`, KEY],
    ] as const) {
      const parsed = parseEncrypt(enableEl(APP, "n1", enc(attrs, key)));
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.error.condition).toBe("bad-request");
    }
  });

  test("E1 with push_encryption off the <encrypt> child is ignored (plain registration)", () => {
    const state = initState(config(), { idSeed: SEED });
    const actions = requestEnable(state, sessionRef(), enableEl(APP, "n1", enc(`alg="aes-256-cbc"`, KEY)));
    const reg = only(actions, "store")[0]?.ops[0];
    expect(reg?.op).toBe("upsert");
    if (reg?.op === "upsert") expect(reg.registration.encryption).toBeUndefined();
  });
});

describe("E1 encrypted publish", () => {
  test("E1 E1.1 the summary form is dropped; <encrypted iv> opens with the client's key and a real GCM tag", () => {
    const state = stateOn();
    const pub = publishes(run(state, { type: "offline", now: 1, user: "alice", copy: chat("m1", "hello") }))[0];
    expect(pub?.omitSummary).toBe(true);
    expect(pub?.important).toBe(true);
    const el = encryptedOf(pub);
    expect(Buffer.from(el.attrs.iv ?? "", "base64")).toHaveLength(12);
    expect(el.attrs.type).toBeUndefined();
    expect(open(pub)).toEqual({ unread: 1, sender: "bob@example.net", message: "hello", type: "chat" });
    const data = Buffer.from(String(el.children[0]), "base64");
    expect(data.subarray(data.length - 16).equals(Buffer.alloc(16))).toBe(false); // not Prosody 0.12's zero tag
    data[0] = (data[0] ?? 0) ^ 1;
    expect(() => openPayload(KEY, el.attrs.iv ?? "", data.toString("base64"))).toThrow();
    expect(() => open(pub, Buffer.alloc(16, 8).toString("base64"))).toThrow();
    // both renderers leave the form out and carry the element
    const ctx = { host: HOST, componentDomain: `push.${HOST}`, commandId: "c1" };
    const text = publishAsHostText(pub as Publish, ctx);
    expect(text).not.toContain("jabber:x:data");
    expect(text).toContain(`<encrypted xmlns="tigase:push:encrypt:0" iv="${el.attrs.iv}">`);
    expect(parse(text).toString()).toBe(renderPublishAsHost(pub as Publish, ctx).toString());
  });

  test("E1 unread is the real message count (D9); a plain registration of the same user keeps B26's form", () => {
    const state = stateOn({}, [registration("alice", APP, "n1", { encryption: ENC }), registration("alice", APP, "plain")]);
    run(state, { type: "offline", now: 1, user: "alice", copy: chat("m1") });
    const second = publishes(run(state, { type: "offline", now: 2, user: "alice", copy: chat("m2") }));
    expect(open(second[0])).toMatchObject({ unread: 2 });
    expect(second[1]?.omitSummary).toBeUndefined();
    expect(second[1]?.payload).toEqual([]);
    expect(second[1]?.summary.messageCount).toBe("2");
  });

  test("E1.3 IVs come from the seed: the same seed gives the same IVs, each push a new one", () => {
    const ivs = (seed: string) => {
      const state = initState(config(ON), { idSeed: seed });
      load(state, "alice", [registration("alice", APP, "n1", { encryption: ENC })]);
      return [1, 2, 3].map(
        (i) => encryptedOf(publishes(run(state, { type: "offline", now: i, user: "alice", copy: chat(`m${i}`) }))[0]).attrs.iv,
      );
    };
    const a = ivs(SEED);
    expect(ivs(SEED)).toEqual(a);
    expect(new Set(a).size).toBe(3);
    expect(ivs("f".repeat(64))).not.toEqual(a);
    const r = seededRandom(SEED);
    expect(Buffer.from(r(12)).equals(Buffer.from(r(12)))).toBe(false);
  });

  test("E1 groupchat: type groupchat with the nickname, sender the room", () => {
    const p = payloadOf(msg("<body>hi all</body>", `from="room@muc.example/Bob" type="groupchat"`), 3, true);
    expect(p).toEqual({ unread: 3, sender: "room@muc.example", message: "hi all", type: "groupchat", nickname: "Bob" });
  });

  test("E1 call: a JMI propose (:0 and :1) is type call with sid and media, sender the full JID; the push is voip and important", () => {
    for (const ns of ["urn:xmpp:jingle-message:0", "urn:xmpp:jingle-message:1"]) {
      const propose = msg(
        `<propose xmlns="${ns}" id="sid-1"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"/>` +
          `<description xmlns="urn:xmpp:jingle:apps:rtp:1" media="video"/><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"/></propose>`,
      );
      const state = stateOn();
      const pub = publishes(run(state, { type: "offline", now: 1, user: "alice", copy: copyOf(propose, `c-${ns}`) }))[0];
      expect(encryptedOf(pub).attrs.type).toBe("voip");
      expect(pub?.important).toBe(true);
      expect(open(pub)).toEqual({ unread: 1, sender: "bob@example.net/phone", type: "call", sid: "sid-1", media: ["audio", "video"] });
    }
  });

  test("E1 a presence subscription request is type subscribe; a ping carries only unread", () => {
    expect(payloadOf(xml(`<presence xmlns="jabber:client" from="carol@example.org" type="subscribe"/>`), 1, true)).toEqual({
      unread: 1,
      sender: "carol@example.org",
      type: "subscribe",
    });
    expect(payloadOf(null, 1, true)).toEqual({ unread: 1 });
  });

  test("E1.6 an OMEMO, legacy OMEMO, PGP, OX or EME message gives the fixed text, never any of its ciphertext", () => {
    for (const inner of [
      `<encrypted xmlns="eu.siacs.conversations.axolotl"><payload>CIPHERTEXT</payload></encrypted><body>CIPHERTEXT-FALLBACK</body>`,
      `<encrypted xmlns="urn:xmpp:omemo:2"><payload>CIPHERTEXT</payload></encrypted>`,
      `<x xmlns="jabber:x:encrypted">CIPHERTEXT</x><body>CIPHERTEXT-FALLBACK</body>`,
      `<openpgp xmlns="urn:xmpp:openpgp:0">CIPHERTEXT</openpgp>`,
      `<encryption xmlns="urn:xmpp:eme:0" namespace="urn:xmpp:otr:0"/><body>?OTR:CIPHERTEXT</body>`,
    ]) {
      const p = payloadOf(msg(inner), 1, true);
      expect(p.message).toBe(ENCRYPTED_MESSAGE_TEXT);
      expect(JSON.stringify(p)).not.toContain("CIPHERTEXT");
    }
  });

  test("E1 the body is cut to 255 bytes on a UTF-8 boundary", () => {
    const body = "é".repeat(200); // 400 bytes
    const p = payloadOf(msg(`<body>${body}</body>`), 1, true);
    expect(Buffer.byteLength(p.message ?? "")).toBe(254);
    expect(p.message).toBe("é".repeat(127));
    expect(cutUtf8("a😀b", 4)).toBe("a");
    expect(cutUtf8("a😀b", 5)).toBe("a😀");
  });

  test("E1.2 max-size bounds the encoded payload: the message is cut further, then left out", () => {
    const payload = payloadOf(msg(`<body>${"x".repeat(250)}</body>`), 1, true);
    for (const max of [400, 200, 120, 60]) {
      const json = fitJson(payload, max);
      const fits = encodedLength(Buffer.byteLength(json)) <= max;
      expect(fits || !json.includes("message")).toBe(true);
      expect(JSON.parse(json)).toMatchObject({ unread: 1, type: "chat" });
    }
    expect(JSON.parse(fitJson(payload, 200)).message.length).toBeGreaterThan(50);
    const state = stateOn({}, [registration("alice", APP, "n1", { encryption: { ...ENC, maxSize: 160 } })]);
    const pub = publishes(run(state, { type: "offline", now: 1, user: "alice", copy: chat("m1", "y".repeat(255)) }))[0];
    expect(String(encryptedOf(pub).children[0]).length).toBeLessThanOrEqual(160);
    expect(open(pub)).toMatchObject({ sender: "bob@example.net", type: "chat" });
  });

  test("E1.5 push_encrypted_preview = false leaves sender, body and nickname out", () => {
    const state = stateOn({ pushEncryptedPreview: false });
    const pub = publishes(run(state, { type: "offline", now: 1, user: "alice", copy: chat("m1", "secret words") }))[0];
    expect(open(pub)).toEqual({ unread: 1, type: "chat" });
    expect(payloadOf(msg("<body>x</body>", `from="room@muc.example/Bob" type="groupchat"`), 1, false)).toEqual({
      unread: 1,
      type: "groupchat",
    });
  });

  test("E1 encryptText is plain AES-128-GCM (no AAD): Node's decipher opens it", () => {
    const iv = new Uint8Array(12).fill(1);
    expect(openPayload(KEY, Buffer.from(iv).toString("base64"), encryptText(KEY, iv, '{"a":1}'))).toBe('{"a":1}');
  });
});

describe("E1.4 calls ring now", () => {
  const propose = (key: string) =>
    copyOf(
      msg(
        `<propose xmlns="urn:xmpp:jingle-message:0" id="${key}"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"/></propose>`,
      ),
      key,
    );

  test("E1.4 a call queued in a hibernating session goes at once to every registration, not into the batch", () => {
    const state = stateOn({}, [registration("alice", APP, "n1", { encryption: ENC }), registration("alice", APP, "n2")]);
    started(state, sessionRef(), 0, `${APP}<n1`);
    run(state, { type: "hibernation-started", now: 1, user: "alice", sessionId: "s1", queue: [] });
    const actions = run(state, { type: "stanza-queued", now: 2, user: "alice", sessionId: "s1", copy: propose("call-1") });
    expect(only(actions, "schedule")).toEqual([]);
    const pubs = publishes(actions);
    expect(pubs.map((p) => p.identifier)).toEqual([`${APP}<n1`, `${APP}<n2`]);
    expect(encryptedOf(pubs[0]).attrs.type).toBe("voip");
    expect(pubs[1]?.important).toBe(true);
    // the archive path pushing the same stanza is deduplicated (D8)
    expect(publishes(run(state, { type: "archived", now: 3, user: "alice", copy: propose("call-1"), archiveId: "a1" }))).toEqual([]);
    // an ordinary message still waits for the batch (B30)
    const batched = run(state, { type: "stanza-queued", now: 4, user: "alice", sessionId: "s1", copy: chat("m1") });
    expect(publishes(batched)).toEqual([]);
    expect(only(batched, "schedule")).toHaveLength(1);
  });

  test("E1.4 in the ack-delayed and hibernation-start queues too; without an encrypted registration calls batch as before (B30)", () => {
    const state = stateOn();
    started(state, sessionRef(), 0, `${APP}<n1`);
    expect(
      publishes(run(state, { type: "ack-delayed", now: 1, user: "alice", sessionId: "s1", queue: [chat("a"), propose("call-2")] })),
    ).toHaveLength(1);
    const hib = run(state, { type: "hibernation-started", now: 2, user: "alice", sessionId: "s1", queue: [propose("call-3")] });
    expect(publishes(hib).map((p) => encryptedOf(p).attrs.type)).toEqual(["voip"]);
    const plain = stateOn({}, [registration("alice", APP, "n1")]);
    started(plain, sessionRef(), 0, `${APP}<n1`);
    run(plain, { type: "hibernation-started", now: 1, user: "alice", sessionId: "s1", queue: [] });
    const queued = run(plain, { type: "stanza-queued", now: 2, user: "alice", sessionId: "s1", copy: propose("call-4") });
    expect(publishes(queued)).toEqual([]);
    expect(only(queued, "schedule")).toHaveLength(1);
  });

  test("E1 a batched push keeps what the payload needs (body, call id, marker names), never ciphertext", () => {
    const state = stateOn();
    started(state, sessionRef(), 0, `${APP}<n1`);
    run(state, { type: "hibernation-started", now: 1, user: "alice", sessionId: "s1", queue: [] });
    const queuedActions = run(state, {
      type: "stanza-queued",
      now: 2,
      user: "alice",
      sessionId: "s1",
      copy: copyOf(msg(`<encrypted xmlns="urn:xmpp:omemo:2"><payload>CIPHERTEXT</payload></encrypted>`), "o1"),
    });
    const queued = state.users.get("alice")?.sessions.get("s1")?.queue[0];
    expect(JSON.stringify(queued)).not.toContain("CIPHERTEXT");
    const timer = only(queuedActions, "schedule")[0];
    const pub = publishes(run(state, { type: "timer", now: 1002, key: timer?.key ?? "" }))[0];
    expect(open(pub)).toEqual({ unread: 1, sender: "bob@example.net", message: ENCRYPTED_MESSAGE_TEXT, type: "chat" });
  });
});

describe("E3 filters", () => {
  const FILTERS =
    `<ignore-unknown xmlns="tigase:push:filter:ignore-unknown:0"/>` +
    `<muted xmlns="tigase:push:filter:muted:0"><item jid="Spam@Example.org"/><item jid="not a jid@@"/></muted>` +
    `<groupchat xmlns="tigase:push:filter:groupchat:0"><room jid="quiet@muc.example" allow="never"/>` +
    `<room jid="busy@muc.example" allow="mentioned" nick="Alice"/><room jid="x@muc.example" allow="sometimes"/></groupchat>`;
  const filters = (): PushFilters => {
    const parsed = parseFilters(enableEl(APP, "n1", FILTERS));
    if (!parsed.ok || parsed.value === null) throw new Error("no filters");
    return parsed.value;
  };

  test("E3 E3.3 <enable> filters are parsed (TigaseSwift's shape); bad JIDs and unknown allow values are skipped", () => {
    expect(filters()).toEqual({
      ignoreUnknown: true,
      muted: ["spam@example.org"],
      groupchat: [
        { room: "quiet@muc.example", allow: "never", nick: null },
        { room: "busy@muc.example", allow: "mentioned", nick: "Alice" },
      ],
    });
    expect(parseFilters(enableEl(APP, "n1"))).toEqual({ ok: true, value: null });
    const many = `<muted xmlns="tigase:push:filter:muted:0">${Array.from({ length: 1001 }, (_, i) => `<item jid="u${i}@x"/>`).join("")}</muted>`;
    expect(parseFilters(enableEl(APP, "n1", many))).toMatchObject({ ok: false, error: { type: "modify", condition: "not-acceptable" } });
    const state = stateOn({}, []);
    const store = only(requestEnable(state, sessionRef(), enableEl(APP, "n1", FILTERS)), "store")[0];
    expect(store?.ops[0]).toMatchObject({ registration: { filters: filters() } });
  });

  const vetoOf = (copy: ReturnType<typeof chat>) => {
    const state = stateOn({}, [registration("alice", APP, "n1", { filters: filters() })]);
    const actions = run(state, { type: "offline", now: 1, user: "alice", copy });
    return publishes(actions).length > 0 ? null : (only(actions, "history")[0]?.error ?? "?");
  };
  const withContact = (copy: ReturnType<typeof chat>, contact: boolean | undefined) =>
    contact === undefined ? copy : { ...copy, contact };

  test("E3 E3.1 ignore-unknown: the server says stranger → vetoed; contact → pushed; not known → pushed", () => {
    expect(vetoOf(withContact(chat("a"), false))).toBe("filters: unknown sender");
    expect(vetoOf(withContact(chat("b"), true))).toBeNull();
    expect(vetoOf(withContact(chat("c"), undefined))).toBeNull();
  });

  test("E3 muted senders are vetoed by bare JID, whatever the case or resource", () => {
    expect(vetoOf({ ...copyOf(msg("<body>buy</body>", `from="spam@EXAMPLE.org/bot" type="chat"`), "s"), contact: true })).toBe(
      "filters: muted",
    );
  });

  test("E3 E3.2 group chats: never → vetoed; mentioned → only with a mention (reference or nick); unlisted rooms pushed", () => {
    const room = (jid: string, inner: string) => copyOf(msg(inner, `from="${jid}/Bob" type="groupchat"`), `${jid}${inner}`);
    expect(vetoOf(room("quiet@muc.example", "<body>hi</body>"))).toBe("filters: muted group chat");
    expect(vetoOf(room("busy@muc.example", "<body>hi all</body>"))).toBe("filters: not mentioned");
    expect(vetoOf(room("busy@muc.example", "<body>hey alice, look</body>"))).toBeNull();
    expect(
      vetoOf(
        room("busy@muc.example", `<body>hey you</body><reference xmlns="urn:xmpp:reference:0" type="mention" uri="xmpp:alice@${HOST}"/>`),
      ),
    ).toBeNull();
    expect(
      vetoOf(
        room(
          "busy@muc.example",
          `<body>hey you</body><reference xmlns="urn:xmpp:reference:0" type="mention" uri="xmpp:busy@muc.example/Alice"/>`,
        ),
      ),
    ).toBeNull();
    expect(
      vetoOf(room("busy@muc.example", `<body>hey</body><reference xmlns="urn:xmpp:reference:0" type="data" uri="xmpp:alice@${HOST}"/>`)),
    ).toBe("filters: not mentioned");
    expect(vetoOf(room("other@muc.example", "<body>hi</body>"))).toBeNull();
  });

  test("E3 a queued room message keeps its body and mentions and the contact flag for the filters (B30)", () => {
    const state = stateOn({}, [registration("alice", APP, "n1", { filters: filters() })]);
    started(state, sessionRef(), 0, `${APP}<n1`);
    run(state, { type: "hibernation-started", now: 1, user: "alice", sessionId: "s1", queue: [] });
    const copy = {
      ...copyOf(
        msg(
          `<body>x</body><reference xmlns="urn:xmpp:reference:0" type="mention" uri="xmpp:alice@${HOST}"/>`,
          `from="busy@muc.example/Bob" type="groupchat"`,
        ),
        "g1",
      ),
      contact: false,
    };
    run(state, { type: "stanza-queued", now: 2, user: "alice", sessionId: "s1", copy });
    const queued = state.users.get("alice")?.sessions.get("s1")?.queue[0];
    expect(queued?.contact).toBe(false);
    expect(queued?.stanza.children.map((c) => (typeof c === "string" ? c : c.name))).toEqual(["body", "reference"]);
  });
});

describe("E1/E3 wiring", () => {
  test("B2 E1 E2 E3 with every extension on, account disco lists the seven Tigase features", () => {
    const features = accountFeatures(extensionsFor(config({ ...ON, pushPriority: true })));
    expect(features).toEqual([
      "urn:xmpp:push:0",
      "tigase:push:filter:ignore-unknown:0",
      "tigase:push:filter:muted:0",
      "tigase:push:filter:groupchat:0",
      "tigase:push:encrypt:0",
      "tigase:push:encrypt:aes-128-gcm",
      "tigase:push:jingle:0",
      "tigase:push:priority:0",
    ]);
    const list = extensionsFor(config({ ...ON, pushPriority: true }));
    expect(list[0]).toBe(FILTERS_EXTENSION);
    expect(list[2]).toBe(PRIORITY_EXTENSION);
    expect(encryptExtension(seededRandom(SEED)).name).toBe("encrypt");
  });

  test("E2 with encryption: an encrypted important push carries <encrypted> and <priority>high</priority>", () => {
    const state = stateOn({ pushPriority: true });
    const pub = publishes(run(state, { type: "offline", now: 1, user: "alice", copy: chat("m1") }))[0];
    expect(pub?.payload.map((n) => n.name)).toEqual(["encrypted", "priority"]);
  });

  test("E3.1 the bridge's contacts attribute sets each message copy's contact flag; absent leaves it unknown", () => {
    const event = (contacts: string | null) =>
      parse(
        `<message from="${HOST}" to="push.${HOST}"><event xmlns="urn:cloud-notifyd:bridge:1" epoch="e" seq="1" type="hibernation-started" user="alice" session="s1"${contacts === null ? "" : ` contacts="${contacts}"`}>` +
          `<message xmlns="jabber:client" from="Bob@example.net/x" to="alice@${HOST}" id="1"><body>a</body></message>` +
          `<message xmlns="jabber:client" from="eve@example.net/x" to="alice@${HOST}" id="2"><body>b</body></message></event></message>`,
      );
    const flags = (contacts: string | null) => {
      const inbound = parseInbound(event(contacts) as never, { host: HOST, componentDomain: `push.${HOST}`, now: 1 });
      if (inbound.kind !== "event" || inbound.event.type !== "hibernation-started") throw new Error(inbound.kind);
      return inbound.event.queue.map((c) => c.contact);
    };
    expect(flags("bob@example.net")).toEqual([true, false]);
    expect(flags("")).toEqual([false, false]);
    expect(flags(null)).toEqual([undefined, undefined]);
  });
});
