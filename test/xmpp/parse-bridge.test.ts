import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Element, parse } from "ltx";

import type { Event } from "../../src/core/types.ts";
import { type Inbound, parseInbound, refusedEvent } from "../../src/xmpp/parse-bridge.ts";
import { readStanzaError } from "../../src/xmpp/errors.ts";
import { refusalReply } from "../../src/xmpp/refusals.ts";
import { BRIDGE_VERSION, NS_BRIDGE, NS_CLIENT, NS_DISCO_INFO, NS_PUSH } from "../../src/xmpp/ns.ts";

const CTX = { host: "example.com", componentDomain: "push.example.com", now: 1_700_000_000_000 };
const FIXTURES = join(import.meta.dir, "../fixtures/bridge");

function fixture(name: string): Element {
  return parse(readFileSync(join(FIXTURES, name), "utf8")) as Element;
}

function xml(text: string): Element {
  return parse(text) as Element;
}

function inbound(el: Element): Inbound {
  return parseInbound(el, CTX);
}

function eventOf(name: string): { epoch: string; seq: number; event: Event } {
  const r = inbound(fixture(name));
  if (r.kind !== "event") throw new Error(`expected event, got ${JSON.stringify(r)}`);
  return r;
}

/** Asserts a refused event: epoch and seq readable (so the shell acknowledges it), with a reason. */
function expectRefused(r: Inbound): Extract<Inbound, { kind: "refused-event" }> {
  expect(r.kind).toBe("refused-event");
  if (r.kind !== "refused-event") throw new Error("unreachable");
  expect(r.reason.length).toBeGreaterThan(0);
  return r;
}

/** An invalid result, with the error reply its refusal calls for (rendered by refusals.refusalReply). */
function expectInvalid(r: Inbound): Extract<Inbound, { kind: "invalid" }> & { reply: Element | null } {
  expect(r.kind).toBe("invalid");
  if (r.kind !== "invalid") throw new Error("unreachable");
  expect(r.reason.length).toBeGreaterThan(0);
  return { ...r, reply: r.refusal === null ? null : refusalReply(r.refusal) };
}

/** Asserts an invalid result whose reply is an IQ error with this type/condition, addressed back. */
function expectErrorReply(r: Inbound, type: string, condition: string, to: string, id: string): void {
  const { reply } = expectInvalid(r);
  expect(reply).not.toBeNull();
  if (reply === null) return;
  expect(reply.name).toBe("iq");
  expect(reply.attrs.type).toBe("error");
  expect(reply.attrs.to).toBe(to);
  expect(reply.attrs.id).toBe(id);
  const err = readStanzaError(reply);
  expect(err?.type).toBe(type);
  expect(err?.condition).toBe(condition);
}

const EVT = (attrs: string, children = "") =>
  xml(`<message from='example.com' to='push.example.com'><event xmlns='${NS_BRIDGE}' ${attrs}>${children}</event></message>`);
const MSG = `<message xmlns='jabber:client' from='bob@example.net/x' to='alice@example.com' id='z1'><body>x</body></message>`;

