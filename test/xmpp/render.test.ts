import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Element, parse } from "ltx";

import type { Publish } from "../../src/core/types.ts";
import { buildErrorElement, readStanzaError } from "../../src/xmpp/errors.ts";
import { BRIDGE_VERSION, NS_BRIDGE, NS_CLIENT, NS_DATA, NS_PUBSUB, NS_STANZAS } from "../../src/xmpp/ns.ts";
import { parseInbound } from "../../src/xmpp/parse-bridge.ts";
import {
  parseStoredForm,
  renderAck,
  renderHello,
  renderHibernationTimeout,
  renderIqError,
  renderPublishIq,
  renderResponse,
} from "../../src/xmpp/render.ts";
import { renderPublishAsHost } from "../helpers/publish-as-host-tree.ts";
import { publishAsHostText } from "../../src/xmpp/render-text.ts";
import { escapeAttr, escapeText, SafeElement } from "../../src/xmpp/xml-escape.ts";

const CTX = { host: "example.com", componentDomain: "push.example.com" };
const FIXTURES = join(import.meta.dir, "../fixtures/publish");
const ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const STORED_FORM =
  '<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/pubsub#publish-options</value></field>' +
  '<field var="secret"><value>s3cr3t &amp; &lt;more&gt;</value></field></x>';

const PUBLISH: Publish = {
  id: ID,
  user: "alice",
  identifier: "push.app<n1",
  to: "push.app",
  node: "n1",
  summary: { messageCount: "1", pendingSubscriptionCount: null, lastMessageSender: null, lastMessageBody: "New Message!" },
  publishOptions: null,
  payload: [],
  important: true,
  trigger: "offline",
  deadline: 0,
};

function fixture(name: string): Element {
  return parse(readFileSync(join(FIXTURES, name), "utf8")) as Element;
}

/** What the peer sees: serialise and parse again. */
function wire(el: Element): Element {
  return parse(el.toString()) as Element;
}

/**
 * Differences between two trees: names, attributes one by one *in order*, children in order.
 * Whitespace-only text (fixture indentation) is ignored.
 */
function diff(actual: Element, expected: Element, path = ""): string[] {
  const here = `${path}/${expected.name}`;
  const out: string[] = [];
  if (actual.name !== expected.name) return [`${here}: name ${actual.name}`];
  const a = Object.entries(actual.attrs).filter(([, v]) => v !== undefined);
  const e = Object.entries(expected.attrs).filter(([, v]) => v !== undefined);
  if (JSON.stringify(a) !== JSON.stringify(e)) out.push(`${here}: attrs ${JSON.stringify(a)} != ${JSON.stringify(e)}`);
  const kids = (el: Element) => el.children.filter((c) => typeof c !== "string" || c.trim().length > 0);
  const ak = kids(actual);
  const ek = kids(expected);
  if (ak.length !== ek.length) return [...out, `${here}: ${ak.length} children != ${ek.length}`];
  ek.forEach((ec, i) => {
    const ac = ak[i];
    if (typeof ec === "string" || typeof ac === "string") {
      if (ac !== ec) out.push(`${here}[${i}]: text ${JSON.stringify(ac)} != ${JSON.stringify(ec)}`);
    } else if (ac !== undefined) {
      out.push(...diff(ac, ec, here));
    }
  });
  return out;
}

function fieldVars(iq: Element): Array<string | undefined> {
  const x = iq.getChild("pubsub")?.getChild("publish")?.getChild("item")?.getChild("notification")?.getChild("x");
  return (x?.getChildren("field") ?? []).map((f) => f.attrs.var as string | undefined);
}

