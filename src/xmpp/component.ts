// XEP-0114 external component connection: stream open, handshake, stanzas in and out,
// reconnect with jittered exponential backoff, whitespace keepalive, clean close.
// https://xmpp.org/extensions/xep-0114.html, https://xmpp.org/rfcs/rfc6120.html#streams
//
// This file only wires the parts in ./component/ to the real world: Bun.connect as the
// transport and the global timers as the clock. The parts: lifecycle.ts (attempts, backoff,
// reconnect, stop), connection.ts (one attempt), handshake.ts (stream open and handshake,
// pure), write-queue.ts (the bounded write buffer), keepalive.ts.
//
// Transport: Bun.connect rather than node:net. Bun's socket.write() is unbuffered and
// returns how many bytes the kernel took, so the write queue is the only buffer: its size is
// known (stats().queuedBytes) and bounded (send() returns false when full).

import { DEFAULT_BACKOFF_INITIAL_MS, DEFAULT_BACKOFF_MAX_MS } from "./backoff.ts";
import type { Clock, Transport } from "./component/io.ts";
import { createLifecycle } from "./component/lifecycle.ts";
import type { Component, ComponentOptions } from "./component/types.ts";
import { DEFAULT_MAX_STANZA_BYTES } from "./stream-parser.ts";

export { STOP_TIMEOUT_MS } from "./component/connection.ts";
export type { Component, ComponentOptions, ComponentState } from "./component/types.ts";

export const DEFAULT_KEEPALIVE_MS = 60_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_QUEUE_BYTES = 16 * 1024 * 1024;

/** Bun's socket already has the TransportSocket shape (write returns the bytes taken). */
const bunTransport: Transport = {
  connect: (hostname, port, handlers) =>
    Bun.connect({
      hostname,
      port,
      socket: {
        open: (socket) => handlers.open(socket),
        data: (_socket, chunk) => handlers.data(chunk),
        drain: () => handlers.drain(),
        end: () => handlers.end(),
        close: () => handlers.close(),
        error: (_socket, err) => handlers.error(err),
      },
    }),
};

const realClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
  now: () => Date.now(),
};

export function createComponent(opts: ComponentOptions, io: { transport?: Transport; clock?: Clock } = {}): Component {
  return createLifecycle(
    {
      host: opts.host,
      port: opts.port,
      domain: opts.domain,
      secret: opts.secret,
      log: opts.log,
      maxStanzaBytes: opts.maxStanzaBytes ?? DEFAULT_MAX_STANZA_BYTES,
      keepaliveMs: opts.keepaliveMs ?? DEFAULT_KEEPALIVE_MS,
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      maxQueueBytes: opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
      backoff: {
        initialMs: opts.backoff?.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS,
        maxMs: opts.backoff?.maxMs ?? DEFAULT_BACKOFF_MAX_MS,
        random: opts.random ?? Math.random,
      },
    },
    io.transport ?? bunTransport,
    io.clock ?? realClock,
  );
}
