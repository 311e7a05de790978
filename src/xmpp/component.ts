// XEP-0114 external component connection: stream open, handshake, stanzas in and out,
// reconnect with jittered exponential backoff, whitespace keepalive, clean close.
// https://xmpp.org/extensions/xep-0114.html, https://xmpp.org/rfcs/rfc6120.html#streams
//
// Transport: Bun.connect rather than node:net. Bun's socket.write() is unbuffered and
// returns how many bytes the kernel took, so the write queue below is the only buffer:
// its size is known (stats().queuedBytes, exact once a turn's stanzas are encoded), it is
// bounded (send() returns false when full instead of growing memory without limit, as
// node:net's internal buffer would), and a partial write keeps its tail at the head of the
// queue until the `drain` callback.
//
// Lifecycle: one connection attempt at a time. Every way an attempt can end (refused,
// timeout, lost, stream error, not-authorized, oversize stanza, server closing the stream)
// goes through fail(), which logs exactly one warn/error line and schedules the next attempt.

import { createHash } from "node:crypto";

import type { Socket } from "bun";
import { escapeXML, type Element } from "ltx";

import { backoffDelay, DEFAULT_BACKOFF_INITIAL_MS, DEFAULT_BACKOFF_MAX_MS } from "./backoff.ts";
import { NS_COMPONENT } from "./ns.ts";
import { createStreamParser, DEFAULT_MAX_STANZA_BYTES, type StreamParser, type StreamParserEvent } from "./stream-parser.ts";

export interface ComponentOptions {
  host: string;
  port: number; // XMPP server's component port
  domain: string; // component JID, e.g. push.example.com
  secret: string;
  maxStanzaBytes?: number; // default 1 MiB
  keepaliveMs?: number; // whitespace ping interval, default 60000; 0 disables
  backoff?: { initialMs?: number; maxMs?: number }; // default 1000 .. 60000, full jitter
  connectTimeoutMs?: number; // TCP connect + stream open + handshake, default 10000
  maxQueueBytes?: number; // write queue bound, default 16 MiB
  log: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
  random?: () => number;
}

export type ComponentState = "connecting" | "authenticating" | "online" | "disconnected" | "stopped";

export interface Component {
  start(): void; // connect; reconnects forever until stop()
  stop(): Promise<void>; // sends </stream:stream>, closes, no reconnect
  send(stanza: Element | string): boolean; // queued (write queue w/ backpressure); false if not online or full. A string must be one well-formed stanza.
  readonly state: ComponentState;
  readonly lastError: string | null; // why the last attempt ended; null once online again
  onStanza(fn: (el: Element) => void): void; // every depth-1 stanza after auth
  onOnline(fn: () => void): void;
  onOffline(fn: (reason: string) => void): void;
  stats(): { connects: number; queuedBytes: number; lastConnectedAt: number | null };
}

export const DEFAULT_KEEPALIVE_MS = 60_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_QUEUE_BYTES = 16 * 1024 * 1024;
export const STOP_TIMEOUT_MS = 2000; // stop(): wait this long for the queue to drain and the server to close
const WRITE_BATCH_BYTES = 64 * 1024;
// Stream-level namespaces, used only here (NS_COMPONENT comes from ns.ts).
const NS_STREAM = "http://etherx.jabber.org/streams";
const NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams";
const STREAM_CLOSE = "</stream:stream>";

type Timer = ReturnType<typeof setTimeout>;

/** One TCP connection attempt and everything that dies with it. */
interface Connection {
  socket: Socket<undefined> | null;
  parser: StreamParser;
  phase: "connecting" | "opening" | "authenticating" | "online";
  queue: Uint8Array[];
  /** Stanzas sent in this turn, not yet encoded: encoded together (one buffer) at the next flush. */
  text: string[];
  /** Bytes in `queue`, plus `textUnits`: what send() checks against the bound. */
  queuedBytes: number;
  /** UTF-16 code units in `text` (a lower bound of its bytes; exact once encoded). */
  textUnits: number;
  midChunk: boolean; // the head of the queue was partly written
  flushQueued: boolean; // a flush of stanzas sent in this turn of the event loop is scheduled
  ended: boolean;
  closing: boolean; // stop() sent </stream:stream>; end the socket once the queue is empty
  timers: Timer[];
  keepalive: ReturnType<typeof setInterval> | null;
  onClosed: (() => void) | null;
}

