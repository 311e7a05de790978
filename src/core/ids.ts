/**
 * Deterministic publish ids: 64 hex chars derived from a 64-hex-char seed (randomness from the
 * shell) and a counter. The first two words are bijections of the counter's low and high
 * halves (keyed by the seed), so ids are unique for any counter below 2^53; the remaining 48
 * hex chars are a per-seed constant. Unpredictable to outsiders, cheap to make.
 * @module
 */

/** murmur3's 32-bit finaliser: a bijection on 32-bit integers. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A parsed seed: the two counter keys and the constant tail. */
export interface IdSeed {
  k0: number;
  k1: number;
  tail: string;
}

/** Hex of every 16-bit value (4 chars each), so a 32-bit word takes two lookups. */
const HEX16: readonly string[] = Array.from({ length: 0x10000 }, (_, i) => i.toString(16).padStart(4, "0"));

function hex8(value: number): string {
  return (HEX16[(value >>> 16) & 0xffff] as string) + (HEX16[value & 0xffff] as string);
}

/** Parses a 64-hex-char seed; throws on a malformed seed (programmer error). */
export function parseSeed(seed: string): IdSeed {
  if (!/^[0-9a-fA-F]{64}$/.test(seed)) throw new Error("Cannot use id seed: expected 64 hex chars");
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(Number.parseInt(seed.slice(i * 8, i * 8 + 8), 16) >>> 0);
  let tail = "";
  let mix = words[7] ?? 0;
  for (let i = 2; i < 8; i++) {
    mix = fmix32(mix + (words[i] ?? 0) + i);
    tail += hex8(mix);
  }
  return { k0: words[0] ?? 0, k1: words[1] ?? 0, tail };
}

/** The id for `counter` under `seed`. */
export function publishId(seed: IdSeed, counter: number): string {
  const low = counter >>> 0;
  const high = Math.floor(counter / 0x100000000) >>> 0;
  return hex8(seed.k0 ^ fmix32(low ^ seed.k1)) + hex8(seed.k1 ^ fmix32(high)) + seed.tail;
}
