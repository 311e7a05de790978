import { expect, test } from "bun:test";
import { parseJid, resourceOf } from "../../src/core/jid.ts";

test("D1 parseJid() accepts domains, bare and full JIDs, and IPv6 literals", () => {
  expect(parseJid("push.example")).toEqual({ local: null, domain: "push.example", resource: null });
  expect(parseJid("a@b.example/r/with/slashes")).toEqual({ local: "a", domain: "b.example", resource: "r/with/slashes" });
  expect(parseJid("[::1]")?.domain).toBe("[::1]");
  expect(parseJid("push.example.")?.domain).toBe("push.example");
});

test("D1 parseJid() rejects empty parts, forbidden characters, whitespace and oversized parts", () => {
  const bad = [
    "",
    "@d",
    "l@",
    "l@d/",
    "l l@d",
    "l:x@d",
    "l<@d",
    "l'@d",
    "d d",
    "[::1",
    "a..b",
    `${"x".repeat(1024)}@d`,
    `l@${"d".repeat(1024)}`,
    `l@d/${"r".repeat(1024)}`,
    "l@d/ ",
  ];
  for (const jid of bad) expect(parseJid(jid)).toBeNull();
  expect(parseJid(`${"x".repeat(1023)}@d`)).not.toBeNull();
});

test("resourceOf() returns the resource of a full JID", () => {
  expect(resourceOf("a@b/c")).toBe("c");
  expect(resourceOf("a@b")).toBeNull();
});
