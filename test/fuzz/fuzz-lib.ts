/**
 * Shared pieces of the fuzz tests: a seeded PRNG (mulberry32) and small XML helpers.
 * @module
 */
import { escapeXML } from "ltx";

export interface Rng {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
  /** A random string of length ≤ max from a hostile alphabet (XML specials, unicode, controls-free). */
  text(max: number): string;
}

/** mulberry32: small, fast and deterministic for a given 32-bit seed. */
export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  function next(): number {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  const alphabet = [..."abcxyz019 _-.@/<>&'\"=:;#%[]{}\\\u00e9\u00fc\u4e2d\u{1F600}\u200b\ufeff\t"];
  return {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)] as (typeof items)[number],
    chance: (p) => next() < p,
    text(max) {
      const n = Math.floor(next() * (max + 1));
      let s = "";
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(next() * alphabet.length)];
      return s;
    },
  };
}

/** Escapes for an attribute value or text (quotes included). */
export function esc(s: string): string {
  return escapeXML(s);
}

/** `name='value'` pairs, escaped; undefined values are left out. */
export function attrs(a: Record<string, string | undefined>): string {
  let out = "";
  for (const [k, v] of Object.entries(a)) if (v !== undefined) out += ` ${k}='${esc(v)}'`;
  return out;
}

/** Reads VmRSS (kB) of a process from /proc. */
export async function rssKb(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (m === null) throw new Error(`Cannot read VmRSS of ${pid}`);
  return Number(m[1]);
}
