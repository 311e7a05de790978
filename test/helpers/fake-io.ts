/**
 * A fake clock and a fake transport for src/xmpp/component/: the component stream's logic runs
 * against them without real TCP or sleeps. The clock only moves when a test calls advance();
 * the transport records every connection attempt and lets the test play the server.
 * @module
 */
import type { Clock, TimerHandle, Transport, TransportHandlers, TransportSocket } from "../../src/xmpp/component/io.ts";

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
  every: number | null;
}

export interface FakeClock extends Clock {
  /** Runs every timer due within `ms`, in time order, moving now() along. */
  advance(ms: number): void;
  /** Timers and intervals still scheduled. */
  readonly pending: number;
}

export function createFakeClock(start = 1_700_000_000_000): FakeClock {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, FakeTimer>();
  const add = (fn: () => void, ms: number, every: number | null): TimerHandle => {
    const id = nextId++;
    timers.set(id, { id, at: now + Math.max(0, ms), fn, every });
    return id;
  };
  const remove = (handle: TimerHandle) => void timers.delete(handle as number);
  return {
    setTimeout: (fn, ms) => add(fn, ms, null),
    setInterval: (fn, ms) => add(fn, ms, ms),
    clearTimeout: remove,
    clearInterval: remove,
    now: () => now,
    get pending() {
      return timers.size;
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let due: FakeTimer | null = null;
        for (const t of timers.values()) if (t.at <= end && (due === null || t.at < due.at || (t.at === due.at && t.id < due.id))) due = t;
        if (due === null) break;
        now = due.at;
        if (due.every === null) timers.delete(due.id);
        else due.at += due.every;
        due.fn();
      }
      now = end;
    },
  };
}

export class FakeSocket implements TransportSocket {
  /** Every chunk the component wrote, as text. */
  readonly writes: string[] = [];
  /** Most bytes the next write() takes (a slow reader); Infinity = all. */
  capacity = Number.POSITIVE_INFINITY;
  noDelay = false;
  ended = false;
  terminated = false;
  private readonly decoder = new TextDecoder();

  write(data: string | Uint8Array): number {
    if (this.ended || this.terminated) return -1;
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const taken = Math.min(bytes.length, this.capacity);
    if (this.capacity !== Number.POSITIVE_INFINITY) this.capacity -= taken;
    this.writes.push(this.decoder.decode(bytes.subarray(0, taken), { stream: true }));
    return taken;
  }
  end(): void {
    this.ended = true;
  }
  terminate(): void {
    this.terminated = true;
  }
  setNoDelay(noDelay: boolean): void {
    this.noDelay = noDelay;
  }
  /** Everything written so far. */
  get written(): string {
    return this.writes.join("");
  }
}

/** One connection attempt: the test decides whether it opens or fails. */
export interface FakeAttempt {
  readonly host: string;
  readonly port: number;
  readonly socket: FakeSocket;
  readonly handlers: TransportHandlers;
  /** TCP connected: `open`, then the connect promise resolves. */
  open(): void;
  /** The connect promise rejects (e.g. code ECONNREFUSED). */
  refuse(code?: string): void;
  /** The server writes text. */
  send(text: string): void;
  /** The server's stream header with this id, and `<handshake/>` after it when `accept`. */
  greet(id?: string): void;
}

export interface FakeTransport extends Transport {
  readonly attempts: FakeAttempt[];
}

export function createFakeTransport(): FakeTransport {
  const attempts: FakeAttempt[] = [];
  return {
    attempts,
    connect(host, port, handlers) {
      const socket = new FakeSocket();
      let resolve!: (s: TransportSocket) => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<TransportSocket>((ok, fail) => {
        resolve = ok;
        reject = fail;
      });
      attempts.push({
        host,
        port,
        socket,
        handlers,
        open() {
          handlers.open(socket);
          resolve(socket);
        },
        refuse(code = "ECONNREFUSED") {
          reject(Object.assign(new Error(`connect ${code}`), { code }));
        },
        send(text) {
          handlers.data(new TextEncoder().encode(text));
        },
        greet(id = "stream-1") {
          handlers.data(
            new TextEncoder().encode(
              `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='push.example.com' id='${id}'>`,
            ),
          );
        },
      });
      return promise;
    },
  };
}

/** Lets promise callbacks and queued microtasks (the write queue's turn flush) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