describe("publish IQ (B26)", () => {
  test("B26 matches the reference example attribute by attribute and field by field", () => {
    expect(diff(wire(renderPublishIq(PUBLISH, "example.com")), fixture("b26-example.xml"))).toEqual([]);
  });

  test("B26 iq attributes in order type, from, to, id; form fields in order", () => {
    const iq = wire(renderPublishIq(PUBLISH, "example.com"));
    expect(Object.keys(iq.attrs)).toEqual(["type", "from", "to", "id"]);
    expect(fieldVars(iq)).toEqual(["FORM_TYPE", "message-count", "pending-subscription-count", "last-message-sender", "last-message-body"]);
  });

  test("B26 fields without a value are empty elements; no item id; no publish-options", () => {
    const text = renderPublishIq(PUBLISH, "example.com").toString();
    expect(text).toContain('<field type="text-single" var="pending-subscription-count"/>');
    expect(text).toContain('<field type="jid-single" var="last-message-sender"/>');
    expect(text).toContain("<item><notification");
    expect(text).not.toContain("publish-options");
  });

  test("B26 the exact serialisation (pins the wire text)", () => {
    expect(renderPublishIq(PUBLISH, "example.com").toString()).toBe(
      `<iq type="set" from="example.com" to="push.app" id="${ID}">` +
        `<pubsub xmlns="${NS_PUBSUB}"><publish node="n1"><item><notification xmlns="urn:xmpp:push:0">` +
        `<x xmlns="${NS_DATA}" type="form">` +
        `<field type="hidden" var="FORM_TYPE"><value>urn:xmpp:push:summary</value></field>` +
        `<field type="text-single" var="message-count"><value>1</value></field>` +
        `<field type="text-single" var="pending-subscription-count"/>` +
        `<field type="jid-single" var="last-message-sender"/>` +
        `<field type="text-single" var="last-message-body"><value>New Message!</value></field>` +
        `</x></notification></item></publish></pubsub></iq>`,
    );
  });

  test("D16 extension payload goes inside <notification>, after the summary form", () => {
    const p: Publish = { ...PUBLISH, payload: [{ name: "priority", attrs: { xmlns: "tigase:push:priority:0" }, children: ["high"] }] };
    const notification = renderPublishIq(p, "example.com")
      .getChild("pubsub")
      ?.getChild("publish")
      ?.getChild("item")
      ?.getChild("notification");
    expect(notification?.children.map((c) => (typeof c === "string" ? c : c.name))).toEqual(["x", "priority"]);
    expect(notification?.getChildText("priority", "tigase:push:priority:0")).toBe("high");
  });

  test("B5 no node → publish element without node attribute", () => {
    const p: Publish = { ...PUBLISH, node: null, summary: { ...PUBLISH.summary, lastMessageBody: null } };
    const iq = wire(renderPublishIq(p, "example.com"));
    expect(diff(iq, fixture("b5-no-node.xml"))).toEqual([]);
    expect(iq.getChild("pubsub")?.getChild("publish")?.attrs).toEqual({});
  });

  test("B6 stored publish-options are re-sent verbatim after publish", () => {
    const p: Publish = { ...PUBLISH, publishOptions: STORED_FORM };
    const rendered = renderPublishIq(p, "example.com");
    expect(diff(wire(rendered), fixture("b6-publish-options.xml"))).toEqual([]);
    expect(rendered.toString()).toContain(`<publish-options>${STORED_FORM}</publish-options></pubsub>`);
    const pubsub = rendered.getChild("pubsub");
    expect(pubsub?.children.map((c) => (typeof c === "string" ? c : c.name))).toEqual(["publish", "publish-options"]);
  });

  test("B6 a stored form that is not well-formed XML is left out, and parseStoredForm says so", () => {
    const p: Publish = { ...PUBLISH, publishOptions: "<x xmlns='jabber:x:data'><field>" };
    expect(parseStoredForm("<x xmlns='jabber:x:data'><field>")).toBeNull();
    expect(parseStoredForm("not xml")).toBeNull();
    expect(renderPublishIq(p, "example.com").toString()).not.toContain("publish-options");
  });

  test("B25 sender and body values (escaped on the wire)", () => {
    const p: Publish = {
      ...PUBLISH,
      summary: {
        messageCount: "3",
        pendingSubscriptionCount: null,
        lastMessageSender: "bob@example.net/laptop",
        lastMessageBody: "Hi <Alice> & co",
      },
    };
    const rendered = renderPublishIq(p, "example.com");
    expect(diff(wire(rendered), fixture("b25-sender-body.xml"))).toEqual([]);
    expect(rendered.toString()).toContain("<value>Hi &lt;Alice&gt; &amp; co</value>");
  });

  test("B27 an empty-string value renders as an empty <value/>", () => {
    const p: Publish = { ...PUBLISH, summary: { ...PUBLISH.summary, lastMessageBody: "" } };
    expect(renderPublishIq(p, "example.com").toString()).toContain('<field type="text-single" var="last-message-body"><value/></field>');
  });

  test("D15 option: from the component's own JID", () => {
    expect(renderPublishIq(PUBLISH, "push.example.com").attrs.from).toBe("push.example.com");
  });
});