describe("bridge events (bridge-protocol.md §2)", () => {
  test("offline event carries epoch, seq, user and the stanza copy with its D8 key", () => {
    const r = eventOf("event-offline.xml");
    expect(r.epoch).toBe("k3j2");
    expect(r.seq).toBe(42);
    const e = r.event;
    if (e.type !== "offline") throw new Error(e.type);
    expect(e.now).toBe(CTX.now);
    expect(e.user).toBe("alice@example.com"); // issue 13: users are bare JIDs inside the daemon
    expect(e.copy.stanza.name).toBe("message");
    expect(e.copy.stanza.attrs.id).toBe("m-1");
    expect(e.copy.stanza.attrs.xmlns).toBe(NS_CLIENT);
    expect(e.copy.key).toBe("o:bob@example.net:orig-1");
  });

  test("archived event carries the archive id", () => {
    const e = eventOf("event-archived.xml").event;
    if (e.type !== "archived") throw new Error(e.type);
    expect(e.user).toBe("alice@example.com"); // issue 13: users are bare JIDs inside the daemon
    expect(e.archiveId).toBe("arch-9");
    expect(e.copy.key).toBe("o:bob@example.net:orig-1");
  });

  test("archived event without archive-id gives archiveId null", () => {
    const r = inbound(EVT("epoch='e' seq='1' type='archived' user='alice'", MSG));
    if (r.kind !== "event" || r.event.type !== "archived") throw new Error(JSON.stringify(r));
    expect(r.event.archiveId).toBeNull();
  });

  test("groupchat-bare event", () => {
    const e = eventOf("event-groupchat-bare.xml").event;
    if (e.type !== "groupchat-bare") throw new Error(e.type);
    expect(e.user).toBe("alice@example.com"); // issue 13: users are bare JIDs inside the daemon
    expect(e.copy.stanza.attrs.type).toBe("groupchat");
    expect(e.copy.key).toBe("i:room@muc.example.net:g-7");
  });

  test("session-started event gives the session identity with client id", () => {
    const r = eventOf("event-session-started.xml");
    expect(r.seq).toBe(1);
    expect(r.event).toEqual({
      type: "session-started",
      now: CTX.now,
      session: { user: "alice@example.com", sessionId: "c2s55a", fullJid: "alice@example.com/phone", clientId: "sasl2-client-1" },
    });
  });

  test("session-started without client-id gives clientId null", () => {
    const r = inbound(EVT("epoch='e' seq='9' type='session-started' user='alice' session='s' full='alice@example.com/r'"));
    if (r.kind !== "event" || r.event.type !== "session-started") throw new Error(JSON.stringify(r));
    expect(r.event.session.clientId).toBeNull();
  });

  test("session-ended event", () => {
    expect(eventOf("event-session-ended.xml").event).toEqual({
      type: "session-ended",
      now: CTX.now,
      user: "alice@example.com",
      sessionId: "c2s55a",
    });
  });

  test("hibernation-started event carries the unacked queue in order", () => {
    const e = eventOf("event-hibernation-started.xml").event;
    if (e.type !== "hibernation-started") throw new Error(e.type);
    expect(e.sessionId).toBe("c2s55a");
    expect(e.queue.map((c) => c.stanza.name)).toEqual(["message", "presence"]);
    expect(e.queue[0]?.key).toBe("i:bob@example.net:q-1");
    expect(e.queue[1]?.key).toMatch(/^d:[0-9a-f]{32}$/);
  });

  test("hibernation-started with an empty queue", () => {
    const r = inbound(EVT("epoch='e' seq='2' type='hibernation-started' user='alice' session='s'"));
    if (r.kind !== "event" || r.event.type !== "hibernation-started") throw new Error(JSON.stringify(r));
    expect(r.event.queue).toEqual([]);
  });

  test("stanza-queued event", () => {
    const e = eventOf("event-stanza-queued.xml").event;
    if (e.type !== "stanza-queued") throw new Error(e.type);
    expect(e.sessionId).toBe("c2s55a");
    expect(e.copy.key).toBe("o:bob@example.net:orig-1");
  });

  test("ack-delayed event carries the queue", () => {
    const e = eventOf("event-ack-delayed.xml").event;
    if (e.type !== "ack-delayed") throw new Error(e.type);
    expect(e.queue.map((c) => c.key)).toEqual(["i:bob@example.net:a-1", "i:bob@example.net:a-2", "i:bob@example.net:a-3"]);
  });

  test("hibernation-ended event", () => {
    expect(eventOf("event-hibernation-ended.xml").event).toEqual({
      type: "hibernation-ended",
      now: CTX.now,
      user: "alice@example.com",
      sessionId: "c2s55a",
    });
  });

  test("user-deleted event", () => {
    expect(eventOf("event-user-deleted.xml").event).toEqual({ type: "user-deleted", now: CTX.now, user: "alice@example.com" });
  });

  test("a stanza copy without xmlns gets jabber:client (the core reads xmlns attributes)", () => {
    const r = inbound(EVT("epoch='e' seq='3' type='offline' user='alice'", "<message from='b@x' id='q'><body>x</body></message>"));
    if (r.kind !== "event" || r.event.type !== "offline") throw new Error(JSON.stringify(r));
    expect(r.event.copy.stanza.attrs.xmlns).toBe(NS_CLIENT);
  });

  test("host comparison ignores case", () => {
    const r = parseInbound(fixture("event-user-deleted.xml"), { ...CTX, host: "Example.COM" });
    expect(r.kind).toBe("event");
  });
});

