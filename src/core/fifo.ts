/**
 * A first-in first-out queue on an array with a moving head, compacted now and then.
 * Used instead of iterating a `Map` from its front: in Bun (JSC) taking a Map's first key after
 * deleting earlier ones costs time proportional to the deletions, which made the bounded
 * windows quadratic.
 * @module
 */

export interface Fifo<T> {
  items: T[];
  head: number;
}

export function createFifo<T>(): Fifo<T> {
  return { items: [], head: 0 };
}

export function fifoSize<T>(q: Fifo<T>): number {
  return q.items.length - q.head;
}

export function fifoPush<T>(q: Fifo<T>, item: T): void {
  q.items.push(item);
}

export function fifoPeek<T>(q: Fifo<T>): T | undefined {
  return q.head < q.items.length ? q.items[q.head] : undefined;
}

export function fifoShift<T>(q: Fifo<T>): T | undefined {
  if (q.head >= q.items.length) return undefined;
  const item = q.items[q.head];
  q.head++;
  if (q.head >= 1024 && q.head * 2 >= q.items.length) {
    q.items = q.items.slice(q.head);
    q.head = 0;
  }
  return item;
}

/** Keeps only the items for which `keep` holds, in order (used to drop stale entries in bulk). */
export function fifoRetain<T>(q: Fifo<T>, keep: (item: T) => boolean): void {
  const items: T[] = [];
  for (let i = q.head; i < q.items.length; i++) {
    const item = q.items[i] as T;
    if (keep(item)) items.push(item);
  }
  q.items = items;
  q.head = 0;
}
