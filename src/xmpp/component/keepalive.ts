/**
 * RFC 6120 §4.6.1 whitespace keepalive while the component stream is online: one space every
 * `intervalMs`, skipped while data is queued anyway (the queued data keeps the link busy).
 * https://xmpp.org/rfcs/rfc6120.html#streams-close-idle
 * @module
 */
import type { Clock, TimerHandle } from "./io.ts";

export interface Keepalive {
  stop(): void;
}

/** Starts pinging; intervalMs ≤ 0 disables it (stop() is then a no-op). */
export function startKeepalive(
  clock: Clock,
  intervalMs: number,
  queue: { readonly queuedBytes: number; enqueue(data: string): void },
): Keepalive {
  let timer: TimerHandle | null = null;
  if (intervalMs > 0) {
    timer = clock.setInterval(() => {
      if (queue.queuedBytes === 0) queue.enqueue(" ");
    }, intervalMs);
  }
  return {
    stop() {
      if (timer !== null) clock.clearInterval(timer);
      timer = null;
    },
  };
}
