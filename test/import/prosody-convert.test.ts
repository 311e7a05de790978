import { describe, expect, test } from "bun:test";
import { parseLuaData } from "../../src/import/lua-table.ts";
import type { ConvertedUser } from "../../src/import/prosody.ts";
import { convertUserStore, decodeStoreName, encodeStoreName } from "../../src/import/prosody.ts";

const CTX = { host: "im.example", config: { maxNodeLength: 1024, maxPublishOptionsBytes: 8192 }, now: 1_234_000 };

function convert(lua: string, user = "alice"): ConvertedUser {
  const parsed = parseLuaData(lua);
  if (!parsed.ok) throw new Error(parsed.error);
  const result = convertUserStore(user, parsed.value, CTX);
  if (!result.ok) throw new Error(result.error);
  return result.value;
}

function entry(fields: string): string {
  return `return { ["push.example<n"] = { ["jid"] = "push.example"; ["node"] = "n"; ${fields} }; };`;
}

describe("store names (util/datamanager.lua encode/decode)", () => {
  test("every byte outside [A-Za-z0-9] is %xx in lower case", () => {
    expect(encodeStoreName("carol.x")).toBe("carol%2ex");
    expect(encodeStoreName("im.example")).toBe("im%2eexample");
    expect(encodeStoreName("jörg_1")).toBe("j%c3%b6rg%5f1");
    expect(decodeStoreName("j%c3%b6rg%5f1")).toBe("jörg_1");
    expect(decodeStoreName("A%2E")).toBe("A.");
    expect(decodeStoreName("bad%ff")).toBeNull();
  });
});

describe("convertUserStore", () => {
  test("maps the push_info fields to a Registration", () => {
    const out = convert(entry(`["include_payload"] = "true"; ["timestamp"] = 1700000000; ["client_id"] = "c1"; ["language"] = "de";`));
    expect(out.registrations).toEqual([
      {
        user: "alice@im.example",
        identifier: "push.example<n",
        jid: "push.example",
        node: "n",
        includePayload: true,
        publishOptions: null,
        clientId: "c1",
        resource: null,
        language: "de",
        createdAt: 1_700_000_000_000,
        updatedAt: 1_700_000_000_000,
        errorCount: 0,
        lastError: null,
        lastErrorAt: null,
      },
    ]);
  });

  test("an entry without a timestamp gets the import time; an empty node is no node", () => {
    const out = convert(`return { ["p.example<"] = { ["jid"] = "p.example"; ["node"] = ""; }; };`);
    expect(out.registrations[0]).toMatchObject({ identifier: "p.example<", node: null, createdAt: 1_234_000 });
  });

  test("options are written like Prosody's tostring: xmlns only where it changes, namespaced attributes declared", () => {
    const options = `["options"] = {
      { { "v1"; ["name"] = "value"; ["attr"] = { ["xmlns"] = "jabber:x:data" } };
        ["name"] = "field"; ["attr"] = { ["xmlns"] = "jabber:x:data"; ["var"] = "a" } };
      { ["name"] = "extra"; ["attr"] = { ["xmlns"] = "urn:other"; ["urn:attrs\\1flag"] = "1"; ["http://www.w3.org/XML/1998/namespace\\1lang"] = "en" } };
      ["name"] = "x"; ["attr"] = { ["type"] = "submit"; ["xmlns"] = "jabber:x:data" } };`;
    const out = convert(entry(options));
    expect(out.registrations[0]?.publishOptions).toBe(
      '<x xmlns="jabber:x:data" type="submit"><field var="a"><value>v1</value></field>' +
        '<extra xmlns="urn:other" xmlns:ns1="urn:attrs" ns1:flag="1" xml:lang="en"/></x>',
    );
  });

  test("the stored key is recomputed from jid and node", () => {
    const out = convert(`return { ["wrong"] = { ["jid"] = "push.example"; ["node"] = "n"; }; };`);
    expect(out.renamed).toEqual([{ stored: "wrong", identifier: "push.example<n" }]);
    expect(out.registrations[0]?.identifier).toBe("push.example<n");
  });

  test("D1 D2 invalid entries are reported one by one and the rest is kept", () => {
    const long = "n".repeat(1025);
    const out = convert(`return {
      ["a"] = { ["jid"] = "bad jid"; };
      ["b"] = { ["jid"] = "im.example"; };
      ["c"] = { ["jid"] = "p.example"; ["node"] = "${long}"; };
      ["d"] = { ["jid"] = "p.example"; ["node"] = "d"; ["options"] = { ["name"] = "y"; ["attr"] = { ["xmlns"] = "jabber:x:data" } }; };
      ["e"] = { ["jid"] = "p.example"; ["node"] = "e"; ["options"] = { ["name"] = "x"; ["attr"] = { ["xmlns"] = "jabber:x:data" }; "${"z".repeat(9000)}" }; };
      ["f"] = { ["jid"] = "p.example"; ["node"] = "f"; ["timestamp"] = "yesterday"; };
      ["g"] = "not a table";
      ["h"] = { ["jid"] = "p.example"; ["node"] = "h"; ["options"] = { ["name"] = "x"; ["attr"] = { ["xmlns"] = "jabber:x:data"; ["bad name"] = "1" } }; };
      ["ok"] = { ["jid"] = "p.example"; ["node"] = "ok"; };
    };`);
    expect(out.registrations.map((r) => r.identifier)).toEqual(["p.example<ok"]);
    expect(Object.fromEntries(out.invalid.map((e) => [e.identifier, e.error]))).toEqual({
      a: 'jid "bad jid" is not a valid JID (D1)',
      b: "jid im.example is the user's own account or server (D1)",
      c: "node is longer than 1024 characters (D2)",
      d: "options is not a jabber:x:data form",
      e: "options are larger than 8192 bytes (D2)",
      f: "timestamp is not a number of seconds",
      g: "the entry is not a table",
      h: "options: <x> has an invalid attribute name",
    });
  });

  test("a stored value that is not a table fails as a whole", () => {
    const parsed = parseLuaData('return "x"');
    if (!parsed.ok) throw new Error(parsed.error);
    expect(convertUserStore("alice", parsed.value, CTX)).toEqual({
      ok: false,
      error: "Cannot convert alice: the stored value is not a table",
    });
  });
});
