/**
 * The core's contract: domain types, the events it consumes and the actions it returns.
 * Everything here is plain data. Time (`now`, unix milliseconds) and ids come in with events.
 * @module
 */

/** A minimal XML element, structurally satisfied by ltx's `Element`. The core never parses XML text. */
export interface XmlNode {
  name: string;
  attrs: Record<string, string | undefined>;
  children: Array<XmlNode | string>;
}

/** Identifier of a registration within one user: `${jid}<${node ?? ""}` (behaviour.md §1). */
export type Identifier = string;

/** A stored push registration (behaviour.md §1), as the store and the core share it. */
export interface Registration {
  /** Local part of the user (the user's bare JID is `${user}@${host}`). */
  user: string;
  identifier: Identifier;
  /** App push service JID, as sent (D1: validated, not normalised). */
  jid: string;
  node: string | null;
  includePayload: boolean;
  /** The first jabber:x:data child of <enable>, serialised XML, kept verbatim (B6, D2). */
  publishOptions: string | null;
  clientId: string | null;
  resource: string | null;
  language: string | null;
  /** unix ms */
  createdAt: number;
  /** unix ms; the last enable that wrote it (D3 evicts by this). */
  updatedAt: number;
  /** Consecutive non-wait publish errors (B41, D13: persisted). */
  errorCount: number;
  /** e.g. "cancel/item-not-found" */
  lastError: string | null;
  lastErrorAt: number | null;
  /** E1: the client's key for encrypted payloads (`<encrypt>` in its enable); absent/null = plain pushes. */
  encryption?: PushEncryption | null;
  /** E3: the client's push filters (`<ignore-unknown>`, `<muted>`, `<groupchat>` in its enable); absent/null = none. */
  filters?: PushFilters | null;
}

/** E1 (tigase:push:encrypt:0): how a registration's payloads are encrypted. */
export interface PushEncryption {
  alg: "aes-128-gcm";
  /** Base64 of the 16-byte key, as the client sent it (a secret: never logged, never in the admin API). */
  key: string;
  /** Most characters of the encoded `<encrypted>` text the client accepts (Tigase `max-size`), or null. */
  maxSize: number | null;
}

/** E3 (tigase:push:filter:*): what a registration does not want pushed. Bare JIDs are lower-cased. */
export interface PushFilters {
  ignoreUnknown: boolean;
  muted: string[];
  groupchat: Array<{ room: string; allow: "always" | "mentioned" | "never"; nick: string | null }>;
}

/** Identity of a client session as the bridge reports it. */
export interface SessionRef {
  user: string;
  /** Stable Prosody session id (survives stream-management resumption). */
  sessionId: string;
  /** The session's full JID, e.g. alice@example.com/phone */
  fullJid: string;
  clientId?: string | null;
}

/** A copy of a stanza the server saw, with the identity the adapter derived (D8). */
export interface StanzaCopy {
  /** The stanza itself (message/presence/iq), parsed. */
  stanza: XmlNode;
  /** Stable identity across trigger paths: origin-id, else from+id, else a digest (computed by the adapter). */
  key: string;
  /** Importance (B18–B23), when already known: set on copies the core keeps queued. */
  important?: boolean;
  /**
   * E3: whether the sender (bare JID of the unwrapped message's `from`) is in the recipient's roster
   * with a `from`/`both` subscription, as the server told (bridge `contacts`, §2); undefined = not known.
   */
  contact?: boolean;
}

/** Trigger paths, used for push history and metrics. */
export type Trigger =
  | "offline"
  | "archive"
  | "groupchat-bare"
  | "session-queue"
  | "hibernation-start"
  | "ack-delayed"
  | "ping"
  | "recovered";

/** An IQ request from a client (via the bridge), addressed to its own account. */
export interface IqRequest {
  /** Opaque handle the adapter uses to route the reply back (e.g. bridge IQ id). */
  requestId: string;
  session: SessionRef;
  /** xml:lang of the IQ, if any */
  lang: string | null;
}

