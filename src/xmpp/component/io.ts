/**
 * What the component stream needs from the outside world, injected so that its logic runs in
 * tests without real TCP or sleeps: a transport (connect, write, end) and a clock (timers, now).
 * The real ones (Bun.connect, the global timers) are wired in ../component.ts.
 * @module
 */

/** One open connection. Like Bun's socket: write() is unbuffered and says how much was taken. */
export interface TransportSocket {
  /** Bytes the kernel took (possibly fewer than given: backpressure); negative when closed. */
  write(data: string | Uint8Array): number;
  /** Half-close after what was written. */
  end(): void;
  /** Drop the connection at once. */
  terminate(): void;
  setNoDelay(noDelay: boolean): void;
}

export interface TransportHandlers {
  open(socket: TransportSocket): void;
  data(chunk: Uint8Array): void;
  /** The socket can take more bytes after a partial write. */
  drain(): void;
  /** The peer half-closed. */
  end(): void;
  close(): void;
  error(err: Error): void;
}

export interface Transport {
  /** Resolves with the socket once connected (after `open`); rejects when the connection fails. */
  connect(host: string, port: number, handlers: TransportHandlers): Promise<TransportSocket>;
}

/** An opaque timer handle from the same clock. */
export type TimerHandle = unknown;

export interface Clock {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
  /** Unix milliseconds. */
  now(): number;
}