describe("publish-as-host (D15, bridge-protocol.md §4)", () => {
  test("D15 wraps the B26 publish sent from the host in a bridge command message (no reply expected)", () => {
    const cmd = wire(renderPublishAsHost(PUBLISH, { ...CTX, commandId: "c2" }));
    expect(cmd.name).toBe("message");
    expect(cmd.attrs).toEqual({ from: "push.example.com", to: "example.com", id: "c2" });
    const inner = cmd.getChild("publish-as-host", NS_BRIDGE)?.getChild("iq");
    expect(inner?.attrs).toEqual({ xmlns: NS_CLIENT, type: "set", from: "example.com", to: "push.app", id: ID });
    const expected = fixture("b26-example.xml").getChild("pubsub");
    const actual = inner?.getChild("pubsub");
    if (expected === undefined || actual === undefined) throw new Error("missing pubsub");
    expect(diff(actual, expected)).toEqual([]);
  });

  /** The bridge's publish-result event for the app service's `reply` (bridge-protocol.md §4). */
  function outcomeEvent(reply: Element, publishId: string): Element {
    const message = new Element("message", { from: CTX.host, to: CTX.componentDomain });
    message.c("event", { xmlns: NS_BRIDGE, epoch: "e1", seq: "9", type: "publish-result", publish: publishId }).cnode(reply);
    return message;
  }

  test("D15 round trip: render → bridge reports an error reply → parse gives the exact error for the publish id", () => {
    const cmd = wire(renderPublishAsHost({ ...PUBLISH, publishOptions: STORED_FORM }, { ...CTX, commandId: "c7" }));
    const sent = cmd.getChild("publish-as-host", NS_BRIDGE)?.getChild("iq");
    if (sent === undefined) throw new Error("no inner iq");
    const reply = renderIqError(CTX.host, sent.attrs.to, sent.attrs.id, "auth", "not-authorized", "Bad secret");
    reply.attrs = { xmlns: NS_CLIENT, ...reply.attrs };
    expect(parseInbound(wire(outcomeEvent(reply, sent.attrs.id)), { ...CTX, now: 0 })).toEqual({
      kind: "event",
      epoch: "e1",
      seq: 9,
      event: {
        type: "publish-error",
        now: 0,
        publishId: ID,
        from: "push.app",
        errorType: "auth",
        condition: "not-authorized",
        text: "Bad secret",
      },
    });
  });

  test("D15 round trip: success reply", () => {
    const cmd = wire(renderPublishAsHost(PUBLISH, { ...CTX, commandId: "c8" }));
    const sent = cmd.getChild("publish-as-host", NS_BRIDGE)?.getChild("iq");
    if (sent === undefined) throw new Error("no inner iq");
    const reply = new Element("iq", { xmlns: NS_CLIENT, type: "result", from: sent.attrs.to, to: CTX.host, id: sent.attrs.id });
    expect(parseInbound(wire(outcomeEvent(reply, sent.attrs.id)), { ...CTX, now: 0 })).toEqual({
      kind: "event",
      epoch: "e1",
      seq: 9,
      event: { type: "publish-result", now: 0, publishId: ID, from: "push.app" },
    });
  });
});

