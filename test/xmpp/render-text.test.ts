import { describe, expect, test } from "bun:test";
import { parse } from "ltx";

import type { Publish } from "../../src/core/types.ts";
import { renderPublishAsHost } from "../helpers/publish-as-host-tree.ts";
import { ackText, publishAsHostText } from "../../src/xmpp/render-text.ts";
import { NS_BRIDGE } from "../../src/xmpp/ns.ts";

const CTX = { host: "example.com", componentDomain: "push.example.com", commandId: "ph-1" };
const BASE: Publish = {
  id: "ab".repeat(32),
  user: "alice",
  identifier: "push.app<n1",
  to: "push.app",
  node: "n1",
  summary: { messageCount: "3", pendingSubscriptionCount: null, lastMessageSender: null, lastMessageBody: "New Message!" },
  publishOptions: null,
  important: true,
  trigger: "offline",
  payload: [],
  deadline: 0,
};
const FORM =
  '<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/pubsub#publish-options</value></field>' +
  '<field var="secret"><value>s3cr3t &amp; &lt;more&gt;</value></field></x>';

const CASES: Array<[string, Partial<Publish>]> = [
  ["the B26 example", {}],
  ["B5 no node", { node: null }],
  ["B6 stored publish-options", { publishOptions: FORM }],
  [
    "B25 sender and body with characters to escape",
    {
      summary: {
        messageCount: "1",
        pendingSubscriptionCount: null,
        lastMessageSender: "bob@x.example/r&d",
        lastMessageBody: `<b>"hi" & 'bye'</b>`,
      },
    },
  ],
  [
    "B27 empty placeholder is an empty <value/>",
    { summary: { messageCount: "0", pendingSubscriptionCount: null, lastMessageSender: null, lastMessageBody: "" } },
  ],
  ["D16 extension payload", { payload: [{ name: "priority", attrs: { xmlns: "tigase:push:priority:0" }, children: ["high"] }] }],
  ["a malformed stored form is left out", { publishOptions: "<x xmlns='jabber:x:data'><unclosed></x>" }],
  ["node and ids needing escapes", { node: `a"b<c>&d`, to: "push.app", id: "cd".repeat(32) }],
];

describe("publishAsHostText renders what renderPublishAsHost renders", () => {
  for (const [name, over] of CASES) {
    test(`B26 D15 ${name}`, () => {
      const p = { ...BASE, ...over };
      const text = publishAsHostText(p, CTX);
      const tree = renderPublishAsHost(p, CTX);
      expect(parse(text).toString()).toBe(parse(tree.toString()).toString());
      expect(text).toBe(tree.toString()); // same serialiser rules (xml-escape.ts): byte-identical
    });
  }
});

test("D23 a carried ack comes first in the command's message, the command unchanged", () => {
  const plain = parse(publishAsHostText(BASE, CTX));
  const carried = parse(publishAsHostText(BASE, { ...CTX, ack: ackText("k3&j", 42) }));
  expect(carried.children[0]).toMatchObject({ name: "ack", attrs: { xmlns: NS_BRIDGE, epoch: "k3&j", seq: "42" } });
  expect(carried.getChild("publish-as-host", NS_BRIDGE)?.toString()).toBe(plain.getChild("publish-as-host", NS_BRIDGE)?.toString());
  expect(publishAsHostText(BASE, { ...CTX, ack: "" })).toBe(publishAsHostText(BASE, CTX));
});
