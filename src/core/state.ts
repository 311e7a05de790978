/**
 * The core's state, its constructor and the bounded user cache (issue item 7).
 * All maps rely on insertion order: the users map is an LRU (touch = re-insert), pending
 * publishes and dedupe entries are in deadline/expiry order because `now` only grows.
 * @module
 */
import { extensionsFor, type PushExtension } from "./pipeline.ts";
import { DEFAULT_REMOVE_CONDITIONS } from "./error-policy.ts";
import type { CoreConfig, Identifier, Publish, Registration, SessionRef, StanzaCopy, Trigger } from "./types.ts";
import type { Fifo } from "./fifo.ts";
import type { RandomBytes } from "./extensions/random.ts";
import type { IdSeed } from "./ids.ts";
import { parseSeed, publishId } from "./ids.ts";
import { createFifo, fifoPush, fifoRetain, fifoShift, fifoSize } from "./fifo.ts";

/** mod_cloud_notify's defaults (behaviour.md §3) plus our bounds. */
export const DEFAULT_CORE_CONFIG: CoreConfig = Object.freeze({
  host: "localhost",
  pushNotificationWithBody: false,
  pushNotificationWithSender: false,
  pushMaxErrors: 16,
  pushMaxDevices: 5,
  pushNotificationImportantBody: "New Message!",
  pushPriority: false,
  pushMaxHibernationTimeout: 259200,
  smacksHibernationTime: 600,
  publishTimeoutMs: 60000,
  batchDelayMs: 1000,
  maxPublishOptionsBytes: 8192,
  maxNodeLength: 1024,
  maxCachedUsers: 100000,
  // D8: one stanza's paths arrive within a second and a bridge replay resends only unacknowledged
  // events (≤ 100 or 200 ms' worth); 100,000 keys held ≈ half of the live heap (docs/performance.md).
  dedupeWindow: 10000,
  dedupeTtlMs: 600000,
  maxPendingPublishes: 100000,
  maxSessionQueue: 256,
  pushRetryDelaysMs: Object.freeze([15_000, 120_000]),
  pushRemoveConditions: DEFAULT_REMOVE_CONDITIONS,
  maxPendingRetries: 100000,
});

/** A registration in memory; the object lives as long as the registration (re-enable keeps it). */
export interface RegEntry {
  reg: Registration;
  /** D9: push-worthy stanzas since a device bound to it was last connected. */
  count: number;
  /** D8: stanza keys pushed to it → expiry (unix ms); created on first use. */
  seen: Map<string, number> | null;
  /** D19: id of the newest publish sent to it; only that one's transient failure is retried. */
  lastPublishId?: string;
}

/** One D8 window entry, in insertion order. */
export interface SeenEntry {
  entry: RegEntry;
  key: string;
  expiry: number;
}

export interface SessionState {
  ref: SessionRef;
  bound: Identifier | null;
  hibernating: boolean;
  /** When the current hibernation started (unix ms), for the admin view; unknown after a snapshot. */
  hibernatedAt?: number | null;
  /** The core told the bridge to extend this session's hibernation timeout (B33, D12). */
  extended: boolean;
  /** B33/B34 `first_hibernated_push` (unix ms). */
  firstHibernatedPush: number | null;
  /** B30 `push_queue`, bounded by `maxSessionQueue`. */
  queue: StanzaCopy[];
  /** A batch timer is scheduled (B30). */
  timer: boolean;
  batchTrigger: Trigger;
}

export interface UserState {
  user: string;
  /** False for a placeholder created by an event that arrived before `user-loaded`. */
  loaded: boolean;
  /** Used since it was last looked at by the eviction clock (second chance). */
  touched: boolean;
  regs: Map<Identifier, RegEntry>;
  sessions: Map<string, SessionState>;
  pendingPublishes: number;
  pendingOps: number;
  /** D19 retries scheduled for the user's registrations (they pin the user like pending publishes). */
  pendingRetries: number;
}

export interface PendingPublish {
  user: string;
  identifier: Identifier;
  /** The user's state (pinned while this is pending, so the reference stays current). */
  owner: UserState;
  /** The registration pushed to; a reply counts only while it is still registered (B15). */
  entry: RegEntry;
  sentAt: number;
  deadline: number;
  trigger: Trigger;
  important: boolean;
  /** What was sent, to send again if the link broke before the bridge got it (link-restored). */
  publish: Publish;
  /** 1 for the first send. */
  attempt: number;
  /** D19: retries of this push after transient failures before this send (0 for the first). */
  retries: number;
  /**
   * Its history row is dated `sentAt` and it is listed as in flight; false for a publish sent
   * again after a broken link (its row is dated at its outcome, like any row of its own).
   */
  listed: boolean;
  /** An admin test push waits for its first outcome (admin-reply `push-outcome`). */
  adminRequestId?: string;
}