interface Failure {
  reason: string; // becomes lastError
  streamError?: string; // condition to send before closing
  detail?: string; // for the log line only; never stanza content
}

const encoder = new TextEncoder();

export function createComponent(opts: ComponentOptions): Component {
  const {
    host,
    port,
    domain,
    secret,
    log,
    maxStanzaBytes = DEFAULT_MAX_STANZA_BYTES,
    keepaliveMs = DEFAULT_KEEPALIVE_MS,
    connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
    maxQueueBytes = DEFAULT_MAX_QUEUE_BYTES,
    random = Math.random,
  } = opts;
  const backoff = {
    initialMs: opts.backoff?.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS,
    maxMs: opts.backoff?.maxMs ?? DEFAULT_BACKOFF_MAX_MS,
    random,
  };
  const stanzaHandlers: ((el: Element) => void)[] = [];
  const onlineHandlers: (() => void)[] = [];
  const offlineHandlers: ((reason: string) => void)[] = [];
  let state: ComponentState = "disconnected";
  let lastError: string | null = null;
  let started = false;
  let conn: Connection | null = null;
  let attempt = 0;
  let reconnectTimer: Timer | null = null;
  let connects = 0;
  let lastConnectedAt: number | null = null;
  let queueFullLogged = false;
  let stopping: Promise<void> | null = null;

  function connect(): void {
    reconnectTimer = null;
    const c: Connection = {
      socket: null,
      parser: createStreamParser({ maxStanzaBytes }),
      phase: "connecting",
      queue: [],
      text: [],
      queuedBytes: 0,
      textUnits: 0,
      midChunk: false,
      flushQueued: false,
      ended: false,
      closing: false,
      timers: [],
      keepalive: null,
      onClosed: null,
    };
    conn = c;
    state = "connecting";
    log("debug", "XMPP component connecting", { host, port, domain });
    c.timers.push(setTimeout(() => fail(c, { reason: "connect timeout" }), connectTimeoutMs));
    Bun.connect({
      hostname: host,
      port,
      socket: {
        open: (socket) => onOpen(c, socket),
        data: (_socket, chunk) => onData(c, chunk),
        drain: () => flush(c),
        end: () => fail(c, { reason: closedReason(c) }),
        close: () => fail(c, { reason: closedReason(c) }),
        error: (_socket, err) => fail(c, { reason: "connection lost", detail: err.message }),
      },
    }).then(
      (socket) => {
        if (c.ended) socket.terminate(); // timed out or stopped while connecting
      },
      (err: unknown) => fail(c, connectFailure(err)),
    );
  }

  function onOpen(c: Connection, socket: Socket<undefined>): void {
    if (c.ended) return socket.terminate();
    c.socket = socket;
    // Stanzas are small and latency matters (a publish waits on the wire otherwise): no Nagle.
    socket.setNoDelay(true);
    c.phase = "opening";
    state = "authenticating";
    enqueue(
      c,
      `<?xml version='1.0'?><stream:stream xmlns='${NS_COMPONENT}' ` +
        `xmlns:stream='${NS_STREAM}' to='${escapeXML(domain)}'>`,
    );
  }

  function onData(c: Connection, chunk: Uint8Array): void {
    if (c.ended) return;
    for (const event of c.parser.write(chunk)) {
      if (c.ended) return;
      handleEvent(c, event);
    }
  }

  function handleEvent(c: Connection, event: StreamParserEvent): void {
    switch (event.type) {
      case "stream-start":
        return onStreamStart(c, event.attrs);
      case "stanza":
        return onStanza(c, event.element);
      case "stream-end":
        return fail(c, { reason: "stream closed by server" });
      case "error":
        return fail(c, { reason: event.condition, streamError: event.condition, detail: event.detail });
      default:
        return assertNever(event);
    }
  }

  function onStreamStart(c: Connection, attrs: Record<string, string>): void {
    const id = attrs.id;
    if (id === undefined || id === "") {
      return fail(c, { reason: "invalid-xml", streamError: "invalid-xml", detail: "stream header has no id" });
    }
    c.phase = "authenticating";
    // XEP-0114 §3: the handshake is the lowercase hex SHA-1 of the stream id followed by the secret.
    const digest = createHash("sha1").update(id + secret).digest("hex");
    enqueue(c, `<handshake>${digest}</handshake>`);
  }

  function onStanza(c: Connection, el: Element): void {
    if (el.name === "stream:error") {
      return fail(c, { reason: streamErrorCondition(el) });
    }
    if (c.phase !== "online") {
      if (el.name === "handshake" && c.phase === "authenticating") return goOnline(c);
      log("debug", "XMPP component ignored a stanza before authentication", { name: el.name });
      return;
    }
    for (const fn of stanzaHandlers) callSafely("stanza", () => fn(el));
  }

  /** A throwing listener must not take the connection down with it. */
  function callSafely(kind: "stanza" | "online" | "offline", call: () => void): void {
    try {
      call();
    } catch (err) {
      log("error", `XMPP ${kind} handler failed`, { error: errorMessage(err) });
    }
  }

  function goOnline(c: Connection): void {
    c.phase = "online";
    clearTimers(c);
    state = "online";
    lastError = null;
    attempt = 0;
    connects += 1;
    lastConnectedAt = Date.now();
    if (keepaliveMs > 0) {
      // RFC 6120 §4.6.1: whitespace keepalive; skipped while data is queued anyway.
      c.keepalive = setInterval(() => {
        if (c.queuedBytes === 0) enqueue(c, " ");
      }, keepaliveMs);
    }
    log("info", "XMPP component online", { domain, host, port });
    for (const fn of onlineHandlers) callSafely("online", fn);
  }

  function fail(c: Connection, failure: Failure): void {
    if (c.ended) return;
    const wasOnline = c.phase === "online";
    closeConnection(c, failure.streamError);
    if (state === "stopped") return;
    lastError = failure.reason;
    state = "disconnected";
    const retryInMs = backoffDelay(attempt, backoff);
    attempt += 1;
    reconnectTimer = setTimeout(connect, retryInMs);
    logFailure(failure, retryInMs);
    if (wasOnline) for (const fn of offlineHandlers) callSafely("offline", () => fn(failure.reason));
  }

  function logFailure(failure: Failure, retryInMs: number): void {
    const fields = { domain, host, port, retryInMs, attempt, ...(failure.detail ? { detail: failure.detail } : {}) };
    if (failure.reason === "not-authorized") {
      log("error", "XMPP server refused the component handshake (not-authorized): check the component secret and domain", fields);
    } else {
      log("warn", `XMPP component disconnected: ${failure.reason}`, fields);
    }
  }

  /** Ends the attempt: best-effort closing XML, then the socket. Idempotent via `ended`. */
  function closeConnection(c: Connection, streamError?: string): void {
    if (!c.ended && c.phase !== "connecting") flush(c); // stanzas sent earlier in this turn go out first
    c.ended = true;
    clearTimers(c);
    const socket = c.socket;
    if (socket !== null && c.phase !== "connecting" && !c.midChunk && !c.closing) {
      const error = streamError ? `<stream:error><${streamError} xmlns='${NS_STREAM_ERRORS}'/></stream:error>` : "";
      socket.write(error + STREAM_CLOSE);
    }
    c.queue = [];
    c.text = [];
    c.queuedBytes = 0;
    c.textUnits = 0;
    socket?.end();
    c.onClosed?.();
  }

  /** stop() ran out of time (the server does not read or never closes): drop the socket. */
  function abortConnection(c: Connection): void {
    const socket = c.socket;
    closeConnection(c);
    socket?.terminate();
    log("warn", "XMPP component closed without a clean stream end", { domain });
  }

  function clearTimers(c: Connection): void {
    for (const timer of c.timers) clearTimeout(timer);
    c.timers = [];
    if (c.keepalive !== null) clearInterval(c.keepalive);
    c.keepalive = null;
  }

  /** Moves the stanzas sent in this turn to the byte queue, as one buffer. */
  function encodeText(c: Connection): void {
    if (c.text.length === 0) return;
    const bytes = encoder.encode(c.text.length === 1 ? (c.text[0] as string) : c.text.join(""));
    c.queue.push(bytes);
    c.queuedBytes += bytes.length - c.textUnits;
    c.text = [];
    c.textUnits = 0;
  }

  function enqueue(c: Connection, data: string | Uint8Array): void {
    encodeText(c); // after the stanzas sent before it
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    c.queue.push(bytes);
    c.queuedBytes += bytes.length;
    flush(c);
  }

  function flush(c: Connection): void {
    const socket = c.socket;
    if (socket === null || c.ended) return;
    encodeText(c);
    while (c.queue.length > 0) {
      const chunk = takeBatch(c.queue);
      const written = socket.write(chunk);
      if (written < 0) return; // closed; the close callback ends the attempt
      c.queuedBytes -= written;
      if (written < chunk.length) {
        c.queue[0] = chunk.subarray(written);
        c.midChunk = true;
        return; // backpressure: the drain callback calls flush() again
      }
      c.queue.shift();
      c.midChunk = false;
    }
    queueFullLogged = false; // drained: the next overflow is a new episode worth one line
    if (c.closing) socket.end();
  }

  function send(stanza: Element | string): boolean {
    const c = conn;
    if (c === null || state !== "online" || c.phase !== "online" || c.ended) return false;
    const text = typeof stanza === "string" ? stanza : stanza.toString();
    // Counted in UTF-16 units until encoded at the flush (exact bytes then): measuring each
    // stanza's UTF-8 length here was ~5 % of the daemon's CPU under load.
    const units = text.length;
    if (c.queuedBytes + units > maxQueueBytes) {
      if (!queueFullLogged) log("warn", "XMPP write queue full: dropping stanzas", { queuedBytes: c.queuedBytes });
      queueFullLogged = true;
      return false;
    }
    c.text.push(text);
    c.queuedBytes += units;
    c.textUnits += units;
    // One write for everything sent in this turn (a socket read of many events answers them
    // all before it returns): a syscall per stanza was a visible share of CPU under load.
    if (!c.flushQueued) {
      c.flushQueued = true;
      queueMicrotask(() => {
        c.flushQueued = false;
        flush(c);
      });
    }
    return true;
  }

  function start(): void {
    if (started || state === "stopped") return;
    started = true;
    connect();
  }

  function stop(): Promise<void> {
    stopping ??= stopConnection();
    return stopping;
  }

  function stopConnection(): Promise<void> {
    const c = conn;
    const wasOnline = state === "online";
    state = "stopped";
    if (reconnectTimer !== null) clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (c === null || c.ended) return Promise.resolve();
    if (wasOnline) for (const fn of offlineHandlers) callSafely("offline", () => fn("stopped"));
    if (c.socket === null || c.phase === "connecting") {
      closeConnection(c);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      c.onClosed = resolve;
      c.closing = true;
      if (c.keepalive !== null) clearInterval(c.keepalive);
      c.keepalive = null;
      c.timers.push(setTimeout(() => abortConnection(c), STOP_TIMEOUT_MS));
      enqueue(c, STREAM_CLOSE); // after any queued stanzas; flush() then half-closes
      log("info", "XMPP component stopping", { domain });
    });
  }

  return {
    start,
    stop,
    send,
    get state() {
      return state;
    },
    get lastError() {
      return lastError;
    },
    onStanza: (fn) => void stanzaHandlers.push(fn),
    onOnline: (fn) => void onlineHandlers.push(fn),
    onOffline: (fn) => void offlineHandlers.push(fn),
    stats: () => ({ connects, queuedBytes: conn?.queuedBytes ?? 0, lastConnectedAt }),
  };
}