describe("response to a bridged client IQ (bridge-protocol.md §3)", () => {
  test("success with a bound identifier (pins the wire text)", () => {
    const el = renderResponse({ type: "reply", requestId: "b17", bound: "push.app<n1" }, CTX);
    expect(el.toString()).toBe(
      `<iq type="result" from="push.example.com" to="example.com" id="b17">` +
        `<response xmlns="${NS_BRIDGE}" bound="push.app&lt;n1"><iq xmlns="jabber:client" type="result"/></response></iq>`,
    );
    expect(wire(el).getChild("response")?.attrs.bound).toBe("push.app<n1");
  });

  test("bound null → bound='' (unbound); bound absent → no attribute", () => {
    const unbound = renderResponse({ type: "reply", requestId: "b1", bound: null }, CTX);
    expect(unbound.getChild("response")?.attrs.bound).toBe("");
    expect(unbound.toString()).toContain('bound=""');
    const none = renderResponse({ type: "reply", requestId: "b1" }, CTX);
    expect("bound" in (none.getChild("response")?.attrs ?? {})).toBe(false);
  });

  test("B3 error with text keeps type, condition and text", () => {
    const el = wire(
      renderResponse({ type: "reply", requestId: "b2", error: { type: "modify", condition: "bad-request", text: "Missing jid" } }, CTX),
    );
    const inner = el.getChild("response", NS_BRIDGE)?.getChild("iq", NS_CLIENT);
    expect(inner?.attrs.type).toBe("error");
    const error = inner?.getChild("error");
    expect(error?.attrs).toEqual({ type: "modify" });
    expect(error?.getChild("bad-request")?.attrs).toEqual({ xmlns: NS_STANZAS });
    expect(error?.getChild("text")?.attrs).toEqual({ xmlns: NS_STANZAS });
    expect(inner === undefined ? null : readStanzaError(inner)).toEqual({
      type: "modify",
      condition: "bad-request",
      text: "Missing jid",
    });
  });

  test("D4 error without text has no <text> element", () => {
    const el = renderResponse({ type: "reply", requestId: "b3", error: { type: "wait", condition: "internal-server-error" } }, CTX);
    const text = el.toString();
    expect(text).toContain(
      `<iq xmlns="jabber:client" type="error"><error type="wait"><internal-server-error xmlns="${NS_STANZAS}"/></error></iq>`,
    );
    expect(text).not.toContain("<text");
  });
});

describe("commands (bridge-protocol.md §1, §2, §4)", () => {
  test("D12 hibernation-timeout extend", () => {
    const el = renderHibernationTimeout(
      { type: "hibernation-timeout", user: "alice", sessionId: "c2s55a", mode: "extend", seconds: 259200 },
      { ...CTX, iqId: "c1" },
    );
    expect(el.toString()).toBe(
      `<iq type="set" from="push.example.com" to="example.com" id="c1">` +
        `<hibernation-timeout xmlns="${NS_BRIDGE}" user="alice" session="c2s55a" seconds="259200"/></iq>`,
    );
  });

  test("B34 hibernation-timeout restore", () => {
    const el = renderHibernationTimeout(
      { type: "hibernation-timeout", user: "alice", sessionId: "c2s55a", mode: "restore" },
      { ...CTX, iqId: "c9" },
    );
    expect(el.getChild("hibernation-timeout")?.attrs).toEqual({
      xmlns: NS_BRIDGE,
      user: "alice",
      session: "c2s55a",
      restore: "true",
    });
  });

  test("B1 B2 hello lists the account features to announce and the limits of one event stanza", () => {
    const limits = { depth: 64, bytes: 1048576, copies: 1000 };
    const el = renderHello({ ...CTX, iqId: "h1", features: ["urn:xmpp:push:0", "tigase:push:encrypt:0"], limits });
    expect(el.toString()).toBe(
      `<iq type="get" from="push.example.com" to="example.com" id="h1"><hello xmlns="${NS_BRIDGE}" version="${BRIDGE_VERSION}">` +
        `<feature var="urn:xmpp:push:0"/><feature var="tigase:push:encrypt:0"/><limits depth="64" bytes="1048576" copies="1000"/></hello></iq>`,
    );
  });

  test("ack message", () => {
    expect(renderAck({ ...CTX, epoch: "k3j2", seq: 42 }).toString()).toBe(
      `<message from="push.example.com" to="example.com"><ack xmlns="${NS_BRIDGE}" epoch="k3j2" seq="42"/></message>`,
    );
  });

  test("iq error with and without text, readable back", () => {
    const withText = renderIqError("a@b/c", "push.example.com", "x1", "cancel", "forbidden", "Not you");
    expect(withText.toString()).toBe(
      `<iq type="error" from="push.example.com" to="a@b/c" id="x1"><error type="cancel">` +
        `<forbidden xmlns="${NS_STANZAS}"/><text xmlns="${NS_STANZAS}">Not you</text></error></iq>`,
    );
    expect(readStanzaError(wire(withText))).toEqual({ type: "cancel", condition: "forbidden", text: "Not you" });
    const bare = renderIqError("a@b/c", "push.example.com", "x2", "modify", "bad-request");
    expect(readStanzaError(bare)).toEqual({ type: "modify", condition: "bad-request", text: null });
  });
});

