/**
 * Write queue over a Bun socket (whose write() is unbuffered and returns the bytes taken):
 * strings are appended, flushed on `drain`, and `whenBelow()` lets a producer wait for room.
 * @module
 */
import type { Socket } from "bun";

export interface SocketWriter {
  write(text: string): void;
  /** Call from the socket's `drain` handler. */
  drain(): void;
  /** Resolves once fewer than `bytes` bytes are queued. */
  whenBelow(bytes: number): Promise<void>;
  queued(): number;
}

const encoder = new TextEncoder();

export function createWriter(socket: Socket<unknown>): SocketWriter {
  const parts: Uint8Array[] = [];
  let queuedBytes = 0;
  let waiters: Array<{ bytes: number; resolve: () => void }> = [];

  function flush(): void {
    while (parts.length > 0) {
      let chunk = parts[0] as Uint8Array;
      if (parts.length > 1 && chunk.length < 256 * 1024) {
        // Coalesce small pieces into one write.
        let total = 0;
        let count = 0;
        while (count < parts.length && total < 256 * 1024) total += (parts[count++] as Uint8Array).length;
        chunk = new Uint8Array(total);
        let at = 0;
        for (const p of parts.splice(0, count)) {
          chunk.set(p, at);
          at += p.length;
        }
        parts.unshift(chunk);
      }
      const n = socket.write(chunk);
      if (n < 0) return;
      queuedBytes -= n;
      if (n < chunk.length) {
        parts[0] = chunk.subarray(n);
        break;
      }
      parts.shift();
    }
    if (waiters.length > 0) {
      const still: typeof waiters = [];
      for (const w of waiters) queuedBytes < w.bytes ? w.resolve() : still.push(w);
      waiters = still;
    }
  }

  return {
    write(text) {
      const bytes = encoder.encode(text);
      parts.push(bytes);
      queuedBytes += bytes.length;
      if (parts.length === 1) flush();
    },
    drain: flush,
    whenBelow(bytes) {
      if (queuedBytes < bytes) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ bytes, resolve }));
    },
    queued: () => queuedBytes,
  };
}