describe("malformed events are invalid with a reason and no reply", () => {
  const cases: Array<[string, Element]> = [
    [
      "event from another sender",
      xml(
        `<message from='evil.example' to='push.example.com'><event xmlns='${NS_BRIDGE}' epoch='e' seq='1' type='user-deleted' user='alice'/></message>`,
      ),
    ],
    [
      "event from a user of the host",
      xml(
        `<message from='alice@example.com/x' to='push.example.com'><event xmlns='${NS_BRIDGE}' epoch='e' seq='1' type='user-deleted' user='alice'/></message>`,
      ),
    ],
    [
      "event without from",
      xml(`<message to='push.example.com'><event xmlns='${NS_BRIDGE}' epoch='e' seq='1' type='user-deleted' user='alice'/></message>`),
    ],
    [
      "event in the wrong namespace",
      xml(
        `<message from='example.com'><event xmlns='urn:cloud-notifyd:bridge:2' epoch='e' seq='1' type='user-deleted' user='alice'/></message>`,
      ),
    ],
    ["event without namespace", xml(`<message from='example.com'><event epoch='e' seq='1' type='user-deleted' user='alice'/></message>`)],
    ["missing epoch", EVT("seq='1' type='user-deleted' user='alice'")],
    ["empty epoch", EVT("epoch='' seq='1' type='user-deleted' user='alice'")],
    ["missing seq", EVT("epoch='e' type='user-deleted' user='alice'")],
    ["non-numeric seq", EVT("epoch='e' seq='4x' type='user-deleted' user='alice'")],
    ["negative seq", EVT("epoch='e' seq='-1' type='user-deleted' user='alice'")],
    ["zero seq", EVT("epoch='e' seq='0' type='user-deleted' user='alice'")],
    ["fractional seq", EVT("epoch='e' seq='1.5' type='user-deleted' user='alice'")],
    ["huge seq", EVT("epoch='e' seq='99999999999999999999' type='user-deleted' user='alice'")],
    ["missing type", EVT("epoch='e' seq='1' user='alice'")],
    ["unknown type", EVT("epoch='e' seq='1' type='exploded' user='alice'")],
    ["missing user", EVT("epoch='e' seq='1' type='user-deleted'")],
    ["user with @", EVT("epoch='e' seq='1' type='user-deleted' user='a@b'")],
    ["offline without stanza", EVT("epoch='e' seq='1' type='offline' user='alice'")],
    ["offline with two stanzas", EVT("epoch='e' seq='1' type='offline' user='alice'", MSG + MSG)],
    ["offline with a presence", EVT("epoch='e' seq='1' type='offline' user='alice'", "<presence xmlns='jabber:client'/>")],
    ["archived without stanza", EVT("epoch='e' seq='1' type='archived' user='alice' archive-id='a'")],
    ["groupchat-bare without stanza", EVT("epoch='e' seq='1' type='groupchat-bare' user='alice'")],
    ["stanza copy in a wrong namespace", EVT("epoch='e' seq='1' type='offline' user='alice'", "<message xmlns='jabber:server' id='x'/>")],
    ["a non-stanza child", EVT("epoch='e' seq='1' type='offline' user='alice'", "<foo xmlns='jabber:client'/>")],
    ["session-started without session", EVT("epoch='e' seq='1' type='session-started' user='alice' full='alice@example.com/r'")],
    ["session-started without full", EVT("epoch='e' seq='1' type='session-started' user='alice' session='s'")],
    ["session-started with a bare full", EVT("epoch='e' seq='1' type='session-started' user='alice' session='s' full='alice@example.com'")],
    [
      "session-started with a bad full",
      EVT("epoch='e' seq='1' type='session-started' user='alice' session='s' full='al ice@example.com/r'"),
    ],
    [
      "session-started with another user's full",
      EVT("epoch='e' seq='1' type='session-started' user='alice' session='s' full='bob@example.com/r'"),
    ],
    [
      "session-started with another domain's full",
      EVT("epoch='e' seq='1' type='session-started' user='alice' session='s' full='alice@example.org/r'"),
    ],
    ["session-ended without session", EVT("epoch='e' seq='1' type='session-ended' user='alice'")],
    ["hibernation-started without session", EVT("epoch='e' seq='1' type='hibernation-started' user='alice'")],
    ["stanza-queued without session", EVT("epoch='e' seq='1' type='stanza-queued' user='alice'", MSG)],
    ["stanza-queued without stanza", EVT("epoch='e' seq='1' type='stanza-queued' user='alice' session='s'")],
    ["ack-delayed without session", EVT("epoch='e' seq='1' type='ack-delayed' user='alice'")],
    ["hibernation-ended without session", EVT("epoch='e' seq='1' type='hibernation-ended' user='alice'")],
    ["message without event", xml("<message from='example.com' to='push.example.com'><body>hi</body></message>")],
    [
      "error message",
      xml(
        "<message type='error' from='example.com'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
      ),
    ],
    ["presence", xml("<presence from='example.com' to='push.example.com'/>")],
    ["stream-level element", xml("<handshake/>")],
    ["stanza in a foreign namespace", xml("<message xmlns='urn:example:other' from='example.com'/>")],
  ];
  // With a readable epoch and seq the event is refused, not merely invalid: the shell acknowledges
  // it (one hostile stanza must never be replayed forever, bridge-protocol.md §2).
  const REFUSED_FROM = cases.findIndex(([name]) => name === "missing type");
  const REFUSED_TO = cases.findIndex(([name]) => name === "message without event");
  cases.forEach(([name, el], i) => {
    const refused = i >= REFUSED_FROM && i < REFUSED_TO;
    test(refused ? `${name}: refused with its epoch and seq, no reply` : name, () => {
      const r = inbound(el);
      if (refused) {
        expect(r).toMatchObject({ kind: "refused-event", epoch: "e", seq: 1 });
        expect(r.kind === "refused-event" && r.reason.length > 0).toBe(true);
      } else {
        expect(expectInvalid(r).reply).toBeNull();
      }
    });
  });
});

