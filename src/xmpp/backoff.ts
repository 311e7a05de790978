// Reconnect delay for the XEP-0114 component: exponential backoff with "full jitter"
// (delay = random() × min(maxMs, initialMs × 2^attempt)), so that many daemons restarted
// together do not hammer the XMPP server in lockstep. Pure: randomness is an input.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Uniform in [0, 1); the shell passes Math.random, tests pass a fixed function. */
  random: () => number;
}

export const DEFAULT_BACKOFF_INITIAL_MS = 1000;
export const DEFAULT_BACKOFF_MAX_MS = 60_000;

/** Upper bound of the delay for a 0-based attempt number, before jitter. */
export function backoffCeiling(attempt: number, { initialMs, maxMs }: Omit<BackoffOptions, "random">): number {
  // The exponent cap keeps 2^n finite; NaN and negative attempts count as the first.
  const exponent = attempt > 0 ? Math.min(Math.floor(attempt), 1023) : 0;
  const exponential = initialMs * 2 ** exponent;
  return Math.max(0, Math.min(maxMs, exponential));
}

/** Delay in whole milliseconds before reconnect attempt number `attempt` (0 = first retry). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const r = options.random();
  const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
  return Math.floor(unit * backoffCeiling(attempt, options));
}
