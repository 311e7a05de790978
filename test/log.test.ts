import { describe, expect, test } from "bun:test";

import { createLogger, createNullLogger, cut, formatEvent, isSecretKey, MAX_VALUE_LENGTH } from "../src/log.ts";
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
    expect(lines).toEqual(['ts=2026-11-25T15:00:00.000Z level=info msg="component online" domain=push.localhost port=5347 tls=false']);
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

test("createNullLogger drops everything", () => {
  const logger = createNullLogger();
  expect(() => logger.error("x")).not.toThrow();
});

/** A clock and a timer queue the test moves by hand (no sleeps). */
function fakeTime(start = AT.getTime()) {
  let t = start;
  const timers: Array<{ at: number; fn: () => void }> = [];
  return {
    now: () => new Date(t),
    setTimer: (fn: () => void, ms: number) => void timers.push({ at: t + ms, fn }),
    /** Moves the clock and runs the timers that are due. */
    advance(ms: number) {
      t += ms;
      for (const timer of timers.filter((x) => x.at <= t)) {
        timers.splice(timers.indexOf(timer), 1);
        timer.fn();
      }
    },
  };
}

function limited(opts: { max?: number; windowMs?: number } = {}) {
  const time = fakeTime();
  const lines: string[] = [];
  const logger = createLogger({
    level: "debug",
    write: (line) => lines.push(line),
    now: time.now,
    setTimer: time.setTimer,
    rateLimit: { max: opts.max ?? 10, windowMs: opts.windowMs ?? 60_000 },
  });
  return { time, lines, logger };
}

const msgOf = (line: string | undefined) => Object.fromEntries(parseLogfmt(line ?? "")).msg;

describe("issue 10 item 2: bounded fields", () => {
  test("a 50 KB field value is cut to 200 characters with a …(+N) marker", () => {
    const { lines, logger } = capture();
    logger.warn("invalid stanza", { reason: `Unsupported namespace ${"x".repeat(50_000)}` });
    const line = lines[0] ?? "";
    expect(line.length).toBeLessThan(400);
    const reason = Object.fromEntries(parseLogfmt(line)).reason ?? "";
    expect(reason).toBe(`Unsupported namespace ${"x".repeat(MAX_VALUE_LENGTH - 22)}…(+${50_022 - MAX_VALUE_LENGTH})`);
  });

  test("the message, nested objects and keys are bounded too", () => {
    const { lines, logger } = capture();
    logger.error(`Cannot ${"y".repeat(10_000)}`, { nested: { ns: "z".repeat(10_000) }, ["k".repeat(1000)]: 1 });
    const line = lines[0] ?? "";
    expect(line.length).toBeLessThan(3 * MAX_VALUE_LENGTH + 200);
    const pairs = parseLogfmt(line);
    expect(pairs[2]?.[1]).toEndWith("…(+9807)");
    expect(pairs[3]?.[1]).toStartWith('{"ns":"zzz');
    expect(pairs[4]?.[0]).toBe("k".repeat(64));
  });

  test("a cut never splits a surrogate pair", () => {
    const s = `${"a".repeat(MAX_VALUE_LENGTH - 1)}😀tail`;
    expect(cut(s)).toBe(`${"a".repeat(MAX_VALUE_LENGTH - 1)}…(+6)`);
    expect(cut("short")).toBe("short");
  });

  test("every control, format and separator character and lone surrogates are escaped, and read back", () => {
    const { lines, logger } = capture();
    const nasty = "\u0000\u001b[31m\u007f\u0085\u009f\u200b\u200e\u202e\u2066\u2028\u2029\ufeff\u00ad\ud800x\udfff\u{e0001}\u{1f600}";
    logger.warn("m", { v: nasty });
    const line = lines[0] ?? "";
    expect(line).not.toMatch(/[\p{Cc}\p{Cf}\p{Cs}\u2028\u2029]/u);
    expect(line).toContain("😀"); // ordinary astral characters stay readable
    expect(Object.fromEntries(parseLogfmt(line)).v).toBe(nasty);
  });

  test("property: random peer text always gives one bounded logfmt line that reads back as the cut text", () => {
    let seed = 0x10c0ffee;
    const rnd = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const { lines, logger } = capture();
    const samples: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const len = rnd() < 0.1 ? Math.floor(rnd() * 5000) : Math.floor(rnd() * 40);
      let v = "";
      for (let j = 0; j < len; j++) {
        const r = rnd();
        v +=
          r < 0.3
            ? String.fromCharCode(Math.floor(rnd() * 0x80))
            : r < 0.5
              ? ' "=\\\n\r\t'[Math.floor(rnd() * 7)]
              : r < 0.8
                ? String.fromCharCode(Math.floor(rnd() * 0x10000))
                : String.fromCodePoint(0x10000 + Math.floor(rnd() * 0x100000));
      }
      samples.push(v);
      logger.info("m", { v });
    }
    lines.forEach((line, i) => {
      expect(line).not.toMatch(/[\n\r\u2028\u2029]/);
      expect(line.length).toBeLessThanOrEqual(100 + 12 * MAX_VALUE_LENGTH);
      expect(Object.fromEntries(parseLogfmt(line)).v).toBe(cut(samples[i] ?? ""));
    });
  });
});