/** TCP closed without `</stream:stream>`: a lost link once online, a refusal before. */
function closedReason(c: Connection): string {
  return c.phase === "online" ? "connection lost" : "connection closed by server";
}

function connectFailure(err: unknown): Failure {
  const code = typeof err === "object" && err !== null && "code" in err ? String(err.code) : "";
  if (code === "ECONNREFUSED") return { reason: "connection refused" };
  return { reason: "connection failed", detail: code || errorMessage(err) };
}

function streamErrorCondition(el: Element): string {
  const condition = el.getChildElements().find((child) => child.name !== "text");
  return condition?.name ?? "undefined-condition";
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function assertNever(value: never): never {
  throw new Error(`Cannot handle stream event: ${JSON.stringify(value)}`);
}

function takeBatch(queue: Uint8Array[]): Uint8Array {
  const head = queue[0] as Uint8Array;
  if (queue.length === 1 || head.length >= WRITE_BATCH_BYTES) return head;
  let count = 0;
  let total = 0;
  while (count < queue.length && total < WRITE_BATCH_BYTES) {
    total += (queue[count] as Uint8Array).length;
    count += 1;
  }
  const batch = new Uint8Array(total);
  let offset = 0;
  for (const part of queue.splice(0, count, batch)) {
    batch.set(part, offset);
    offset += part.length;
  }
  return batch;
}
