import { describe, expect, test } from "bun:test";
import { isImportant, unwrapCarbon } from "../../src/core/importance.ts";
import { fixture, xml } from "./harness.ts";

describe("isImportant() over fixtures", () => {
  const table: Array<[string, string, boolean]> = [
    ["B18", "presence-subscribe", false],
    ["B18", "iq-ping", false],
    ["B19", "carbon-received", true],
    ["B19", "carbon-sent", false],
    ["B19", "carbon-received-chatstate", false],
    ["B20", "headline", false],
    ["B20", "carbon-received-headline", false],
    ["B21", "omemo-legacy", true],
    ["B21", "omemo-0", true],
    ["B21", "openpgp-legacy", true],
    ["B21", "ox", true],
    ["B21", "jmi-0-propose", true],
    ["D7", "omemo-1", true],
    ["D7", "omemo-2", true],
    ["D7", "eme-only", true],
    ["D7", "jmi-1-propose", true],
    ["D7", "error-with-body", false],
    ["B22", "muc-subject", false],
    ["B23", "muc-body", true],
    ["B23", "message-body", true],
    ["B23", "message-empty-body", false],
    ["B23", "receipt", false],
    ["B23", "marker", false],
    ["B23", "chat-state", false],
    ["B23", "jmi-0-retract", false],
  ];
  for (const [number, name, expected] of table) {
    test(`${number} ${name} is ${expected ? "important" : "not important"}`, () => {
      expect(isImportant(fixture(name))).toBe(expected);
    });
  }
});

test("B18 an absent stanza (ping) is not important", () => {
  expect(isImportant(null)).toBe(false);
});

test("B19 unwrapCarbon() returns the inner message and the direction", () => {
  const received = unwrapCarbon(fixture("carbon-received"));
  expect(received.sent).toBe(false);
  expect(received.message.attrs.id).toBe("inner1");
  expect(unwrapCarbon(fixture("carbon-sent")).sent).toBe(true);
  const plain = fixture("message-body");
  expect(unwrapCarbon(plain).message).toBe(plain);
});

test("B21 an encryption marker beats an empty body; groupchat subject check comes after it", () => {
  const stanza = xml(`<message xmlns="jabber:client" type="groupchat"><subject>x</subject><encrypted xmlns="urn:xmpp:omemo:2"/></message>`);
  expect(isImportant(stanza)).toBe(true);
});

test("B21 a marker in the wrong namespace does not count", () => {
  expect(isImportant(xml(`<message xmlns="jabber:client"><encrypted xmlns="urn:example:other"/></message>`))).toBe(false);
});

test("B23 a whitespace-only body is non-empty text, hence important (as the reference)", () => {
  expect(isImportant(xml(`<message xmlns="jabber:client"><body> </body></message>`))).toBe(true);
});
