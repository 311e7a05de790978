import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LuaTable, LuaValue } from "../../src/import/lua-table.ts";
import { isTable, parseLuaData, sequenceOf } from "../../src/import/lua-table.ts";

/** One literal, as the value of a `return` chunk (no newline added: line numbers stay). */
function parseLiteral(text: string): ReturnType<typeof parseLuaData> {
  return parseLuaData(`return ${text}`);
}

/** A file as Prosody 0.12's mod_cloud_notify wrote it (captured from a real run). */
const REAL_CLOUD_NOTIFY_FILE = readFileSync(join(import.meta.dir, "../fixtures/prosody/cloud_notify.dat"), "utf8");

function ok(text: string): LuaValue {
  const result = parseLiteral(text);
  if (!result.ok) throw new Error(result.error);
  return result.value;
}

function table(text: string): LuaTable {
  const value = ok(text);
  if (!isTable(value)) throw new Error("not a table");
  return value;
}

function error(text: string, opts?: Parameters<typeof parseLuaData>[1]): string {
  const result = parseLuaData(text, opts);
  if (result.ok) throw new Error(`parsed: ${text.slice(0, 80)}`);
  return result.error;
}

describe("parseLuaData", () => {
  test("parses a real mod_cloud_notify file", () => {
    const result = parseLuaData(REAL_CLOUD_NOTIFY_FILE);
    expect(result.ok).toBe(true);
    if (!result.ok || !isTable(result.value)) return;
    expect([...result.value.fields.keys()].sort()).toEqual(["push.example<n1", "push2.example<"]);
    const entry = result.value.fields.get("push.example<n1");
    if (!isTable(entry)) throw new Error("entry");
    expect(entry.fields.get("timestamp")).toBe(1795621325);
    expect(entry.fields.get("node")).toBe("n1");
    const options = entry.fields.get("options");
    if (!isTable(options)) throw new Error("options");
    const fields = sequenceOf(options);
    expect(fields).toHaveLength(2);
    const secretField = fields[1];
    if (!isTable(secretField)) throw new Error("field");
    const value = sequenceOf(secretField)[0];
    if (!isTable(value)) throw new Error("value");
    expect(sequenceOf(value)).toEqual(["s3cr&t <1> é"]);
  });

  test("requires 'return' and accepts comments and a trailing semicolon", () => {
    expect(parseLuaData("-- saved\nreturn --[[ x ]] { a = 1 } ; \n")).toMatchObject({ ok: true });
    expect(error("{ a = 1 }")).toContain("expected 'return'");
    expect(error("return { } x")).toContain("unexpected text after the value");
  });

  test("empty input and a bare return are errors", () => {
    expect(error("")).toContain("expected 'return'");
    expect(error("return")).toContain("unexpected end of input");
  });
});

describe("against Prosody's own util.serialization (lua5.4)", () => {
  test("parses what Prosody's serializer writes for every ASCII byte, UTF-8, numbers and nesting", () => {
    const script = [
      'package.path = "/usr/lib/prosody/?.lua;" .. package.path',
      'package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath',
      'local serialize = require "util.serialization".serialize',
      "local chars = {}",
      "for i = 0, 127 do chars[#chars+1] = string.char(i) end",
      't = { ascii = table.concat(chars), utf8 = "\\195\\169\\240\\159\\152\\128",',
      "  nums = { 0, -1, 9007199254740992, 0.1, 1e300, math.huge, -math.huge, -2.5e-7 },",
      '  flags = { yes = true, no = false }, ["key with spaces"] = { {}, { "x" } }, [7] = "seven" }',
      'io.write("return " .. serialize(t) .. ";\\n")',
    ].join("\n");
    const lua = Bun.spawnSync(["/usr/bin/lua5.4", "-e", script]);
    expect(lua.exitCode).toBe(0);
    const result = parseLuaData(lua.stdout.toString());
    if (!result.ok) throw new Error(result.error);
    const t = result.value;
    if (!isTable(t)) throw new Error("not a table");
    expect(t.fields.get("ascii")).toBe(Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join(""));
    expect(t.fields.get("utf8")).toBe("é😀");
    const nums = t.fields.get("nums");
    if (!isTable(nums)) throw new Error("nums");
    expect(sequenceOf(nums)).toEqual([0, -1, 9007199254740992, 0.1, 1e300, Infinity, -Infinity, -2.5e-7]);
    const flags = t.fields.get("flags");
    expect(isTable(flags) && Object.fromEntries(flags.fields)).toEqual({ yes: true, no: false });
    const nested = t.fields.get("key with spaces");
    if (!isTable(nested)) throw new Error("nested");
    const [empty, one] = sequenceOf(nested);
    expect(isTable(empty) && empty.fields.size).toBe(0);
    expect(isTable(one) && sequenceOf(one)).toEqual(["x"]);
    expect(t.fields.get(7)).toBe("seven");
  });
});

