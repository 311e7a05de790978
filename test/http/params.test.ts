import { expect, test } from "bun:test";

import { parseLimit, parseUser } from "../../src/http/params.ts";

test("parseUser normalises a local part nodeprep-ish (NFKC, lower case) and returns the bare JID", () => {
  expect(parseUser("\uff21lice", ["example.com"])).toEqual({ ok: true, value: "alice@example.com" });
  expect(parseUser("ALICE@EXAMPLE.com", ["example.com"])).toEqual({ ok: true, value: "alice@example.com" });
});

test("parseUser rejects a JID whose domain only starts with the host", () => {
  expect(parseUser("alice@example.com.evil", ["example.com"]).ok).toBe(false);
  expect(parseUser("alice@", ["example.com"]).ok).toBe(false);
});

test("issue 13 parseUser: user@host on any configured host; a bare local part only with one host", () => {
  const hosts = ["a.example", "b.example"];
  expect(parseUser("alice@B.example", hosts)).toEqual({ ok: true, value: "alice@b.example" });
  expect(parseUser("alice", hosts)).toEqual({
    ok: false,
    error: "Cannot use user: give user@host: several hosts are configured (a.example, b.example)",
  });
  expect(parseUser("alice@c.example", hosts)).toEqual({
    ok: false,
    error: "Cannot use user: host c.example is not served here (hosts: a.example, b.example)",
  });
  expect(parseUser("a@b@a.example", hosts).ok).toBe(false); // '@' is not allowed in a local part
});

test("parseLimit defaults to 100 and clamps integers to 1..1000", () => {
  expect(parseLimit(undefined)).toEqual({ ok: true, value: 100 });
  expect(parseLimit("1000")).toEqual({ ok: true, value: 1000 });
  expect(parseLimit("1001")).toEqual({ ok: true, value: 1000 });
  expect(parseLimit("1")).toEqual({ ok: true, value: 1 });
  expect(parseLimit("NaN").ok).toBe(false);
  expect(parseLimit("Infinity").ok).toBe(false);
});