describe("offline-pending events (D21) and stanzas the stream parser cut", () => {
  test("D21 offline-pending becomes one core event per user, with the newest stored message", () => {
    const r = inbound(
      EVT(
        "epoch='e' seq='4' type='offline-pending'",
        `<pending xmlns='${NS_BRIDGE}' user='alice' count='3' latest='1700000000000'>${MSG}</pending>` +
          `<pending xmlns='${NS_BRIDGE}' user='bob' count='1' latest='1700000001000'/>`,
      ),
    );
    if (r.kind !== "event-batch") throw new Error(JSON.stringify(r));
    expect(r.seq).toBe(4);
    expect(r.events.map((e) => e.type === "offline-pending" && [e.user, e.count, e.latestAt, e.lastPushAt, e.copy !== null])).toEqual([
      ["alice@example.com", 3, 1700000000000, null, true],
      ["bob@example.com", 1, 1700000001000, null, false],
    ]);
  });

  test("D21 offline-pending with a bad user is refused, not taken", () => {
    const r = inbound(EVT("epoch='e' seq='4' type='offline-pending'", `<pending xmlns='${NS_BRIDGE}' user='a@b' count='1' latest='1'/>`));
    expect(r).toMatchObject({ kind: "refused-event", seq: 4 });
  });

  test("a bridge event the stream parser cut (too deep) is refused with its epoch and seq", () => {
    const el = EVT("epoch='e' seq='9' type='offline' user='alice'", MSG);
    expect(refusedEvent(el, "stanza nesting exceeds 64", CTX)).toMatchObject({ kind: "refused-event", epoch: "e", seq: 9 });
    const other = xml("<message from='evil.example'><event xmlns='" + NS_BRIDGE + "' epoch='e' seq='9'/></message>");
    expect(refusedEvent(other, "stanza nesting exceeds 64", CTX).kind).toBe("invalid");
  });
});