describe("Lua literals: scalars", () => {
  test("nil, booleans", () => {
    expect(ok("nil")).toBeNull();
    expect(ok("true")).toBe(true);
    expect(ok("false")).toBe(false);
  });

  test("numbers: integers, floats, exponents, hex, negatives, inf and nan forms", () => {
    expect(ok("1795621325")).toBe(1795621325);
    expect(ok("-42")).toBe(-42);
    expect(ok("3.25")).toBe(3.25);
    expect(ok(".5")).toBe(0.5);
    expect(ok("1e3")).toBe(1000);
    expect(ok("2.5E-1")).toBe(0.25);
    expect(ok("0xff")).toBe(255);
    expect(ok("0x1p4")).toBe(16);
    expect(ok("0.10000000000000000555")).toBe(0.1);
    expect(ok("(1/0)")).toBe(Number.POSITIVE_INFINITY);
    expect(ok("(-1/0)")).toBe(Number.NEGATIVE_INFINITY);
    expect(Number.isNaN(ok("(0/0)"))).toBe(true);
  });

  test("malformed numbers are errors", () => {
    for (const bad of ["1e", "12abc", "0x", "1..2", "(2/3)", "(1/0"]) {
      expect(parseLiteral(bad).ok).toBe(false);
    }
  });

  test("double and single quoted strings", () => {
    expect(ok(`"hello"`)).toBe("hello");
    expect(ok(`'it'`)).toBe("it");
    expect(ok(`'say "hi"'`)).toBe('say "hi"');
  });

  test("the escapes util.serialization writes", () => {
    expect(ok(String.raw`"a\"b\\c\nd\te\r\a\b\f\v\'"`)).toBe("a\"b\\c\nd\te\r\x07\b\f\v'");
    // bytes 127-255 are written as \ddd: UTF-8 é is \195\169
    expect(ok(String.raw`"caf\195\169"`)).toBe("café");
    expect(ok(String.raw`"\000\001\0311"`)).toBe("\0\x01\x1f1");
    expect(ok(String.raw`"\240\159\152\128"`)).toBe("😀");
  });

  test("other Lua 5.4 escapes: \\x, \\z, \\u{}, escaped newline", () => {
    expect(ok(String.raw`"\x41\x62"`)).toBe("Ab");
    expect(ok('"a\\z   \n  b"')).toBe("ab");
    expect(ok(String.raw`"\u{48}\u{E9}\u{1F600}"`)).toBe("Hé😀");
    expect(ok('"line1\\\nline2"')).toBe("line1\nline2");
  });

  test("raw non-ASCII text inside quotes is kept", () => {
    expect(ok(`"Grüße 😀"`)).toBe("Grüße 😀");
  });

  test("bad escapes and invalid UTF-8 are errors", () => {
    expect(parseLiteral(String.raw`"\256"`)).toMatchObject({ ok: false });
    expect(parseLiteral(String.raw`"\q"`)).toMatchObject({ ok: false });
    expect(parseLiteral(String.raw`"\xZZ"`)).toMatchObject({ ok: false });
    expect(parseLiteral(String.raw`"\u{D800}"`)).toMatchObject({ ok: false });
    const invalid = parseLiteral(String.raw`"\255\254"`);
    expect(invalid.ok).toBe(false);
    if (!invalid.ok) expect(invalid.error).toContain("not valid UTF-8");
  });

  test("long strings at any level, skipping the first newline", () => {
    expect(ok("[[abc]]")).toBe("abc");
    expect(ok("[[\nfirst\nsecond]]")).toBe("first\nsecond");
    expect(ok("[==[a]]b]=]c]==]")).toBe("a]]b]=]c");
    expect(ok("[[no \\n escapes]]")).toBe("no \\n escapes");
  });

  test("identifiers that are not literals are refused (nothing is evaluated)", () => {
    const result = parseLiteral("os.execute('rm -rf /')");
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain("'os' is not a literal");
    expect(parseLuaData("return { a = io }").ok).toBe(false);
    expect(parseLuaData("return function() end").ok).toBe(false);
    expect(parseLuaData('return { ["a"] = "b" .. "c" }').ok).toBe(false);
  });
});

