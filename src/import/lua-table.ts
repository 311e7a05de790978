/**
 * A safe parser for the Lua literal subset Prosody's file storage writes
 * (util/datamanager.lua: `"return " .. serialize(data) .. ";\n"`, util/serialization.lua).
 * Nothing is executed: the input is tokenised and only literals are accepted.
 *
 * Accepted: `return <value> [;]` (comments allowed), where a value is `nil`, `true`, `false`,
 * a number (decimal, hexadecimal, exponents, unary minus, and the `(1/0)`, `(-1/0)`, `(0/0)`
 * forms Prosody writes for infinities and NaN), a string (`"…"`, `'…'` with every Lua 5.4
 * escape, or a long string `[[…]]`, `[==[…]==]`) or a table constructor with `[key] = v`,
 * `name = v` and positional fields separated by `,` or `;`.
 *
 * Lua strings are bytes; Prosody writes bytes 127–255 as `\ddd`, so strings are collected as
 * bytes and decoded as UTF-8 at the end (invalid UTF-8 is an error).
 * Bounds: input size, nesting depth and the total number of values; a hostile file gives an
 * error, never a crash or unbounded work.
 * @module
 */

/** A Lua value. `null` is nil. */
export type LuaValue = null | boolean | number | string | LuaTable;

/** Keys a table may have here (table keys and NaN are refused). */
export type LuaKey = boolean | number | string;

/** A Lua table. Fields with a nil value are left out, as in Lua. */
export interface LuaTable {
  kind: "table";
  fields: Map<LuaKey, LuaValue>;
}

export interface LuaParseOptions {
  /** Longest accepted input, in UTF-16 code units (default 4 MiB). */
  maxLength?: number;
  /** Deepest table nesting (default 64). */
  maxDepth?: number;
  /** Most values (tables, strings, numbers …) in one input (default 1,000,000). */
  maxValues?: number;
}

export type LuaParseResult = { ok: true; value: LuaValue } | { ok: false; error: string };

const DEFAULTS = { maxLength: 4 * 1024 * 1024, maxDepth: 64, maxValues: 1_000_000 };

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const KEYWORDS = new Set([
  "and",
  "break",
  "do",
  "else",
  "elseif",
  "end",
  "false",
  "for",
  "function",
  "goto",
  "if",
  "in",
  "local",
  "nil",
  "not",
  "or",
  "repeat",
  "return",
  "then",
  "true",
  "until",
  "while",
]);
const SIMPLE_ESCAPES: Record<string, number> = {
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
  "\\": 92,
  '"': 34,
  "'": 39,
  "\n": 10,
  "\r": 10,
};

class LuaSyntaxError extends Error {
  override name = "LuaSyntaxError";
}

/** Parses a `return <literal>` chunk as Prosody's datamanager writes it. */
export function parseLuaData(text: string, opts: LuaParseOptions = {}): LuaParseResult {
  return run(text, opts, (p) => {
    p.skipSpace();
    if (p.readName() !== "return") p.fail("expected 'return'");
    return p.value(0);
  });
}

/** The table's positional part: values at keys 1, 2, … up to the first nil, like Lua's ipairs. */
export function sequenceOf(table: LuaTable): LuaValue[] {
  const out: LuaValue[] = [];
  for (let i = 1; table.fields.has(i); i++) out.push(table.fields.get(i) ?? null);
  return out;
}

/** A field by string key, or undefined when absent. */
export function field(table: LuaTable, key: string): LuaValue | undefined {
  return table.fields.get(key);
}

export function isTable(value: LuaValue | undefined): value is LuaTable {
  return typeof value === "object" && value !== null && value.kind === "table";
}

function run(text: string, opts: LuaParseOptions, body: (p: Parser) => LuaValue): LuaParseResult {
  const limits = { ...DEFAULTS, ...opts };
  if (text.length > limits.maxLength) {
    return { ok: false, error: `Cannot parse Lua data: input is ${text.length} characters, more than ${limits.maxLength}` };
  }
  const p = new Parser(text, limits);
  try {
    const value = body(p);
    p.skipSpace();
    if (p.peek() === ";") {
      p.pos++;
      p.skipSpace();
    }
    if (!p.atEnd()) p.fail("unexpected text after the value");
    return { ok: true, value };
  } catch (err) {
    if (err instanceof LuaSyntaxError) return { ok: false, error: err.message };
    throw err;
  }
}

class Parser {
  pos = 0;
  private values = 0;
  private readonly utf8 = new TextDecoder("utf-8", { fatal: true });

  constructor(
    private readonly src: string,
    private readonly limits: typeof DEFAULTS,
  ) {}

  atEnd(): boolean {
    return this.pos >= this.src.length;
  }

  peek(offset = 0): string {
    return this.src[this.pos + offset] ?? "";
  }

  fail(detail: string, at = this.pos): never {
    const before = this.src.slice(0, at);
    const line = before.split("\n").length;
    const column = at - before.lastIndexOf("\n");
    throw new LuaSyntaxError(`Cannot parse Lua data: ${detail} at line ${line} column ${column}`);
  }