describe("client requests (bridge-protocol.md §3)", () => {
  test("enable request becomes the core enable event with the session identity", () => {
    const r = inbound(fixture("request-enable.xml"));
    if (r.kind !== "request") throw new Error(JSON.stringify(r));
    expect(r.bridgeIqId).toBe("b17");
    const e = r.event;
    if (e.type !== "enable") throw new Error(e.type);
    expect(e.now).toBe(CTX.now);
    expect(e.req).toEqual({
      requestId: "b17@example.com", // the bridge iq id and the host it came from
      session: { user: "alice@example.com", sessionId: "c2s55a", fullJid: "alice@example.com/phone", clientId: "sasl2-client-1" },
      lang: "en",
    });
    expect(e.element.name).toBe("enable");
    expect(e.element.attrs.xmlns).toBe(NS_PUSH);
    expect(e.element.attrs.jid).toBe("push.app");
    expect(e.element.attrs.node).toBe("n1");
    const form = e.element.children.find((c) => typeof c !== "string");
    expect(typeof form === "object" && form.attrs.xmlns).toBe("jabber:x:data");
  });

  test("disable request without client-id or xml:lang", () => {
    const r = inbound(fixture("request-disable.xml"));
    if (r.kind !== "request" || r.event.type !== "disable") throw new Error(JSON.stringify(r));
    expect(r.event.req.requestId).toBe("b18@example.com");
    expect(r.event.req.session.clientId).toBeNull();
    expect(r.event.req.lang).toBeNull();
    expect(r.event.element.attrs.jid).toBe("push.app");
  });

  test("inner IQ that is not enable/disable in urn:xmpp:push:0 → wrapped bad-request response", () => {
    const { reply } = expectInvalid(inbound(fixture("request-not-push.xml")));
    expect(reply).not.toBeNull();
    if (reply === null) return;
    expect(reply.attrs).toMatchObject({ type: "result", to: "example.com", from: "push.example.com", id: "b19" });
    const response = reply.getChild("response", NS_BRIDGE);
    expect(response).toBeDefined();
    expect(response?.attrs.bound).toBeUndefined();
    const inner = response?.getChild("iq", NS_CLIENT);
    expect(inner?.attrs.type).toBe("error");
    const err = inner === undefined ? null : readStanzaError(inner);
    expect(err?.type).toBe("modify");
    expect(err?.condition).toBe("bad-request");
  });

  const REQ = (attrs: string, inner: string) =>
    xml(`<iq type='set' from='example.com' to='push.example.com' id='r1'><request xmlns='${NS_BRIDGE}' ${attrs}>${inner}</request></iq>`);
  const GOOD_ATTRS = "user='alice' session='s1' full='alice@example.com/phone'";
  const ENABLE = `<enable xmlns='${NS_PUSH}' jid='push.app'/>`;

  const wrapped: Array<[string, Element]> = [
    ["inner iq of type get", REQ(GOOD_ATTRS, `<iq xmlns='jabber:client' type='get' id='c'>${ENABLE}</iq>`)],
    ["inner iq without payload", REQ(GOOD_ATTRS, "<iq xmlns='jabber:client' type='set' id='c'/>")],
    ["inner iq with two payloads", REQ(GOOD_ATTRS, `<iq xmlns='jabber:client' type='set' id='c'>${ENABLE}${ENABLE}</iq>`)],
    ["enable without namespace", REQ(GOOD_ATTRS, "<iq xmlns='jabber:client' type='set' id='c'><enable jid='p'/></iq>")],
    ["other push element", REQ(GOOD_ATTRS, `<iq xmlns='jabber:client' type='set' id='c'><publish xmlns='${NS_PUSH}'/></iq>`)],
  ];
  for (const [name, el] of wrapped) {
    test(`${name} → wrapped modify/bad-request response`, () => {
      const { reply } = expectInvalid(inbound(el));
      const inner = reply?.getChild("response", NS_BRIDGE)?.getChild("iq", NS_CLIENT);
      expect(reply?.attrs.id).toBe("r1");
      expect(inner).toBeDefined();
      if (inner === undefined) return;
      expect(readStanzaError(inner)).toMatchObject({ type: "modify", condition: "bad-request" });
    });
  }

  const plain: Array<[string, Element]> = [
    ["no user", REQ("session='s1' full='alice@example.com/phone'", `<iq xmlns='jabber:client' type='set'>${ENABLE}</iq>`)],
    ["no session", REQ("user='alice' full='alice@example.com/phone'", `<iq xmlns='jabber:client' type='set'>${ENABLE}</iq>`)],
    ["no full", REQ("user='alice' session='s1'", `<iq xmlns='jabber:client' type='set'>${ENABLE}</iq>`)],
    [
      "full without resource",
      REQ("user='alice' session='s1' full='alice@example.com'", `<iq xmlns='jabber:client' type='set'>${ENABLE}</iq>`),
    ],
    ["malformed full", REQ("user='alice' session='s1' full='@@/'", `<iq xmlns='jabber:client' type='set'>${ENABLE}</iq>`)],
    [
      "full of another user",
      REQ("user='alice' session='s1' full='mallory@example.com/x'", `<iq xmlns='jabber:client' type='set'>${ENABLE}</iq>`),
    ],
    ["no inner iq", REQ(GOOD_ATTRS, ENABLE)],
    [
      "two inner iqs",
      REQ(GOOD_ATTRS, `<iq xmlns='jabber:client' type='set'>${ENABLE}</iq><iq xmlns='jabber:client' type='set'>${ENABLE}</iq>`),
    ],
    ["inner iq in a wrong namespace", REQ(GOOD_ATTRS, `<iq xmlns='jabber:server' type='set'>${ENABLE}</iq>`)],
  ];
  for (const [name, el] of plain) {
    test(`request with ${name} → modify/bad-request error to the bridge`, () => {
      expectErrorReply(inbound(el), "modify", "bad-request", "example.com", "r1");
    });
  }

  test("request from another sender → cancel/forbidden", () => {
    const el = xml(
      `<iq type='set' from='evil.example' to='push.example.com' id='r2'><request xmlns='${NS_BRIDGE}' ${GOOD_ATTRS}><iq xmlns='jabber:client' type='set'>${ENABLE}</iq></request></iq>`,
    );
    expectErrorReply(inbound(el), "cancel", "forbidden", "evil.example", "r2");
  });

  test("request of type get → feature-not-implemented", () => {
    const el = xml(`<iq type='get' from='example.com' to='push.example.com' id='r3'><request xmlns='${NS_BRIDGE}' ${GOOD_ATTRS}/></iq>`);
    expectErrorReply(inbound(el), "cancel", "feature-not-implemented", "example.com", "r3");
  });

  test("unknown bridge command → feature-not-implemented", () => {
    const el = xml(`<iq type='set' from='example.com' to='push.example.com' id='r4'><frobnicate xmlns='${NS_BRIDGE}'/></iq>`);
    expectErrorReply(inbound(el), "cancel", "feature-not-implemented", "example.com", "r4");
  });
});