describe("Lua literals: tables", () => {
  test("positional, named and bracketed fields with , and ; separators", () => {
    const t = table(`{ "a", "b"; x = 1, ["y z"] = true, [10] = "ten", [true] = false, }`);
    expect(sequenceOf(t)).toEqual(["a", "b"]);
    expect(t.fields.get("x")).toBe(1);
    expect(t.fields.get("y z")).toBe(true);
    expect(t.fields.get(10)).toBe("ten");
    expect(t.fields.get(true)).toBe(false);
  });

  test("explicit integer keys form a sequence like positional ones", () => {
    expect(sequenceOf(table(`{ [1] = "a", [2] = "b", [4] = "d" }`))).toEqual(["a", "b"]);
  });

  test("string key '1' and number key 1 are different keys", () => {
    const t = table(`{ ["1"] = "s", [1] = "n" }`);
    expect(t.fields.get("1")).toBe("s");
    expect(t.fields.get(1)).toBe("n");
  });

  test("nil values are left out, a later duplicate key wins", () => {
    const t = table(`{ a = nil, b = 1, b = 2 }`);
    expect(t.fields.has("a")).toBe(false);
    expect(t.fields.get("b")).toBe(2);
  });

  test("nested tables and empty tables", () => {
    const t = table(`{ a = { b = { c = {} } } }`);
    const a = t.fields.get("a");
    if (!isTable(a)) throw new Error("a");
    const b = a.fields.get("b");
    if (!isTable(b)) throw new Error("b");
    const c = b.fields.get("c");
    expect(isTable(c) && c.fields.size === 0).toBe(true);
  });

  test("refused keys: nil, NaN, tables, keywords as names", () => {
    expect(parseLiteral(`{ [nil] = 1 }`).ok).toBe(false);
    expect(parseLiteral(`{ [(0/0)] = 1 }`).ok).toBe(false);
    expect(parseLiteral(`{ [{}] = 1 }`).ok).toBe(false);
    expect(parseLiteral(`{ end = 1 }`).ok).toBe(false);
  });

  test("missing separators and brackets are errors with a position", () => {
    const result = parseLiteral(`{\n  a = 1\n  b = 2 }`);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toBe("Cannot parse Lua data: expected ',', ';' or '}' at line 3 column 3");
    expect(parseLiteral(`{ ["a" = 1 }`).ok).toBe(false);
    expect(parseLiteral(`{ ["a"] 1 }`).ok).toBe(false);
  });
});

describe("hostile input", () => {
  test("unterminated table, string, long string and long comment", () => {
    expect(error("return { a = 1")).toContain("unterminated table at line 1 column 8");
    expect(error('return { a = "abc }')).toContain("unterminated string");
    expect(error('return "abc\n"')).toContain("unterminated string");
    expect(error("return [==[ abc ]=]")).toContain("unterminated long string");
    expect(error("--[[ never closed\nreturn {}")).toContain("unterminated long comment");
    expect(error('return "abc\\')).toContain("unterminated string");
  });

  test("input over the size limit is refused before parsing", () => {
    const huge = `return "${"a".repeat(5 * 1024 * 1024)}"`;
    expect(error(huge)).toContain("more than 4194304");
    expect(error("return { 1, 2, 3 }", { maxLength: 10 })).toContain("more than 10");
  });

  test("deep nesting is refused without a stack overflow", () => {
    const deep = `return ${"{".repeat(100_000)}${"}".repeat(100_000)}`;
    expect(error(deep, { maxLength: 1_000_000 })).toContain("nested deeper than 64");
    expect(parseLuaData(`return ${"{".repeat(64)}${"}".repeat(64)}`).ok).toBe(true);
    expect(parseLuaData(`return ${"{".repeat(65)}${"}".repeat(65)}`).ok).toBe(false);
  });

  test("too many values are refused", () => {
    const many = `return { ${Array.from({ length: 2000 }, (_, i) => i).join(", ")} }`;
    expect(error(many, { maxValues: 1000 })).toContain("more than 1000 values");
  });

  test("a large but legitimate file parses quickly", () => {
    const entries = Array.from(
      { length: 20_000 },
      (_, i) => `["push.example<node${i}"] = { ["jid"] = "push.example"; ["node"] = "node${i}"; ["timestamp"] = ${1700000000 + i}; };`,
    );
    const started = performance.now();
    const result = parseLuaData(`return {\n${entries.join("\n")}\n};\n`);
    expect(result.ok).toBe(true);
    if (result.ok && isTable(result.value)) expect(result.value.fields.size).toBe(20_000);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("garbage bytes give an error, not an exception", () => {
    for (const junk of ["return \u0000", "return {\u0001}", "return @", "return { = }", "return }", "return ((("]) {
      expect(parseLuaData(junk).ok).toBe(false);
    }
  });
});