/** D19: a push waiting to be sent again after a transient failure (at most one per registration). */
export interface PendingRetry {
  owner: UserState;
  entry: RegEntry;
  /** What failed; sent again under a new id. */
  publish: Publish;
  /** The failed publish's id (history row of the attempt) and why it failed. */
  failedId: string;
  error: string;
  /** Retries before this one; this one is number `retries + 1`. */
  retries: number;
}

export type PendingOp =
  | { kind: "enable"; user: string; requestId: string; session: SessionRef; registration: Registration; evicted: Identifier[] }
  | { kind: "disable"; user: string; requestId: string; session: SessionRef; identifiers: Identifier[] };

export interface CoreState {
  config: CoreConfig;
  /** D16: the push pipeline's extensions, from the configuration. */
  extensions: readonly PushExtension[];
  seed: IdSeed;
  publishCounter: number;
  opCounter: number;
  users: Map<string, UserState>;
  /** Users in insertion order, for the second-chance (CLOCK) eviction. May hold stale entries. */
  userOrder: Fifo<UserState>;
  pending: Map<string, PendingPublish>;
  /** Pending publish ids in deadline order. May hold ids already answered. */
  pendingOrder: Fifo<string>;
  /** D19: scheduled retries by timer key (`retryKey`). */
  retries: Map<string, PendingRetry>;
  ops: Map<string, PendingOp>;
  /** Users whose account is disabled (Prosody 13): no push while listed (users.ts). */
  disabled: Set<string>;
  /** D8: number of live seen-keys over all registrations (at most `dedupeWindow`). */
  dedupeSize: number;
  /** D8 window entries in insertion (= expiry) order. May hold entries already dropped. */
  dedupeOrder: Fifo<SeenEntry>;
  /** A `shutdown` event is waiting for the publishes in flight (the core emits `settled` once none is left). */
  stopping: boolean;
}

/** Creates an empty state. `idSeed` is 64 hex chars of randomness from the shell (also the default IV source, E1.3). */
export function initState(
  config: CoreConfig,
  opts: { idSeed: string; extensions?: readonly PushExtension[]; disabledUsers?: Iterable<string>; random?: RandomBytes },
): CoreState {
  return {
    config,
    extensions:
      opts.extensions ?? extensionsFor(config, { idSeed: opts.idSeed, ...(opts.random === undefined ? {} : { random: opts.random }) }),
    seed: parseSeed(opts.idSeed),
    publishCounter: 0,
    opCounter: 0,
    users: new Map(),
    userOrder: createFifo(),
    pending: new Map(),
    pendingOrder: createFifo(),
    retries: new Map(),
    ops: new Map(),
    disabled: new Set(opts.disabledUsers ?? []),
    dedupeSize: 0,
    dedupeOrder: createFifo(),
    stopping: false,
  };
}

/** Whether the user's registrations are cached; if not, the shell dispatches `user-loaded` first. */
export function isLoaded(state: CoreState, user: string): boolean {
  return state.users.get(user)?.loaded === true;
}

export function nextPublishId(state: CoreState): string {
  return publishId(state.seed, state.publishCounter++);
}

export function nextOpId(state: CoreState): string {
  return `op-${++state.opCounter}`;
}

/** The user's state (an unloaded placeholder if unknown), marked recently used. */
export function touchUser(state: CoreState, user: string): UserState {
  const existing = state.users.get(user);
  if (existing !== undefined) {
    existing.touched = true;
    return existing;
  }
  const created: UserState = {
    user,
    loaded: false,
    touched: false,
    regs: new Map(),
    sessions: new Map(),
    pendingPublishes: 0,
    pendingOps: 0,
    pendingRetries: 0,
  };
  state.users.set(user, created);
  fifoPush(state.userOrder, created);
  if (fifoSize(state.userOrder) > 2 * state.users.size + 1024) {
    fifoRetain(state.userOrder, (u) => state.users.get(u.user) === u); // drop deleted users
  }
  evictUsers(state, user);
  return created;
}

/** The user's state without changing recency, or undefined. */
export function peekUser(state: CoreState, user: string): UserState | undefined {
  return state.users.get(user);
}

function isPinned(u: UserState): boolean {
  return u.sessions.size > 0 || u.pendingPublishes > 0 || u.pendingOps > 0 || u.pendingRetries > 0;
}

/**
 * Evicts users above `maxCachedUsers`, least recently used first (CLOCK: a user used since the
 * last look gets a second chance). Pinned users (sessions, pending publishes, retries or store ops) and
 * `keep` are never evicted, so the cache may stay above its cap while everything is pinned.
 * At most 128 users are looked at per call.
 */
export function evictUsers(state: CoreState, keep: string | null = null): void {
  let budget = 128;
  while (state.users.size > state.config.maxCachedUsers && budget-- > 0 && fifoSize(state.userOrder) > 0) {
    const u = fifoShift(state.userOrder);
    if (u === undefined || state.users.get(u.user) !== u) continue; // deleted meanwhile
    if (u.touched || u.user === keep || isPinned(u)) {
      u.touched = false;
      fifoPush(state.userOrder, u);
      continue;
    }
    state.users.delete(u.user);
  }
}
