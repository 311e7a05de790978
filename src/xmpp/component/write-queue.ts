/**
 * The component stream's only write buffer: bounded, exact in bytes once a turn's stanzas are
 * encoded, and tolerant of partial writes.
 *
 * The transport's write() is unbuffered and returns how many bytes the kernel took, so this
 * queue's size is what is waiting (queuedBytes), it is bounded (sendText() says no when full
 * instead of growing memory without limit, as node:net's internal buffer would), and a partial
 * write keeps its tail at the head of the queue until the transport's drain calls flush() again.
 *
 * Stanzas sent in one turn of the event loop are encoded together and written with one call at
 * a deferred flush: a syscall (and a TextEncoder call) per stanza was a visible share of the
 * daemon's CPU under load.
 * @module
 */

export const WRITE_BATCH_BYTES = 64 * 1024;

export interface WriteQueueOptions {
  /** Bound for queuedBytes (stanza text counted in UTF-16 units until encoded). */
  maxBytes: number;
  /** Writes to the socket: bytes taken, negative when closed. */
  write: (chunk: Uint8Array) => number;
  /** sendText() refused a stanza: the queue is full. */
  onFull: (queuedBytes: number) => void;
  /** A flush wrote everything. */
  onEmpty: () => void;
  /** Runs a flush later in this turn; default queueMicrotask. */
  defer?: (fn: () => void) => void;
}

export interface WriteQueue {
  /** Bytes waiting, plus the UTF-16 units of stanza text not yet encoded. */
  readonly queuedBytes: number;
  /** The head of the queue was partly written. */
  readonly midChunk: boolean;
  /** Queues one stanza's text for the end of this turn; false (and onFull) when over the bound. */
  sendText(text: string): boolean;
  /** Queues data after everything sent before it and flushes now. Not bounded (protocol data). */
  enqueue(data: string | Uint8Array): void;
  /** Writes as much as the socket takes. */
  flush(): void;
  /** Drops everything and writes nothing more. */
  close(): void;
}

const encoder = new TextEncoder();

export function createWriteQueue(opts: WriteQueueOptions): WriteQueue {
  const { maxBytes, write, onFull, onEmpty } = opts;
  const defer = opts.defer ?? queueMicrotask;
  let queue: Uint8Array[] = [];
  /** Stanzas sent in this turn, not yet encoded: encoded together (one buffer) at the next flush. */
  let text: string[] = [];
  let queuedBytes = 0;
  /** UTF-16 code units in `text` (a lower bound of its bytes; exact once encoded). */
  let textUnits = 0;
  let midChunk = false;
  let flushQueued = false;
  let closed = false;

  /** Moves the stanzas sent in this turn to the byte queue, as one buffer. */
  function encodeText(): void {
    if (text.length === 0) return;
    const bytes = encoder.encode(text.length === 1 ? (text[0] as string) : text.join(""));
    queue.push(bytes);
    queuedBytes += bytes.length - textUnits;
    text = [];
    textUnits = 0;
  }

  function flush(): void {
    if (closed) return;
    encodeText();
    while (queue.length > 0) {
      const chunk = takeBatch(queue);
      const written = write(chunk);
      if (written < 0) return; // closed; the transport's close callback ends the attempt
      queuedBytes -= written;
      if (written < chunk.length) {
        queue[0] = chunk.subarray(written);
        midChunk = true;
        return; // backpressure: the drain callback calls flush() again
      }
      queue.shift();
      midChunk = false;
    }
    onEmpty();
  }

  return {
    get queuedBytes() {
      return queuedBytes;
    },
    get midChunk() {
      return midChunk;
    },
    sendText(stanza) {
      // Counted in UTF-16 units until encoded at the flush (exact bytes then): measuring each
      // stanza's UTF-8 length here was ~5 % of the daemon's CPU under load.
      const units = stanza.length;
      if (queuedBytes + units > maxBytes) {
        onFull(queuedBytes);
        return false;
      }
      text.push(stanza);
      queuedBytes += units;
      textUnits += units;
      if (!flushQueued) {
        flushQueued = true;
        defer(() => {
          flushQueued = false;
          flush();
        });
      }
      return true;
    },
    enqueue(data) {
      encodeText(); // after the stanzas sent before it
      const bytes = typeof data === "string" ? encoder.encode(data) : data;
      queue.push(bytes);
      queuedBytes += bytes.length;
      flush();
    },
    flush,
    close() {
      closed = true;
      queue = [];
      text = [];
      queuedBytes = 0;
      textUnits = 0;
    },
  };
}

/** The head of the queue, or the first chunks merged up to WRITE_BATCH_BYTES (in place). */
export function takeBatch(queue: Uint8Array[]): Uint8Array {
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