export type Event =
  // --- client requests (bridge forwards them with the session identity) ---
  | { type: "enable"; now: number; req: IqRequest; element: XmlNode }
  | { type: "disable"; now: number; req: IqRequest; element: XmlNode }
  // --- the store answered a persistence request the core issued (D4) ---
  | { type: "store-done"; now: number; opId: string; ok: boolean; error?: string }
  // --- a user's stored registrations. The shell dispatches this before any event for a user
  //     that `isLoaded(state, user)` says is not cached (the core keeps an LRU of users). ---
  | { type: "user-loaded"; now: number; user: string; registrations: Registration[] }
  // --- bridge events (architecture.md) ---
  | { type: "offline"; now: number; user: string; copy: StanzaCopy }
  | { type: "archived"; now: number; user: string; copy: StanzaCopy; archiveId: string | null }
  | { type: "groupchat-bare"; now: number; user: string; copy: StanzaCopy }
  | { type: "session-started"; now: number; session: SessionRef; boundIdentifier?: Identifier | null }
  | { type: "session-ended"; now: number; user: string; sessionId: string }
  | { type: "hibernation-started"; now: number; user: string; sessionId: string; queue: StanzaCopy[] }
  | { type: "stanza-queued"; now: number; user: string; sessionId: string; copy: StanzaCopy }
  | { type: "ack-delayed"; now: number; user: string; sessionId: string; queue: StanzaCopy[] }
  | { type: "hibernation-ended"; now: number; user: string; sessionId: string }
  | { type: "user-deleted"; now: number; user: string }
  // --- after an unclean Prosody stop: the user has `count` messages in offline storage, the
  //     newest stored at `latestAt` (a copy of it, when the bridge could send one). The shell adds
  //     `lastPushAt`, the user's last push from the history (null until then, -Infinity: never); it pushes once
  //     unless that push is newer than the newest stored message ---
  | {
      type: "offline-pending";
      now: number;
      user: string;
      count: number;
      latestAt: number;
      lastPushAt: number | null;
      copy: StanzaCopy | null;
    }
  // --- Prosody 13 account lifecycle: pushes suspended (registrations kept) / resumed ---
  | { type: "user-disabled"; now: number; user: string }
  | { type: "user-enabled"; now: number; user: string }
  // --- publish outcomes ---
  | { type: "publish-result"; now: number; publishId: string; from: string }
  | {
      type: "publish-error";
      now: number;
      publishId: string;
      from: string;
      errorType: string;
      condition: string;
      text?: string | null;
    }
  // --- time: a timer the core scheduled fired, or a periodic tick (expires publishes, D11) ---
  | { type: "timer"; now: number; key: string }
  | { type: "tick"; now: number }
  // --- the bridge's list of live sessions after a (re)connect (bridge-protocol.md §1); the shell
  //     dispatches session-started for each first, so this only ends the sessions not listed ---
  | {
      type: "sessions-snapshot";
      now: number;
      sessions: Array<{ session: SessionRef; bound: Identifier | null; hibernating: boolean }>;
    }
  // --- the bridge had no answer for a publish it forwarded (its own deadline, or the server
  //     stopped while the publish was out): recorded as a timeout, never sent again ---
  | { type: "publish-timeout"; now: number; publishId: string }
  // --- the link to the server is back (bridge hello after a reconnect): publishes sent before
  //     `sentBefore` that the bridge does not list in `known` (forwarded, outcome still to come)
  //     never reached it and are sent again ---
  | { type: "link-restored"; now: number; sentBefore: number; known: ReadonlySet<string> }
  // --- admin API: remove one, some or all (null) of a user's registrations; with `adminRequestId`
  //     answered by an `admin-reply` (`deleted`) ---
  | { type: "admin-delete"; now: number; user: string; identifiers: Identifier[] | null; adminRequestId?: string }
  // --- admin ping (cloud-notify-ping, B39): push with no stanza. `requestId`: a client IQ to answer;
  //     `adminRequestId`: an admin test push, answered by `admin-reply`s (`test-push`, then one
  //     `push-outcome` per publish) ---
  | { type: "ping"; now: number; user: string; identifiers?: Identifier[] | null; requestId?: string; adminRequestId?: string }
  // --- admin API: a question about the core's state, answered at once by an `admin-reply`;
  //     changes nothing (the shell may step it out of the event queue's turn) ---
  | { type: "admin-query"; now: number; requestId: string; query: AdminQuery }
  // --- the daemon stops: publishes in flight get `graceMs` to be answered; then (or at once with
  //     0) those still unanswered are recorded as "sent" and forgotten, and `settled` is emitted ---
  | { type: "shutdown"; now: number; graceMs: number };

/** What the admin API asks the core (admin-query). */
export type AdminQuery =
  /** The user's sessions and account state, peeked at (never loaded or marked as used). */
  | { kind: "user"; user: string }
  /** The user's publishes in flight (one or all registrations), newest first. */
  | { kind: "inflight"; user: string; identifier?: Identifier }
  /** Sizes of the core's tables. */
  | { kind: "totals" };

