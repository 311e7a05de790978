import { describe, expect, test } from "bun:test";

import { createLogger, createNullLogger, formatEvent, isLogLevel, isSecretKey } from "../src/log.ts";
import type { LogLevel } from "../src/log.ts";

const AT = new Date("2026-11-25T15:00:00.000Z");

function capture(level: LogLevel = "debug") {
  const lines: string[] = [];
  const logger = createLogger({ level, write: (line) => lines.push(line), now: () => AT });
  return { lines, logger };
}

/** A strict logfmt tokenizer: key=value pairs, values bare or double-quoted with \-escapes. */
function parseLogfmt(line: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const re = /([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|[^\s"=\\]+)(?: |$)/y;
  let pos = 0;
  while (pos < line.length) {
    re.lastIndex = pos;
    const m = re.exec(line);
    if (m === null) throw new Error(`not logfmt at ${pos}: ${line.slice(pos)}`);
    const key = m[1] ?? "";
    const raw = m[2] ?? "";
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    out.push([key, value]);
    pos = re.lastIndex;
  }
  return out;
}

describe("createLogger", () => {
  test("writes one logfmt line with ts, level, msg then fields", () => {
    const { lines, logger } = capture();
    logger.info("component online", { domain: "push.localhost", port: 5347, tls: false });
    expect(lines).toEqual([
      'ts=2026-11-25T15:00:00.000Z level=info msg="component online" domain=push.localhost port=5347 tls=false',
    ]);
  });

  test("drops events below the configured level", () => {
    const { lines, logger } = capture("warn");
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    expect(lines.map((l) => parseLogfmt(l)[1])).toEqual([
      ["level", "warn"],
      ["level", "error"],
    ]);
  });

  test("quotes and escapes values with spaces, quotes, = and backslashes", () => {
    const { lines, logger } = capture();
    logger.info("m", { a: "two words", b: 'say "hi"', c: "k=v", d: "C:\\path", e: "" });
    const line = lines[0] ?? "";
    expect(line).toContain('a="two words"');
    expect(line).toContain('b="say \\"hi\\""');
    expect(line).toContain('c="k=v"');
    expect(line).toContain('d="C:\\\\path"');
    expect(line).toContain('e=""');
    expect(parseLogfmt(line).slice(3)).toEqual([
      ["a", "two words"],
      ["b", 'say "hi"'],
      ["c", "k=v"],
      ["d", "C:\\path"],
      ["e", ""],
    ]);
  });

  test("keeps one event on one line whatever the message and fields contain", () => {
    const { lines, logger } = capture();
    const nasty = "a\nb\r\nc\u2028d\u2029e\u0085f\u0000g\tend";
    logger.error(nasty, { [`k\ney`]: nasty, nested: { x: nasty } });
    expect(lines).toHaveLength(1);
    const line = lines[0] ?? "";
    expect(line).not.toMatch(/[\n\r\u2028\u2029\u0085\u0000]/);
    const pairs = parseLogfmt(line);
    expect(pairs[2]).toEqual(["msg", nasty]);
    expect(pairs[3]).toEqual(["k_ey", nasty]);
    expect(JSON.parse(pairs[4]?.[1] ?? "")).toEqual({ x: nasty });
  });

  test("D17 redacts body, secret, token, password and authorization fields, any case", () => {
    const { lines, logger } = capture();
    logger.info("m", {
      body: "hello there",
      BODY: "x",
      Secret: "s3",
      token: "t",
      password: "p",
      Authorization: "Bearer abc",
      authToken: "t2",
      xmpp_secret: "s4",
      "last-message-body": "hi",
      user: "alice",
    });
    const line = lines[0] ?? "";
    for (const leaked of ["hello", "s3", "=t ", "abc", "t2", "s4", "hi"]) expect(line).not.toContain(leaked);
    const pairs = Object.fromEntries(parseLogfmt(line));
    expect(pairs).toMatchObject({
      body: "[redacted]",
      BODY: "[redacted]",
      Secret: "[redacted]",
      token: "[redacted]",
      password: "[redacted]",
      Authorization: "[redacted]",
      authToken: "[redacted]",
      xmpp_secret: "[redacted]",
      "last-message-body": "[redacted]",
      user: "alice",
    });
  });

  test("D17 redacts secret keys inside nested objects", () => {
    const { lines, logger } = capture();
    logger.info("m", { stanza: { to: "bob", body: "secret text", inner: { Token: "abc" } } });
    const line = lines[0] ?? "";
    expect(line).not.toContain("secret text");
    expect(line).not.toContain("abc");
    const stanza = JSON.parse(Object.fromEntries(parseLogfmt(line))["stanza"] ?? "");
    expect(stanza).toEqual({ to: "bob", body: "[redacted]", inner: { Token: "[redacted]" } });
  });

  test("child() adds its fields to every event and redacts them too", () => {
    const { lines, logger } = capture();
    const child = logger.child({ component: "xmpp", secret: "pw" }).child({ session: "s1" });
    child.info("connected", { session: "s2" });
    expect(lines[0]).toBe(
      'ts=2026-11-25T15:00:00.000Z level=info msg=connected component=xmpp secret=[redacted] session=s2',
    );
  });

  test("renames fields that would forge ts, level or msg", () => {
    const { lines, logger } = capture();
    logger.info("real", { msg: "fake", level: "error", ts: "then" });
    expect(parseLogfmt(lines[0] ?? "").map(([k]) => k)).toEqual(["ts", "level", "msg", "_msg", "_level", "_ts"]);
  });

  test("renders null, undefined, errors, dates, bigints and cycles without throwing", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    const line = formatEvent(AT, "info", "m", {
      n: null,
      u: undefined,
      err: new Error("Cannot open store: disk full"),
      at: new Date(0),
      big: 12n,
      cyc: cyclic,
    });
    expect(Object.fromEntries(parseLogfmt(line))).toEqual({
      ts: "2026-11-25T15:00:00.000Z",
      level: "info",
      msg: "m",
      n: "null",
      err: "Cannot open store: disk full",
      at: "1970-01-01T00:00:00.000Z",
      big: "12",
      cyc: "[unserializable]",
    });
  });
});

test("isSecretKey matches whole words only", () => {
  expect(isSecretKey("body")).toBe(true);
  expect(isSecretKey("lastMessageBody")).toBe(true);
  expect(isSecretKey("nobody")).toBe(false);
  expect(isSecretKey("tokenizer")).toBe(false);
  expect(isSecretKey("identifier")).toBe(false);
});

test("isLogLevel accepts the four levels only", () => {
  expect(["debug", "info", "warn", "error"].every(isLogLevel)).toBe(true);
  expect(isLogLevel("trace")).toBe(false);
});

test("createNullLogger drops everything", () => {
  const logger = createNullLogger();
  expect(() => logger.child({ a: 1 }).error("x")).not.toThrow();
});