describe("issue 10 item 2: repeated warnings are rate-limited with a count", () => {
  test("the issue's flood: 685 warnings with a 50 KB namespace in 10 s give 11 short lines", () => {
    const { time, lines, logger } = limited();
    for (let i = 0; i < 685; i++) {
      logger.warn("invalid stanza", { reason: `Unsupported namespace ${String(i).repeat(10_000)}` });
      time.advance(10_000 / 685);
    }
    expect(lines).toHaveLength(10);
    time.advance(60_000);
    expect(lines).toHaveLength(11);
    expect(msgOf(lines[10])).toBe("invalid stanza (suppressed 675 similar lines)");
    expect(Object.fromEntries(parseLogfmt(lines[10] ?? "")).suppressed).toBe("675");
    expect(lines.join("\n").length).toBeLessThan(11 * 400);
  });

  test("the window restarts after the count line; the next flood is counted afresh", () => {
    const { time, lines, logger } = limited({ max: 2, windowMs: 1000 });
    for (let i = 0; i < 5; i++) logger.error("store down");
    time.advance(1000);
    for (let i = 0; i < 4; i++) logger.error("store down");
    time.advance(1000);
    expect(lines.map(msgOf)).toEqual([
      "store down",
      "store down",
      "store down (suppressed 3 similar lines)",
      "store down",
      "store down",
      "store down (suppressed 2 similar lines)",
    ]);
    expect(lines[2]).toContain("level=error");
  });

  test("without the timer, the count line is written by the next event after the window ends", () => {
    const lines: string[] = [];
    const time = fakeTime();
    const logger = createLogger({
      level: "info",
      write: (l) => lines.push(l),
      now: time.now,
      setTimer: () => {},
      rateLimit: { max: 1, windowMs: 1000 },
    });
    logger.warn("a");
    logger.warn("a");
    time.advance(5000);
    logger.info("something else");
    expect(lines.map(msgOf)).toEqual(["a", "a (suppressed 1 similar lines)", "something else"]);
  });

  test("messages are counted apart; fields do not matter; info and debug are never limited", () => {
    const { lines, logger } = limited({ max: 1 });
    logger.warn("x", { n: 1 });
    logger.warn("x", { n: 2 });
    logger.warn("y");
    for (let i = 0; i < 5; i++) logger.info("x");
    for (let i = 0; i < 5; i++) logger.debug("x");
    expect(lines.map(msgOf)).toEqual(["x", "y", ...Array(10).fill("x")]);
  });

  test("flushSuppressed writes pending counts before the window ends (used at exit); nothing twice", () => {
    const { time, lines, logger } = limited({ max: 1 });
    logger.warn("w");
    logger.warn("w");
    logger.flushSuppressed();
    time.advance(60_000);
    expect(lines.map(msgOf)).toEqual(["w", "w (suppressed 1 similar lines)"]);
  });

  test("a timer that fires before the window ends by the logger's clock is set again", () => {
    const time = fakeTime();
    const lines: string[] = [];
    const early: Array<() => void> = [];
    const log2 = createLogger({
      level: "warn",
      write: (l) => lines.push(l),
      now: time.now,
      setTimer: (fn) => void early.push(fn),
      rateLimit: { max: 1, windowMs: 1000 },
    });
    log2.warn("w");
    log2.warn("w");
    time.advance(990);
    early.shift()?.(); // 10 ms early
    expect(lines).toHaveLength(1);
    expect(early).toHaveLength(1);
    time.advance(10);
    early.shift()?.();
    expect(lines.map(msgOf)).toEqual(["w", "w (suppressed 1 similar lines)"]);
    expect(early).toHaveLength(0);
  });

  test("rateLimit: false writes every line", () => {
    const lines: string[] = [];
    const logger = createLogger({ level: "warn", write: (l) => lines.push(l), now: () => AT, rateLimit: false });
    for (let i = 0; i < 50; i++) logger.warn("w");
    expect(lines).toHaveLength(50);
  });

  test("a flood of distinct (peer-supplied) messages keeps the table bounded and every line short", () => {
    const { lines, logger } = limited({ max: 1 });
    for (let i = 0; i < 3000; i++) logger.warn(`XMPP component disconnected: ${i} ${"n".repeat(5000)}`);
    expect(lines).toHaveLength(3000);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(400);
  });
});