describe("other IQs to the component", () => {
  test("IQ in a namespace we do not serve → cancel/service-unavailable", () => {
    const el = xml("<iq type='get' from='bob@example.net/x' to='push.example.com' id='v1'><query xmlns='jabber:iq:version'/></iq>");
    expectErrorReply(inbound(el), "cancel", "service-unavailable", "bob@example.net/x", "v1");
  });

  test("error replies come from the address the IQ was sent to", () => {
    const el = xml("<iq type='set' from='bob@example.net/x' to='x@push.example.com' id='v2'><foo xmlns='urn:x'/></iq>");
    const { reply } = expectInvalid(inbound(el));
    expect(reply?.attrs.from).toBe("x@push.example.com");
  });

  test("IQ get without payload → modify/bad-request", () => {
    expectErrorReply(inbound(xml("<iq type='get' from='bob@example.net' id='v3'/>")), "modify", "bad-request", "bob@example.net", "v3");
  });

  test("IQ with two payloads → modify/bad-request", () => {
    const el = xml("<iq type='set' from='bob@example.net' id='v4'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>");
    expectErrorReply(inbound(el), "modify", "bad-request", "bob@example.net", "v4");
  });

  test("IQ with an unknown type → modify/bad-request", () => {
    const el = xml("<iq type='frob' from='bob@example.net' id='v5'><a xmlns='urn:a'/></iq>");
    expectErrorReply(inbound(el), "modify", "bad-request", "bob@example.net", "v5");
  });

  test("IQ without id or without from → invalid without reply", () => {
    expect(expectInvalid(inbound(xml("<iq type='get' from='bob@example.net'><a xmlns='urn:a'/></iq>"))).reply).toBeNull();
    expect(expectInvalid(inbound(xml("<iq type='get' id='q'><a xmlns='urn:a'/></iq>"))).reply).toBeNull();
  });

  test("disco#info to the component → identity component/generic", () => {
    const el = xml(`<iq type='get' from='bob@example.net/x' to='push.example.com' id='d1'><query xmlns='${NS_DISCO_INFO}'/></iq>`);
    const r = inbound(el);
    if (r.kind !== "disco-info") throw new Error(JSON.stringify(r));
    expect(r.reply.attrs).toMatchObject({ type: "result", to: "bob@example.net/x", from: "push.example.com", id: "d1" });
    const query = r.reply.getChild("query", NS_DISCO_INFO);
    expect(query?.getChild("identity")?.attrs).toMatchObject({ category: "component", type: "generic" });
    expect(query?.getChildren("feature").map((f) => f.attrs.var)).toContain(NS_DISCO_INFO);
  });

  test("disco#info with a node → cancel/item-not-found", () => {
    const el = xml(`<iq type='get' from='bob@example.net/x' to='push.example.com' id='d2'><query xmlns='${NS_DISCO_INFO}' node='n'/></iq>`);
    expectErrorReply(inbound(el), "cancel", "item-not-found", "bob@example.net/x", "d2");
  });

  test("disco#info to a JID under the component → service-unavailable", () => {
    const el = xml(`<iq type='get' from='bob@example.net/x' to='u@push.example.com' id='d3'><query xmlns='${NS_DISCO_INFO}'/></iq>`);
    expectErrorReply(inbound(el), "cancel", "service-unavailable", "bob@example.net/x", "d3");
  });
});

