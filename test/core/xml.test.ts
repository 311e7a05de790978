import { expect, test } from "bun:test";
import { childText, getChild, serialize, utf8Length } from "../../src/core/xml.ts";
import { xml } from "./harness.ts";

test("B6 serialize() escapes text and attributes and round-trips through ltx", () => {
  const node = {
    name: "x",
    attrs: { xmlns: "jabber:x:data", a: `"'<&>` },
    children: ["1 < 2 & 3 > 2", { name: "e", attrs: {}, children: [] }],
  };
  const text = serialize(node);
  expect(text).toBe(`<x xmlns="jabber:x:data" a="&quot;&apos;&lt;&amp;&gt;">1 &lt; 2 &amp; 3 &gt; 2<e/></x>`);
  const back = xml(text);
  expect(back.attrs.a).toBe(`"'<&>`);
  expect(back.children[0]).toBe("1 < 2 & 3 > 2");
});

test("getChild() honours inherited namespaces; childText() reads text", () => {
  const node = xml(`<message xmlns="jabber:client"><body>hi</body><x xmlns="jabber:x:data"/></message>`);
  expect(getChild(node, "body", "jabber:client")).toBeDefined();
  expect(getChild(node, "x", "jabber:client")).toBeUndefined();
  expect(childText(node, "body")).toBe("hi");
  expect(childText(node, "subject")).toBeNull();
});

test("D2 utf8Length() counts UTF-8 bytes", () => {
  expect(utf8Length("aé€😀")).toBe(1 + 2 + 3 + 4);
  expect(utf8Length("aé€😀")).toBe(Buffer.byteLength("aé€😀"));
});