describe("stanza errors (errors.ts)", () => {
  test("readStanzaError keeps unusual types and conditions exactly", () => {
    const el = new Element("iq", { type: "error" });
    el.cnode(buildErrorElement("continue", "policy-violation", "Too many"));
    expect(readStanzaError(el)).toEqual({ type: "continue", condition: "policy-violation", text: "Too many" });
  });

  test("readStanzaError ignores application-specific conditions and finds the defined one", () => {
    const el = parse(
      `<iq type='error'><error type='modify'><app xmlns='urn:app'/><text xmlns='${NS_STANZAS}'>t</text>` +
        `<not-acceptable xmlns='${NS_STANZAS}'/></error></iq>`,
    ) as Element;
    expect(readStanzaError(el)).toEqual({ type: "modify", condition: "not-acceptable", text: "t" });
  });

  test("readStanzaError on a stanza without <error> is null; on the error element itself works", () => {
    expect(readStanzaError(new Element("iq", { type: "error" }))).toBeNull();
    expect(readStanzaError(buildErrorElement("wait", "resource-constraint"))).toEqual({
      type: "wait",
      condition: "resource-constraint",
      text: null,
    });
  });
});

describe("item 5: XML escaping of every character XML cares about (xml-escape.ts)", () => {
  test("attribute values: the five specials as entities, TAB/LF/CR as character references", () => {
    expect(escapeAttr(`&<>"'`)).toBe("&amp;&lt;&gt;&quot;&apos;");
    expect(escapeAttr("a\tb\nc\rd\r\n")).toBe("a&#9;b&#10;c&#13;d&#13;&#10;");
  });

  test("text: & < > as entities (so `]]>` never appears), CR as &#13;, TAB, LF and quotes raw", () => {
    expect(escapeText("a]]>b & <c>")).toBe("a]]&gt;b &amp; &lt;c&gt;");
    expect(escapeText("x\r\ny\rz")).toBe("x&#13;\ny&#13;z");
    expect(escapeText(`\t"'\n`)).toBe(`\t"'\n`);
  });

  test("characters XML 1.0 cannot carry become U+FFFD, in attributes and text", () => {
    for (const bad of ["\0", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\ufffe", "\uffff", "\ud800", "\udbff", "\udc00", "\udfff"]) {
      expect(escapeAttr(`a${bad}b`)).toBe("a\ufffdb");
      expect(escapeText(`a${bad}b`)).toBe("a\ufffdb");
    }
    expect(escapeText("\udfff\ud800")).toBe("\ufffd\ufffd"); // reversed pair: two lone surrogates
  });

  test("allowed characters pass unchanged: astral pairs, C1 controls, U+2028, U+FEFF, U+FFFD, edges", () => {
    for (const ok of ["\u{1f600}", "\u{10000}", "\u{10ffff}", "\x7f", "\x85", "\x9f", "\u2028", "\ufeff", "\ufffd", "\ud7ff", "\ue000"]) {
      expect(escapeAttr(ok)).toBe(ok);
      expect(escapeText(ok)).toBe(ok);
    }
  });

  test("the fast path: a value with nothing to escape is returned as it is", () => {
    const s = "push.example.com/some-node_123 😀";
    expect(escapeAttr(s)).toBe(s);
    expect(escapeText(s)).toBe(s);
  });

  test("B26 the publish IQ keeps TAB, LF and CR in node, to and id (the issue's `a\\tb\\nc`)", () => {
    const el = renderPublishIq({ ...PUBLISH, node: "a\tb\nc", to: "push\r.app", id: "i\td" }, "push.example.com");
    const text = el.toString();
    expect(text).toContain(`to="push&#13;.app" id="i&#9;d"`);
    expect(text).toContain(`<publish node="a&#9;b&#10;c">`);
    expect((parse(text).getChild("pubsub")?.getChild("publish")?.attrs as Record<string, string> | undefined)?.node).toBe("a\tb\nc");
  });

  test("D15 the hot text path writes exactly what the tree renderer writes, escapes included", () => {
    const form = '<x xmlns="jabber:x:data" type="submit"><field var="a\tb"><value>v\r1 &amp; \x01</value></field></x>';
    const p: Publish = {
      ...PUBLISH,
      node: "n\t1\n",
      summary: {
        messageCount: "1",
        pendingSubscriptionCount: null,
        lastMessageSender: "bob@x/r\r",
        lastMessageBody: "hi\r\nthere ]]> \ud800",
      },
      publishOptions: form,
      payload: [{ name: "ext", attrs: { xmlns: "urn:x", v: "1\n2" }, children: ["t\r"] }],
    };
    const ctx = { ...CTX, commandId: "ph\t1" };
    const text = publishAsHostText(p, ctx);
    expect(text).toBe(renderPublishAsHost(p, ctx).toString());
    expect(text).toContain(`<publish node="n&#9;1&#10;">`);
    expect(text).toContain(`<value>hi&#13;\nthere ]]&gt; \ufffd</value>`);
    expect(text).toContain(`<field var="a&#9;b"><value>v&#13;1 &amp; \ufffd</value></field>`); // stored raw, written escaped
    expect(text).toContain(`<ext xmlns="urn:x" v="1&#10;2">t&#13;</ext>`);
  });

  test("replies, errors, hello and ack escape their attribute and text positions", () => {
    const reply = renderResponse(
      {
        type: "reply",
        requestId: "r\n1",
        bound: "push.app<\tn",
        error: { type: "cancel", condition: "bad-request", text: "no\rgood\x00" },
      },
      CTX,
    );
    expect(reply.toString()).toContain(`id="r&#10;1"`);
    expect(reply.toString()).toContain(`bound="push.app&lt;&#9;n"`);
    expect(reply.toString()).toContain(`>no&#13;good\ufffd</text>`);
    expect(renderIqError("a\tb", "c", "i\r", "cancel", "item-not-found", "x\ry").toString()).toContain(`to="a&#9;b" id="i&#13;"`);
    const hello = renderHello({ ...CTX, iqId: "h", features: ["f\n1"], limits: { depth: 64, bytes: 1, copies: 1 } });
    expect(hello.toString()).toContain(`<feature var="f&#10;1"/>`);
    expect(renderAck({ ...CTX, epoch: "e\t", seq: 3 }).toString()).toContain(`epoch="e&#9;" seq="3"`);
  });

  test("a SafeElement nested in a plain ltx element still writes with the full escaping", () => {
    const outer = new Element("wrap");
    outer.cnode(new SafeElement("x", { a: "1\t2" }));
    expect(outer.toString()).toBe(`<wrap><x a="1&#9;2"/></wrap>`);
  });
});
