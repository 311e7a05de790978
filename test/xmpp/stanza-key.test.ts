import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Element, parse } from "ltx";

import type { StanzaCopy } from "../../src/core/types.ts";
import { parseInbound } from "../../src/xmpp/parse-bridge.ts";
import { bareJid, canonical, carbonInner, stanzaKey } from "../../src/xmpp/stanza-key.ts";

const CTX = { host: "example.com", componentDomain: "push.example.com", now: 1 };
const FIXTURES = join(import.meta.dir, "../fixtures/bridge");

function xml(text: string): Element {
  return parse(text) as Element;
}

/** The (first) stanza copy of a bridge event fixture, as the core receives it. */
function copyOf(name: string): StanzaCopy {
  const r = parseInbound(parse(readFileSync(join(FIXTURES, name), "utf8")) as Element, CTX);
  if (r.kind !== "event") throw new Error(`${name}: ${JSON.stringify(r)}`);
  const e = r.event;
  switch (e.type) {
    case "offline":
    case "archived":
    case "groupchat-bare":
    case "stanza-queued":
      return e.copy;
    case "hibernation-started":
    case "ack-delayed": {
      const first = e.queue[0];
      if (first === undefined) throw new Error(`${name}: empty queue`);
      return first;
    }
    default:
      throw new Error(`${name}: no copy in ${e.type}`);
  }
}

describe("D8 stanza identity across paths (fixtures through parseInbound)", () => {
  test("D8 origin-id: offline, archived (stanza-id added) and smacks-queue copies share a key", () => {
    const keys = ["event-offline.xml", "event-archived.xml", "event-stanza-queued.xml"].map((f) => copyOf(f).key);
    expect(keys).toEqual(["o:bob@example.net:orig-1", "o:bob@example.net:orig-1", "o:bob@example.net:orig-1"]);
  });

  test("D8 id attribute: offline (delay), archived (stanza-id) and hibernation-queue copies share a key", () => {
    const keys = ["d8-id-offline.xml", "d8-id-archived.xml", "d8-id-queued.xml"].map((f) => copyOf(f).key);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toBe("i:bob@example.net:plain-id-5");
  });

  test("D8 digest: no id at all; delay/stanza-id, bare vs full to, xmlns and formatting do not matter", () => {
    const keys = ["d8-noid-offline.xml", "d8-noid-archived.xml", "d8-noid-queued.xml"].map((f) => copyOf(f).key);
    expect(keys[0]).toMatch(/^d:[0-9a-f]{32}$/);
    expect(new Set(keys).size).toBe(1);
  });

  test("D8 digest differs for a different message", () => {
    expect(copyOf("d8-noid-other.xml").key).not.toBe(copyOf("d8-noid-offline.xml").key);
  });

  test("D8 a received carbon is keyed by the forwarded message (same key as the offline copy)", () => {
    expect(copyOf("d8-carbon-queued.xml").key).toBe(copyOf("event-offline.xml").key);
  });
});

describe("D8 stanzaKey rules", () => {
  test("D8 origin-id wins over the id attribute", () => {
    const m = xml("<message from='a@x/r' id='1'><origin-id xmlns='urn:xmpp:sid:0' id='o9'/></message>");
    expect(stanzaKey(m)).toBe("o:a@x:o9");
  });

  test("D8 origin-id in another namespace is ignored", () => {
    const m = xml("<message from='a@x/r' id='1'><origin-id xmlns='urn:xmpp:sid:1' id='o9'/></message>");
    expect(stanzaKey(m)).toBe("i:a@x:1");
  });

  test("D8 empty origin-id or id falls through", () => {
    const m = xml("<message from='a@x/r' id=''><origin-id xmlns='urn:xmpp:sid:0' id=''/><body>b</body></message>");
    expect(stanzaKey(m)).toMatch(/^d:/);
  });

  test("D8 the same id from different senders gives different keys", () => {
    expect(stanzaKey(xml("<message from='a@x/r' id='1'/>"))).not.toBe(stanzaKey(xml("<message from='b@x/r' id='1'/>")));
  });

  test("D8 the sender's resource does not matter, the bare JID does (case-insensitive)", () => {
    expect(stanzaKey(xml("<message from='A@X/one' id='1'/>"))).toBe(stanzaKey(xml("<message from='a@x/two' id='1'/>")));
  });

  test("D8 a sent carbon is keyed by its inner message", () => {
    const m = xml(
      "<message from='me@x' to='me@x/p' id='w'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>" +
        "<message xmlns='jabber:client' from='me@x/desk' to='bob@y' id='inner'/></forwarded></sent></message>",
    );
    expect(stanzaKey(m)).toBe("i:me@x:inner");
    expect(carbonInner(m)?.attrs.id).toBe("inner");
  });

  test("D8 a carbon-looking wrapper in a foreign namespace is not unwrapped", () => {
    const m = xml(
      "<message from='me@x' id='w'><sent xmlns='urn:other'><forwarded xmlns='urn:xmpp:forward:0'>" +
        "<message from='bob@y' id='inner'/></forwarded></sent></message>",
    );
    expect(stanzaKey(m)).toBe("i:me@x:w");
  });

  test("D8 digest ignores attribute order and whitespace between elements but not text content", () => {
    const a = xml("<message from='a@x' type='chat'><body>hi</body></message>");
    const b = xml("<message type='chat' from='a@x'>\n  <body>hi</body>\n</message>");
    const c = xml("<message from='a@x' type='chat'><body>hi!</body></message>");
    expect(stanzaKey(a)).toBe(stanzaKey(b));
    expect(stanzaKey(a)).not.toBe(stanzaKey(c));
  });

  test("D8 digest is deterministic and stable (pinned value)", () => {
    const m = xml("<message from='a@x' type='chat'><body>hi</body></message>");
    expect(canonical(m)).toBe('<message from="a@x" type="chat"><body>hi</body></message>');
    // sha256 of the canonical text above, first 128 bits (checked with sha256sum).
    expect(stanzaKey(m)).toBe("d:99b43ab3a958690240286ebdd6c7490b");
  });

  test("D8 only top-level server additions are dropped from the digest", () => {
    const a = xml("<message from='a@x'><x xmlns='urn:y'><delay xmlns='urn:xmpp:delay' stamp='1'/></x></message>");
    const b = xml("<message from='a@x'><x xmlns='urn:y'><delay xmlns='urn:xmpp:delay' stamp='2'/></x></message>");
    expect(stanzaKey(a)).not.toBe(stanzaKey(b));
  });

  test("D8 a presence without id gets a digest", () => {
    expect(stanzaKey(xml("<presence from='c@y/x'/>"))).toMatch(/^d:[0-9a-f]{32}$/);
  });

  test("D8 text is escaped in the canonical form, so markup in text cannot collide with elements", () => {
    const a = new Element("message", { from: "a@x" });
    a.c("body").t("<b/>");
    const b = xml("<message from='a@x'><body><b/></body></message>");
    expect(stanzaKey(a)).not.toBe(stanzaKey(b));
  });

  test("bareJid strips the resource and lower-cases", () => {
    expect(bareJid("Alice@Example.COM/Phone/x")).toBe("alice@example.com");
    expect(bareJid("example.com")).toBe("example.com");
  });
});