  /** Skips whitespace and comments (`-- …` and `--[[ … ]]`). */
  skipSpace(): void {
    for (;;) {
      const c = this.peek();
      if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v") {
        this.pos++;
      } else if (c === "-" && this.peek(1) === "-") {
        this.pos += 2;
        const level = this.longBracketLevel();
        if (level >= 0) {
          this.longBracket(level, "comment");
        } else {
          const eol = this.src.indexOf("\n", this.pos);
          this.pos = eol === -1 ? this.src.length : eol + 1;
        }
      } else {
        return;
      }
    }
  }

  readName(): string {
    const start = this.pos;
    if (!NAME_START.test(this.peek())) return "";
    while (NAME_CHAR.test(this.peek())) this.pos++;
    return this.src.slice(start, this.pos);
  }

  private count(): void {
    if (++this.values > this.limits.maxValues) this.fail(`more than ${this.limits.maxValues} values`);
  }

  value(depth: number): LuaValue {
    this.skipSpace();
    this.count();
    const c = this.peek();
    if (c === "{") return this.table(depth + 1);
    if (c === '"' || c === "'") return this.quoted();
    if (c === "[") {
      const level = this.longBracketLevel();
      if (level < 0) this.fail("expected a value");
      return this.longBracket(level, "string");
    }
    if (c === "(") return this.parenthesised();
    if (c === "-" || c === "." || (c >= "0" && c <= "9")) return this.number();
    const start = this.pos;
    const name = this.readName();
    if (name === "nil") return null;
    if (name === "true") return true;
    if (name === "false") return false;
    if (name === "") this.fail(c === "" ? "unexpected end of input" : `unexpected character ${JSON.stringify(c)}`);
    this.fail(`'${name}' is not a literal (only literals are accepted)`, start);
  }

  private table(depth: number): LuaTable {
    if (depth > this.limits.maxDepth) this.fail(`tables nested deeper than ${this.limits.maxDepth}`);
    const open = this.pos;
    this.pos++; // {
    const fields = new Map<LuaKey, LuaValue>();
    let next = 1;
    for (;;) {
      this.skipSpace();
      const c = this.peek();
      if (c === "}") {
        this.pos++;
        return { kind: "table", fields };
      }
      if (c === "") this.fail("unterminated table", open);
      let key: LuaKey;
      let value: LuaValue;
      if (c === "[" && this.longBracketLevel() < 0) {
        this.pos++;
        const keyAt = this.pos;
        key = this.key(this.value(depth), keyAt);
        this.skipSpace();
        this.expect("]");
        this.skipSpace();
        this.expect("=");
        value = this.value(depth);
      } else if (NAME_START.test(c) && this.isNamedField()) {
        const keyAt = this.pos;
        key = this.readName();
        if (KEYWORDS.has(key)) this.fail(`'${key}' cannot be a field name`, keyAt);
        this.skipSpace();
        this.expect("=");
        value = this.value(depth);
      } else {
        key = next++;
        value = this.value(depth);
      }
      if (value === null) fields.delete(key);
      else fields.set(key, value);
      this.skipSpace();
      const sep = this.peek();
      if (sep === "," || sep === ";") this.pos++;
      else if (sep !== "}") this.fail(sep === "" ? "unterminated table" : "expected ',', ';' or '}'", sep === "" ? open : this.pos);
    }
  }

  /** At a name: is it `name =` (a named field) rather than a value such as `true`? */
  private isNamedField(): boolean {
    const save = this.pos;
    this.readName();
    this.skipSpace();
    const named = this.peek() === "=" && this.peek(1) !== "=";
    this.pos = save;
    return named;
  }

  private key(value: LuaValue, at: number): LuaKey {
    if (value === null) this.fail("a table key cannot be nil", at);
    if (typeof value === "object") this.fail("table keys that are tables are not supported", at);
    if (typeof value === "number" && Number.isNaN(value)) this.fail("a table key cannot be NaN", at);
    return value;
  }

  private expect(c: string): void {
    if (this.peek() !== c) this.fail(this.atEnd() ? `expected '${c}' before the end of input` : `expected '${c}'`);
    this.pos++;
  }

  /** `(1/0)`, `(-1/0)`, `(0/0)` as util.serialization writes them, or a parenthesised number. */
  private parenthesised(): number {
    const start = this.pos;
    this.pos++;
    const a = this.numberValue();
    this.skipSpace();
    if (this.peek() === ")") {
      this.pos++;
      return a;
    }
    this.expect("/");
    const b = this.numberValue();
    this.skipSpace();
    this.expect(")");
    if (b !== 0) this.fail("only (1/0), (-1/0) and (0/0) divisions are accepted", start);
    return a === 0 ? Number.NaN : a > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  }

  private numberValue(): number {
    this.skipSpace();
    return this.number();
  }

  private number(): number {
    const start = this.pos;
    let sign = 1;
    while (this.peek() === "-") {
      if (this.peek(1) === "-") this.fail("unexpected comment");
      sign = -sign;
      this.pos++;
      this.skipSpace();
    }
    const rest = this.src.slice(this.pos, this.pos + 400);
    const match = /^(0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/.exec(rest);
    if (match === null) this.fail("expected a number", start);
    const literal = match[0];
    this.pos += literal.length;
    if (NAME_CHAR.test(this.peek()) || this.peek() === ".") this.fail("malformed number", start);
    const value = /^0[xX]/.test(literal) ? hexNumber(literal) : Number(literal);
    if (Number.isNaN(value)) this.fail("malformed number", start);
    return sign * value;
  }

  private quoted(): string {
    const open = this.pos;
    const quote = this.peek();
    this.pos++;
    const bytes: number[] = [];
    for (;;) {
      if (this.atEnd()) this.fail("unterminated string", open);
      const c = this.src[this.pos] as string;
      if (c === quote) {
        this.pos++;
        return this.decode(bytes, open);
      }
      if (c === "\n" || c === "\r") this.fail("unterminated string (line break inside quotes)", open);
      if (c !== "\\") {
        this.pos += pushUtf8(bytes, this.src, this.pos);
        continue;
      }
      this.escape(bytes);
    }
  }

  private escape(bytes: number[]): void {
    const at = this.pos;
    this.pos++; // backslash
    const e = this.peek();
    if (e === "") this.fail("unterminated string", at);
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      this.pos++;
      // "\\\r\n" and "\\\n\r" are one line break
      if ((e === "\r" && this.peek() === "\n") || (e === "\n" && this.peek() === "\r")) this.pos++;
      bytes.push(simple);
      return;
    }
    if (e >= "0" && e <= "9") {
      const digits = /^\d{1,3}/.exec(this.src.slice(this.pos, this.pos + 3))?.[0] ?? "";
      const code = Number(digits);
      if (code > 255) this.fail(`escape \\${digits} is larger than 255`, at);
      this.pos += digits.length;
      bytes.push(code);
      return;
    }
    if (e === "x") {
      const hex = this.src.slice(this.pos + 1, this.pos + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.fail("\\x needs two hexadecimal digits", at);
      this.pos += 3;
      bytes.push(Number.parseInt(hex, 16));
      return;
    }
    if (e === "z") {
      this.pos++;
      while (/^[ \t\n\r\f\v]$/.test(this.peek())) this.pos++;
      return;
    }
    if (e === "u") {
      const m = /^u\{([0-9a-fA-F]{1,8})\}/.exec(this.src.slice(this.pos, this.pos + 12));
      if (m === null) this.fail("\\u needs {hexadecimal digits}", at);
      const code = Number.parseInt(m[1] as string, 16);
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) this.fail("\\u escape is not a Unicode scalar value", at);
      this.pos += m[0].length;
      pushUtf8(bytes, String.fromCodePoint(code), 0);
      return;
    }
    this.fail(`invalid escape \\${e}`, at);
  }

  /** `[`, `=`*, `[` at the cursor: the level (number of `=`), else -1. Does not move. */
  longBracketLevel(): number {
    if (this.peek() !== "[") return -1;
    let i = 1;
    while (this.peek(i) === "=") i++;
    return this.peek(i) === "[" ? i - 1 : -1;
  }

  /** A long string or comment; Lua skips a line break right after the opening bracket. */
  private longBracket(level: number, what: "string" | "comment"): string {
    const open = this.pos;
    this.pos += level + 2;
    if (this.peek() === "\r") this.pos += this.peek(1) === "\n" ? 2 : 1;
    else if (this.peek() === "\n") this.pos += this.peek(1) === "\r" ? 2 : 1;
    const close = `]${"=".repeat(level)}]`;
    const end = this.src.indexOf(close, this.pos);
    if (end === -1) this.fail(`unterminated long ${what}`, open);
    const text = this.src.slice(this.pos, end).replace(/\r\n|\n\r|\r/g, "\n");
    this.pos = end + close.length;
    return text;
  }

  private decode(bytes: number[], at: number): string {
    try {
      return this.utf8.decode(new Uint8Array(bytes));
    } catch {
      this.fail("string is not valid UTF-8", at);
    }
  }
}

/** Appends the UTF-8 bytes of the code point at `src[i]`; returns how many code units it took. */
function pushUtf8(bytes: number[], src: string, i: number): number {
  const code = src.codePointAt(i) ?? 0xfffd;
  if (code >= 0xd800 && code <= 0xdfff) {
    bytes.push(0xff); // a lone surrogate: an invalid byte, so decoding reports it
    return 1;
  }
  if (code < 0x80) bytes.push(code);
  else if (code < 0x800) bytes.push(0xc0 | (code >> 6), 0x80 | (code & 63));
  else if (code < 0x10000) bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
  else bytes.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 63), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
  return code > 0xffff ? 2 : 1;
}

function hexNumber(literal: string): number {
  const m = /^0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?$/.exec(literal);
  if (m === null) return Number.NaN;
  const int = m[1] ?? "";
  const frac = m[2] ?? "";
  let value = 0;
  for (const d of int) value = value * 16 + Number.parseInt(d, 16);
  let scale = 1 / 16;
  for (const d of frac) {
    value += Number.parseInt(d, 16) * scale;
    scale /= 16;
  }
  return value * 2 ** Number(m[3] ?? "0");
}