describe("replies to our commands", () => {
  test("hello result: version, server, epoch, dropped, quarantined, first, unclean and the session snapshot", () => {
    const r = inbound(fixture("hello-result.xml"));
    if (r.kind !== "hello-result") throw new Error(JSON.stringify(r));
    expect(r).toMatchObject({
      kind: "hello-result",
      iqId: "h1",
      version: BRIDGE_VERSION,
      server: "Prosody 0.12.3",
      epoch: "k3j2",
      dropped: 3,
      quarantined: 2,
      first: 17,
      unclean: true,
      sessions: [
        {
          user: "alice@example.com",
          sessionId: "c2s55a",
          fullJid: "alice@example.com/phone",
          clientId: "sasl2-client-1",
          bound: "push.app<n1",
          hibernating: true,
        },
        {
          user: "alice@example.com",
          sessionId: "c2s55b",
          fullJid: "alice@example.com/desktop",
          clientId: null,
          bound: null,
          hibernating: false,
        },
        { user: "bob@example.com", sessionId: "c2s60", fullJid: "bob@example.com/tablet", clientId: null, bound: null, hibernating: false },
      ],
      known: ["p7", "p9"],
    });
  });

  test("D11 hello result: a publish without id → invalid", () => {
    const el = xml(
      `<iq type='result' from='example.com' id='h2'><hello xmlns='${NS_BRIDGE}' version='${BRIDGE_VERSION}' epoch='e' dropped='0'><publish/></hello></iq>`,
    );
    expect(expectInvalid(inbound(el)).reason).toContain("publish without id");
  });

  test("hello result of another version is reported with its version", () => {
    const r = inbound(xml(`<iq type='result' from='example.com' id='h2'><hello xmlns='${NS_BRIDGE}' version='99' epoch='z'/></iq>`));
    if (r.kind !== "hello-result") throw new Error(JSON.stringify(r));
    expect(r.version).toBe("99");
    expect(r.sessions).toEqual([]);
  });

  const badHello: Array<[string, string]> = [
    ["no version", "epoch='e'"],
    ["no epoch", `version='${BRIDGE_VERSION}'`],
    ["non-numeric dropped", `version='${BRIDGE_VERSION}' epoch='e' dropped='many'`],
  ];
  for (const [name, attrs] of badHello) {
    test(`hello result with ${name} → invalid, no reply`, () => {
      const r = inbound(xml(`<iq type='result' from='example.com' id='h3'><hello xmlns='${NS_BRIDGE}' ${attrs}/></iq>`));
      expect(expectInvalid(r).reply).toBeNull();
    });
  }

  test("hello result with a session whose full JID is bad → invalid", () => {
    const el = xml(
      `<iq type='result' from='example.com' id='h4'><hello xmlns='${NS_BRIDGE}' version='${BRIDGE_VERSION}' epoch='e'><session user='alice' id='s' full='alice@example.com'/></hello></iq>`,
    );
    expect(expectInvalid(inbound(el)).reply).toBeNull();
    const el2 = xml(
      `<iq type='result' from='example.com' id='h5'><hello xmlns='${NS_BRIDGE}' version='${BRIDGE_VERSION}' epoch='e'><session user='alice' full='alice@example.com/r'/></hello></iq>`,
    );
    expect(expectInvalid(inbound(el2)).reply).toBeNull();
  });

  test("hello version mismatch error keeps type, condition and text", () => {
    expect(inbound(fixture("hello-version-error.xml"))).toEqual({
      kind: "iq-error",
      iqId: "h1",
      errorType: "cancel",
      condition: "feature-not-implemented",
      text: "bridge protocol version 1 required",
    });
  });

  test("empty result (hibernation-timeout) → iq-result with null payload", () => {
    expect(inbound(xml("<iq type='result' from='example.com' to='push.example.com' id='c1'/>"))).toEqual({
      kind: "iq-result",
      iqId: "c1",
      payload: null,
    });
  });

  test("hibernation-timeout error item-not-found", () => {
    const el = xml(
      "<iq type='error' from='example.com' id='c1'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    );
    expect(inbound(el)).toEqual({ kind: "iq-error", iqId: "c1", errorType: "cancel", condition: "item-not-found", text: null });
  });

  test("error without <error> child falls back to cancel/undefined-condition", () => {
    expect(inbound(xml("<iq type='error' from='example.com' id='c9'/>"))).toMatchObject({
      kind: "iq-error",
      errorType: "cancel",
      condition: "undefined-condition",
    });
  });

  test("protocol 1's <publish-result> IQ is not a publish outcome any more (outcomes are events): iq-result", () => {
    const el = xml(
      `<iq type='result' from='example.com' id='c2'><publish-result xmlns='${NS_BRIDGE}'><iq xmlns='jabber:client' type='result' from='push.app' id='p1'/></publish-result></iq>`,
    );
    expect(inbound(el)).toMatchObject({ kind: "iq-result", iqId: "c2" });
  });

  test("D15 direct reply to a publish sent from the component (error, type wait)", () => {
    expect(inbound(fixture("direct-publish-error.xml"))).toEqual({
      kind: "publish-reply",
      iqId: "aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233",
      publishId: "aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233",
      from: "push.app",
      ok: false,
      errorType: "wait",
      condition: "resource-constraint",
      text: null,
    });
  });

  test("D15 direct result to a publish sent from the component", () => {
    expect(inbound(xml("<iq type='result' from='push.app' to='push.example.com' id='p1'/>"))).toEqual({
      kind: "publish-reply",
      iqId: "p1",
      publishId: "p1",
      from: "push.app",
      ok: true,
    });
  });

  test("D11 publish-result event with the app's result → core publish-result, acknowledged by seq", () => {
    const el = xml(
      `<message from='example.com' to='push.example.com'><event xmlns='${NS_BRIDGE}' epoch='e1' seq='4' type='publish-result' publish='p1'>` +
        `<iq xmlns='jabber:client' type='result' from='push.app' to='example.com' id='p1'/></event></message>`,
    );
    expect(inbound(el)).toEqual({
      kind: "event",
      epoch: "e1",
      seq: 4,
      event: { type: "publish-result", now: CTX.now, publishId: "p1", from: "push.app" },
    });
  });

  test("D11 publish-result event with an error keeps exact type, condition and text", () => {
    const el = xml(
      `<message from='example.com'><event xmlns='${NS_BRIDGE}' epoch='e1' seq='5' type='publish-result' publish='p2'>` +
        `<iq type='error' from='push.app' id='p2'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
        `<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Unknown node</text></error></iq></event></message>`,
    );
    expect(inbound(el)).toEqual({
      kind: "event",
      epoch: "e1",
      seq: 5,
      event: {
        type: "publish-error",
        now: CTX.now,
        publishId: "p2",
        from: "push.app",
        errorType: "cancel",
        condition: "item-not-found",
        text: "Unknown node",
      },
    });
  });

  test("D11 publish-result event with timeout='true' → core publish-timeout", () => {
    const el = xml(
      `<message from='example.com'><event xmlns='${NS_BRIDGE}' epoch='e1' seq='6' type='publish-result' publish='p3' timeout='true'/></message>`,
    );
    expect(inbound(el)).toEqual({ kind: "event", epoch: "e1", seq: 6, event: { type: "publish-timeout", now: CTX.now, publishId: "p3" } });
  });

  const badPublishEvent: Array<[string, string, string]> = [
    ["no publish id", "", `<iq type='result' from='push.app' id='p1'/>`],
    ["no iq", " publish='p1'", ""],
    ["two iqs", " publish='p1'", `<iq type='result' from='push.app' id='p1'/><iq type='result' from='push.app' id='p1'/>`],
    ["an iq with another id", " publish='p1'", `<iq type='result' from='push.app' id='p2'/>`],
    ["an iq without from", " publish='p1'", `<iq type='result' id='p1'/>`],
    ["an iq of type set", " publish='p1'", `<iq type='set' from='push.app' id='p1'/>`],
  ];
  for (const [name, attrs, child] of badPublishEvent) {
    test(`D11 publish-result event with ${name} → refused (acknowledged), no reply`, () => {
      const el = xml(
        `<message from='example.com'><event xmlns='${NS_BRIDGE}' epoch='e1' seq='7' type='publish-result'${attrs}>${child}</event></message>`,
      );
      expect(expectRefused(inbound(el)).seq).toBe(7);
    });
  }

  test("results without id → invalid, no reply", () => {
    expect(expectInvalid(inbound(xml("<iq type='result' from='example.com'/>"))).reply).toBeNull();
  });
});

describe("garbage never throws", () => {
  function nested(depth: number): Element {
    const root = new Element("message", { from: "example.com" });
    const event = root.c("event", { xmlns: NS_BRIDGE, epoch: "e", seq: "1", type: "offline", user: "alice" });
    let cur = event.c("message", { xmlns: NS_CLIENT, from: "b@x" });
    for (let i = 0; i < depth; i++) cur = cur.c("x");
    return root;
  }

  test("elements without attributes", () => {
    for (const name of ["iq", "message", "presence", "event", "x", ""]) {
      const r = inbound(new Element(name));
      expect(expectInvalid(r).reply).toBeNull();
    }
  });

  test("objects that are not really elements", () => {
    const weird = [
      { name: "iq", attrs: null, children: null },
      { name: "message", attrs: { from: "example.com" }, children: [null, 5, { name: 3 }] },
      { name: undefined, attrs: undefined, children: undefined },
      { name: "iq", attrs: { type: "set", id: "1", from: "example.com" }, children: [{ name: "request", attrs: { xmlns: NS_BRIDGE } }] },
    ];
    for (const w of weird) {
      const r = parseInbound(w as unknown as Element, CTX);
      expect(r.kind).toBe("invalid");
    }
  });

  test("deeply nested stanza copy (20000 levels) gives an event with a digest key", () => {
    const r = inbound(nested(20_000));
    if (r.kind !== "event" || r.event.type !== "offline") throw new Error(JSON.stringify(r).slice(0, 200));
    expect(r.event.copy.key).toMatch(/^d:[0-9a-f]{32}$/);
  });

  test("10k children in an event → refused (one stanza expected) without throwing", () => {
    const root = EVT("epoch='e' seq='1' type='offline' user='alice'");
    const event = root.getChild("event", NS_BRIDGE);
    for (let i = 0; i < 10_000; i++) event?.c("message", { xmlns: NS_CLIENT, id: String(i) });
    expect(expectRefused(inbound(root)).seq).toBe(1);
  });

  test("10k queued stanzas in a hibernation-started event are all kept", () => {
    const root = EVT("epoch='e' seq='1' type='hibernation-started' user='alice' session='s'");
    const event = root.getChild("event", NS_BRIDGE);
    for (let i = 0; i < 10_000; i++) event?.c("message", { xmlns: NS_CLIENT, from: "b@x", id: String(i) });
    const r = inbound(root);
    if (r.kind !== "event" || r.event.type !== "hibernation-started") throw new Error(r.kind);
    expect(r.event.queue.length).toBe(10_000);
    expect(new Set(r.event.queue.map((c) => c.key)).size).toBe(10_000);
  });

  test("10k payload children in an IQ → bad-request", () => {
    const iq = new Element("iq", { type: "set", from: "example.com", id: "g1" });
    for (let i = 0; i < 10_000; i++) iq.c("x", { xmlns: "urn:x" });
    expectErrorReply(inbound(iq), "modify", "bad-request", "example.com", "g1");
  });

  test("prefixed names in a foreign namespace are not taken for ours", () => {
    const el = xml(
      "<message from='example.com'><b:event xmlns:b='urn:other' epoch='e' seq='1' type='user-deleted' user='alice'/></message>",
    );
    expect(expectInvalid(inbound(el)).reply).toBeNull();
  });
});
