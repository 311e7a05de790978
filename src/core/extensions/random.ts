/**
 * E1.3: the core's source of random bytes (GCM IVs). Randomness is an input, like publish ids:
 * the shell's 64-hex-char seed keys an AES-128-CTR keystream (a standard DRBG construction), so a
 * test with a fixed seed sees fixed IVs and a daemon sees unpredictable, non-repeating ones.
 * @module
 */
import { createCipheriv, createHash } from "node:crypto";

/** Returns `n` fresh random bytes on each call. */
export type RandomBytes = (n: number) => Uint8Array;

/** A keystream generator keyed by `seedHex` (never repeats within 2^128 blocks). */
export function seededRandom(seedHex: string): RandomBytes {
  const key = createHash("sha256").update("cloud-notifyd iv\0").update(seedHex).digest().subarray(0, 16);
  const stream = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  return (n) => new Uint8Array(stream.update(Buffer.alloc(n)));
}
