import { expect, test } from "bun:test";

import { parseLimit, parseUser } from "../../src/http/params.ts";

test("parseUser normalises a local part nodeprep-ish (NFKC, lower case)", () => {
  expect(parseUser("\uff21lice", "example.com")).toEqual({ ok: true, value: "alice" });
  expect(parseUser("ALICE@EXAMPLE.com", "example.com")).toEqual({ ok: true, value: "alice" });
});

test("parseUser rejects a JID whose domain only starts with the host", () => {
  expect(parseUser("alice@example.com.evil", "example.com").ok).toBe(false);
  expect(parseUser("alice@", "example.com").ok).toBe(false);
});

test("parseLimit defaults to 100 and clamps integers to 1..1000", () => {
  expect(parseLimit(undefined)).toEqual({ ok: true, value: 100 });
  expect(parseLimit("1000")).toEqual({ ok: true, value: 1000 });
  expect(parseLimit("1001")).toEqual({ ok: true, value: 1000 });
  expect(parseLimit("1")).toEqual({ ok: true, value: 1 });
  expect(parseLimit("NaN").ok).toBe(false);
  expect(parseLimit("Infinity").ok).toBe(false);
});
