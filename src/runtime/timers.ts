/**
 * Keyed one-shot timers for the core's `schedule` / `cancel-timer` actions: scheduling a key
 * again replaces the earlier timer, so the core never sees a stale timer for a key.
 * @module
 */
export interface Timers {
  schedule(key: string, delayMs: number): void;
  cancel(key: string): void;
  cancelAll(): void;
}

export function createTimers(fire: (key: string) => void): Timers {
  const pending = new Map<string, ReturnType<typeof setTimeout>>();
  return {
    schedule(key, delayMs) {
      const old = pending.get(key);
      if (old !== undefined) clearTimeout(old);
      pending.set(
        key,
        setTimeout(function onTimer() {
          pending.delete(key);
          fire(key);
        }, delayMs),
      );
    },
    cancel(key) {
      const old = pending.get(key);
      if (old !== undefined) clearTimeout(old);
      pending.delete(key);
    },
    cancelAll() {
      for (const t of pending.values()) clearTimeout(t);
      pending.clear();
    },
  };
}