/** A client session as the core knows it from the bridge. */
export interface SessionInfo {
  sessionId: string;
  fullJid: string;
  clientId: string | null;
  bound: Identifier | null;
  hibernating: boolean;
  /** unix ms; null when not hibernating or not known (a session listed after a reconnect). */
  hibernatingSince: number | null;
}

/** A publish sent and not yet answered (its history row, once it has an outcome, is dated `at`). */
export interface InflightPush {
  at: number;
  user: string;
  identifier: Identifier;
  publishId: string;
  trigger: Trigger;
  important: boolean;
}

/** The core's answers to the admin API (admin-reply). */
export type AdminAnswer =
  | { kind: "user"; disabled: boolean; extensions: string[]; sessions: SessionInfo[] }
  | { kind: "inflight"; pushes: InflightPush[] }
  | { kind: "totals"; cachedUsers: number; pendingPublishes: number }
  /** admin-delete: how many registrations were removed. */
  | { kind: "deleted"; removed: number }
  /** An admin ping: the publishes it sent (none when nothing matched or every push was vetoed). */
  | { kind: "test-push"; publishes: Array<{ publishId: string; identifier: Identifier }> }
  /** The first outcome of one of them (ok, error, timeout, or a transient failure: retry-scheduled, superseded). */
  | {
      kind: "push-outcome";
      publishId: string;
      identifier: Identifier;
      outcome: HistoryOutcome;
      error: string | null;
      latencyMs: number | null;
    };

/**
 * The core's counters, a closed set; src/metrics.ts maps each to the metric the daemon exposes
 * (`publish_latency_seconds` is a histogram: its `value` is one observation, in seconds).
 */
export type CoreMetric =
  | "pushes_total"
  | "publish_errors_total"
  | "publish_latency_seconds"
  | "registrations_removed_total"
  | "registrations_enabled_total"
  | "publish_replies_total"
  | "publish_timeouts_total"
  | "publish_retries_total"
  | "pushes_deduplicated_total"
  | "pushes_vetoed_total"
  | "pushes_suppressed_total"
  | "session_queue_dropped_total"
  | "recovered_skipped_total"
  | "accounts_disabled_total";

/** The five summary fields of B26, in wire order. `null` = empty field element. */
export interface Summary {
  messageCount: string | null;
  pendingSubscriptionCount: string | null;
  lastMessageSender: string | null;
  lastMessageBody: string | null;
}

/** A publish to an app push service, rendered by the adapter to the exact wire shape of B26. */
export interface Publish {
  /** 64 hex chars (B26); comes from the id generator passed into the core. */
  id: string;
  user: string;
  identifier: Identifier;
  to: string;
  node: string | null;
  summary: Summary;
  /** Verbatim serialised x-data form, or null (B6). */
  publishOptions: string | null;
  important: boolean;
  trigger: Trigger;
  /** Extra children of `<notification>` after the summary form, from extensions (D16). */
  payload: XmlNode[];
  /** E1: no summary form at all (an encrypted publish carries only `<encrypted>`). */
  omitSummary?: boolean;
  /** unix ms after which the publish counts as timed out (D11). */
  deadline: number;
}

export type StoreOp =
  | { op: "upsert"; registration: Registration }
  | { op: "delete"; user: string; identifiers: Identifier[] }
  | { op: "delete-user"; user: string }
  /** The user's pushes are suspended (`disabled`) or no longer (store/user-flags.ts). */
  | { op: "user-flag"; user: string; disabled: boolean; at: number }
  | {
      op: "error-count";
      user: string;
      identifier: Identifier;
      errorCount: number;
      lastError: string | null;
      lastErrorAt: number | null;
    };

/** `rejected`: the app service answered that the registration is gone (D20). */
export type RemovalReason = "disabled" | "evicted" | "max-errors" | "user-deleted" | "admin" | "rejected";

/**
 * `sent`: never answered (the daemon stopped first, or the registration went away meanwhile);
 * `retry-scheduled`: this attempt failed transiently and the push will be sent again (D19);
 * `superseded`: it failed transiently but a newer push to the registration replaces its retry.
 */
export type HistoryOutcome = "sent" | "ok" | "error" | "timeout" | "vetoed" | "retried" | "retry-scheduled" | "superseded";

