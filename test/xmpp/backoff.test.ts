import { describe, expect, test } from "bun:test";

import { backoffCeiling, backoffDelay } from "../../src/xmpp/backoff.ts";

const OPTIONS = { initialMs: 1000, maxMs: 60_000 };

describe("backoff", () => {
  test("backoffCeiling() doubles from initialMs per attempt", () => {
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffCeiling(a, OPTIONS))).toEqual([1000, 2000, 4000, 8000, 16000, 32000]);
  });

  test("backoffCeiling() is capped at maxMs, also for huge attempt numbers", () => {
    expect(backoffCeiling(6, OPTIONS)).toBe(60_000);
    expect(backoffCeiling(10_000, OPTIONS)).toBe(60_000);
    expect(backoffCeiling(Number.POSITIVE_INFINITY, OPTIONS)).toBe(60_000);
  });

  test("backoffCeiling() treats negative, NaN or fractional attempts as whole attempts from 0", () => {
    expect(backoffCeiling(-3, OPTIONS)).toBe(1000);
    expect(backoffCeiling(Number.NaN, OPTIONS)).toBe(1000);
    expect(backoffCeiling(2.7, OPTIONS)).toBe(4000);
  });

  test("backoffDelay() scales the ceiling by random() (full jitter)", () => {
    expect(backoffDelay(0, { ...OPTIONS, random: () => 0 })).toBe(0);
    expect(backoffDelay(0, { ...OPTIONS, random: () => 0.5 })).toBe(500);
    expect(backoffDelay(3, { ...OPTIONS, random: () => 0.25 })).toBe(2000);
    expect(backoffDelay(20, { ...OPTIONS, random: () => 0.999 })).toBe(59_940);
  });

  test("backoffDelay() stays within [0, maxMs] when random() misbehaves", () => {
    expect(backoffDelay(1, { ...OPTIONS, random: () => 7 })).toBe(2000);
    expect(backoffDelay(1, { ...OPTIONS, random: () => -1 })).toBe(0);
    expect(backoffDelay(1, { ...OPTIONS, random: () => Number.NaN })).toBe(0);
  });

  test("backoffDelay() spreads delays over the whole range with Math.random", () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelay(2, { ...OPTIONS, random: Math.random }));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(4000);
    expect(delays.filter((d) => d < 2000).length).toBeGreaterThan(800);
    expect(delays.filter((d) => d >= 2000).length).toBeGreaterThan(800);
  });
});
