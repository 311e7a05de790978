/**
 * One connection attempt of the component stream and everything that dies with it: the TCP
 * connection, the stream parser, the handshake, the write queue, the keepalive and the timers.
 * It ends exactly once — failed (reported to the lifecycle), closed by stop(), or aborted.
 * @module
 */
import type { Element } from "ltx";

import { createStreamParser } from "../stream-parser.ts";
import { closingXml, type Failure, STREAM_CLOSE, type StreamPhase, streamOpen, streamStep } from "./handshake.ts";
import type { Clock, TimerHandle, Transport, TransportSocket } from "./io.ts";
import { type Keepalive, startKeepalive } from "./keepalive.ts";
import type { ComponentSettings } from "./types.ts";
import { createWriteQueue, type WriteQueue } from "./write-queue.ts";

export const STOP_TIMEOUT_MS = 2000; // stop(): wait this long for the queue to drain and the server to close

/** What the lifecycle hears from an attempt. */
export interface ConnectionEvents {
  /** TCP is up; the stream open and the handshake follow. */
  opened(): void;
  online(): void;
  stanza(el: Element, refused: string | undefined): void;
  /** The attempt ended (already closed); `wasOnline` tells whether it had authenticated. */
  failed(failure: Failure, wasOnline: boolean): void;
  /** A stanza did not fit in the write queue; `drained` when it is empty again. */
  queueFull(queuedBytes: number): void;
  drained(): void;
}

export interface Connection {
  readonly phase: "connecting" | StreamPhase;
  readonly ended: boolean;
  readonly queuedBytes: number;
  /** One stanza's text; false unless online and the queue has room. */
  send(text: string): boolean;
  /** Sends `</stream:stream>` after what is queued and resolves once closed (or aborted after STOP_TIMEOUT_MS). */
  stop(): Promise<void>;
}

export function openConnection(settings: ComponentSettings, transport: Transport, clock: Clock, events: ConnectionEvents): Connection {
  const { host, port, domain, secret, log } = settings;
  const parser = createStreamParser({ maxStanzaBytes: settings.maxStanzaBytes });
  let socket: TransportSocket | null = null;
  let phase: "connecting" | StreamPhase = "connecting";
  let queue: WriteQueue | null = null; // once the socket is open
  let ended = false;
  let closing = false; // stop() sent </stream:stream>; end the socket once the queue is empty
  let timers: TimerHandle[] = [];
  let keepalive: Keepalive | null = null;
  let onClosed: (() => void) | null = null;

  function onOpen(s: TransportSocket): void {
    if (ended) return s.terminate();
    socket = s;
    // Stanzas are small and latency matters (a publish waits on the wire otherwise): no Nagle.
    s.setNoDelay(true);
    phase = "opening";
    events.opened();
    queue = createWriteQueue({
      maxBytes: settings.maxQueueBytes,
      write: (chunk) => s.write(chunk),
      onFull: events.queueFull,
      onEmpty: () => {
        events.drained();
        if (closing) s.end();
      },
    });
    queue.enqueue(streamOpen(domain));
  }

  function onData(chunk: Uint8Array): void {
    if (ended) return;
    for (const event of parser.write(chunk)) {
      if (ended || phase === "connecting") return;
      const step = streamStep(phase, event, secret);
      switch (step.type) {
        case "send-handshake":
          phase = "authenticating";
          queue?.enqueue(step.text);
          break;
        case "online":
          phase = "online";
          clearTimers();
          if (queue !== null) keepalive = startKeepalive(clock, settings.keepaliveMs, queue);
          events.online();
          break;
        case "stanza":
          events.stanza(step.element, step.refused);
          break;
        case "ignore":
          log("debug", "XMPP component ignored a stanza before authentication", { name: step.name });
          break;
        case "fail":
          fail(step.failure);
          break;
      }
    }
  }

  function fail(failure: Failure): void {
    if (ended) return;
    const wasOnline = phase === "online";
    close(failure.streamError);
    events.failed(failure, wasOnline);
  }

  /** Ends the attempt: best-effort closing XML, then the socket. Idempotent via `ended`. */
  function close(streamError?: string): void {
    if (!ended && phase !== "connecting") queue?.flush(); // stanzas sent earlier in this turn go out first
    ended = true;
    clearTimers();
    if (socket !== null && phase !== "connecting" && !queue?.midChunk && !closing) socket.write(closingXml(streamError));
    queue?.close();
    socket?.end();
    onClosed?.();
  }

  /** stop() ran out of time (the server does not read or never closes): drop the socket. */
  function abort(): void {
    const s = socket;
    close();
    s?.terminate();
    log("warn", "XMPP component closed without a clean stream end", { domain });
  }

  function clearTimers(): void {
    for (const timer of timers) clock.clearTimeout(timer);
    timers = [];
    keepalive?.stop();
    keepalive = null;
  }

  /** TCP closed without `</stream:stream>`: a lost link once online, a refusal before. */
  const closedReason = (): string => (phase === "online" ? "connection lost" : "connection closed by server");

  log("debug", "XMPP component connecting", { host, port, domain });
  timers.push(clock.setTimeout(() => fail({ reason: "connect timeout" }), settings.connectTimeoutMs));
  transport
    .connect(host, port, {
      open: onOpen,
      data: onData,
      drain: () => queue?.flush(),
      end: () => fail({ reason: closedReason() }),
      close: () => fail({ reason: closedReason() }),
      error: (err) => fail({ reason: "connection lost", detail: err.message }),
    })
    .then(
      (s) => {
        if (ended) s.terminate(); // timed out or stopped while connecting
      },
      (err: unknown) => fail(connectFailure(err)),
    );

  return {
    get phase() {
      return phase;
    },
    get ended() {
      return ended;
    },
    get queuedBytes() {
      return queue?.queuedBytes ?? 0;
    },
    send(text) {
      if (phase !== "online" || ended || queue === null) return false;
      return queue.sendText(text);
    },
    stop() {
      if (ended) return Promise.resolve();
      const q = queue;
      if (socket === null || phase === "connecting" || q === null) {
        close();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        onClosed = resolve;
        closing = true;
        keepalive?.stop();
        keepalive = null;
        timers.push(clock.setTimeout(abort, STOP_TIMEOUT_MS));
        q.enqueue(STREAM_CLOSE); // after any queued stanzas; the queue then half-closes
        log("info", "XMPP component stopping", { domain });
      });
    },
  };
}

function connectFailure(err: unknown): Failure {
  const code = typeof err === "object" && err !== null && "code" in err ? String(err.code) : "";
  if (code === "ECONNREFUSED") return { reason: "connection refused" };
  return { reason: "connection failed", detail: code || errorMessage(err) };
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