export type Action =
  /** Answer a client IQ. `error` absent = empty result. */
  | {
      type: "reply";
      requestId: string;
      error?: { type: string; condition: string; text?: string };
      /** After a successful enable/disable: the identifier the session is now bound to (null = unbound). */
      bound?: Identifier | null;
    }
  /** Send a publish IQ (D15: via the bridge as the host, or from the component). */
  | { type: "publish"; publish: Publish }
  /** Persist. If `opId` is set the core waits for a `store-done` event with that id (D4). */
  | { type: "store"; opId?: string; ops: StoreOp[] }
  /** Hibernation timeout command for a session: extend to `seconds`, or restore the server's own. */
  | { type: "hibernation-timeout"; user: string; sessionId: string; mode: "extend"; seconds: number }
  | { type: "hibernation-timeout"; user: string; sessionId: string; mode: "restore" }
  /** Schedule a `timer` event with `key` at `at` (unix ms); scheduling the same key again replaces it. */
  | { type: "schedule"; key: string; at: number }
  | { type: "cancel-timer"; key: string }
  /** A push-history record (D17: never a body), made once per push, at its outcome (core/outcome.ts); `at` is the time of the record. */
  | {
      type: "history";
      at: number;
      user: string;
      identifier: Identifier;
      publishId: string | null;
      trigger: Trigger | null;
      important: boolean;
      outcome: HistoryOutcome;
      latencyMs?: number;
      error?: string | null;
      /**
       * When the publish was sent (unix ms), for a record of its outcome: the row is dated then
       * (one row per push, D17). Absent (a veto, a retry cancelled later, a publish sent again
       * after a broken link): the row is dated `at`, the time of the record.
       */
      sentAt?: number;
      /** After an error that counts (B41): the registration's consecutive errors, and the limit (for the log). */
      errorCount?: number;
      maxErrors?: number;
    }
  /** A registration went away, with its reason (D3, D13, D18). */
  | { type: "removed"; at: number; user: string; identifier: Identifier; reason: RemovalReason; detail?: string | null }
  /** A metric increment (an observation for a histogram). */
  | { type: "metric"; name: CoreMetric; labels?: Record<string, string>; value?: number }
  /** The answer to an admin request (`admin-query`, or `adminRequestId` on admin-delete and ping). */
  | { type: "admin-reply"; requestId: string; answer: AdminAnswer }
  /** After a `shutdown` event: no publish is in flight any more. */
  | { type: "settled" }
  /** A log line (never a body, D17). */
  | { type: "log"; level: "debug" | "info" | "warn" | "error"; msg: string; fields?: Record<string, string | number | boolean | null> };

/** Options the core reads; names follow mod_cloud_notify (behaviour.md §3). */
export interface CoreConfig {
  /** The first XMPP host the users belong to, e.g. "example.com" (users are `local@host` keys, host-config.ts). */
  host: string;
  /** Per-host overrides of five options (issue 13); absent: the same options for every host. */
  hostOverrides?: Readonly<Record<string, import("./host-config.ts").HostOverrides>>;
  pushNotificationWithBody: boolean;
  pushNotificationWithSender: boolean;
  pushMaxErrors: number;
  pushMaxDevices: number;
  pushNotificationImportantBody: string;
  /** E2: important pushes carry a Tigase priority element (D16 pipeline extension). */
  pushPriority: boolean;
  /** E1: honour `<encrypt xmlns='tigase:push:encrypt:0'>` (encrypted payloads, voip call pushes). Absent = off. */
  pushEncryption?: boolean;
  /** E1.5: encrypted payloads carry the sender and a body preview (false: only unread, type and call ids). Absent = on. */
  pushEncryptedPreview?: boolean;
  /** E3: honour the Tigase push filters (ignore-unknown, muted, groupchat). Absent = off. */
  pushFilters?: boolean;
  /** seconds */
  pushMaxHibernationTimeout: number;
  /** seconds; the server's own smacks_hibernation_time, restored after the first important push (B34). */
  smacksHibernationTime: number;
  /** ms; D11 */
  publishTimeoutMs: number;
  /** ms; B30 batch delay (1000) */
  batchDelayMs: number;
  /** D2 bounds */
  maxPublishOptionsBytes: number;
  maxNodeLength: number;
  /** Memory bounds (issue 3 item 7) */
  maxCachedUsers: number;
  dedupeWindow: number;
  dedupeTtlMs: number;
  maxPendingPublishes: number;
  maxSessionQueue: number;
  /** ms; D19: delays before each retry of a transient failure (`wait` error, timeout); [] = no retry. */
  pushRetryDelaysMs: readonly number[];
  /** D20: error conditions (any type but `wait`) that remove a registration at once; [] = B41 counting only. */
  pushRemoveConditions: readonly string[];
  /** D19: most retries waiting at once (one per registration at most); beyond, a failure is given up. */
  maxPendingRetries: number;
}
