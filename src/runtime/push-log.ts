/**
 * The log lines that tell an operator what happened to a user's pushes (issue 15, item 1), made
 * from the actions the core already returns: one owner per line, the action.
 *
 * At info: every publish that failed, timed out, was given up on or will be retried
 * (`push failed`, `push timed out`, `push failed: retry scheduled`, `push failed: not retried`,
 * `push sent again`) and every registration added, removed or evicted, each with the user,
 * host, registration and (for pushes) trigger and error. A renewal (the same registration
 * enabled again, which many clients do at every login) is a debug line. Pushes that succeed are counted
 * (`cloud_notifyd_pushes_total`), not logged at info: one line per delivered push would drown
 * the failures. They are info, not warn: the warn/error rate limit (log.ts) would suppress
 * the 11th `push failed` of a minute, and a dead app service is exactly when each line matters.
 *
 * At debug: one line per event with the core's decision (the actions it returned), and one per
 * publish sent, delivered or vetoed. Callers check `debugOn()` first, so nothing is built for
 * a debug line when the level is above debug (the hot path).
 *
 * Never logged (D17): bodies, publish-options values, encryption keys, message senders, and
 * whole nodes. The registration is shown as `service<node` with the node cut to its first 6
 * and last 4 characters, as the admin page shows it (http/short-node.ts): a node is often the
 * device token of APNs/FCM or a secret of the app server, and log lines travel further
 * (journald, log shippers, tickets) than the store. The short form still tells two devices
 * apart and matches what `cloud-notifyd user` and /ui show; the whole node is in the store.
 * @module
 */
import type { Action, Event, Identifier, Publish, StoreOp } from "../core/types.ts";
import { hostOf } from "../core/host-config.ts";
import { shortNode } from "../http/short-node.ts";
import type { Logger } from "../log.ts";

type HistoryAction = Extract<Action, { type: "history" }>;
type RemovedAction = Extract<Action, { type: "removed" }>;

export interface PushLogOptions {
  log: Logger;
  /** The first configured host: the host of a user given without one. */
  host: string;
}

export interface PushLog {
  /** Whether debug lines are written now (the level can change on SIGHUP). */
  debugOn(): boolean;
  /** A history record: failures at info, successes and decisions at debug. */
  outcome(h: HistoryAction): void;
  /** A registration went away. */
  removed(r: RemovedAction): void;
  /** A store write succeeded: registrations added or renewed. */
  stored(ops: readonly StoreOp[]): void;
  /** Debug: a publish went out (call only when `debugOn()`). */
  published(p: Publish): void;
  /** A publish could not be queued (component offline). */
  notSent(p: Publish): void;
  /** Debug: one event and what the core decided (call only when `debugOn()`). */
  event(event: Event, actions: readonly Action[]): void;
}

/** `service<node` with the node shortened (see the module comment); `service<` when there is no node. */
export function shortRegistration(identifier: Identifier): string {
  const lt = identifier.indexOf("<");
  if (lt < 0) return identifier;
  const node = identifier.slice(lt + 1);
  return node === "" ? identifier : `${identifier.slice(0, lt)}<${shortNode(node)}`;
}

export function createPushLog(opts: PushLogOptions): PushLog {
  const { log, host } = opts;
  const debugOn = (): boolean => log.enabled?.("debug") ?? true;

  function base(user: string, identifier: Identifier): Record<string, string> {
    // A user is `local@host` (several VirtualHosts, issue 13); a bare local part is the first host's.
    return { user, host: hostOf(user) || host, registration: shortRegistration(identifier) };
  }

  /** The registration's consecutive error count after this failure, as the core recorded it (B41). */
  function errorCount(h: HistoryAction): Record<string, number> {
    return h.errorCount === undefined ? {} : { error_count: h.errorCount, max_errors: h.maxErrors ?? 0 };
  }

  function outcome(h: HistoryAction): void {
    switch (h.outcome) {
      case "error":
        log.info("push failed", { ...pushFields(h), ...errorCount(h) });
        return;
      case "timeout":
        log.info("push timed out: no answer from the app service", pushFields(h));
        return;
      case "retry-scheduled":
        log.info("push failed: retry scheduled", pushFields(h));
        return;
      case "superseded":
        log.info("push failed: not retried, a newer push replaces it", pushFields(h));
        return;
      case "retried":
        log.info("push sent again: the link to the server was lost before it went out", pushFields(h));
        return;
      case "ok":
      case "vetoed":
        if (debugOn()) log.debug(h.outcome === "ok" ? "push delivered" : "push vetoed", pushFields(h));
        return;
      case "sent":
        return; // the publish action's own debug line (published) says it
    }
  }

  function pushFields(h: HistoryAction): Record<string, string | number | boolean> {
    const fields: Record<string, string | number | boolean> = {
      ...base(h.user, h.identifier),
      trigger: h.trigger ?? "none",
      important: h.important,
    };
    if (h.publishId !== null) fields.publish_id = h.publishId.slice(0, 16);
    if (h.error) fields.error = h.error;
    if (h.latencyMs !== undefined) fields.latency_ms = h.latencyMs;
    return fields;
  }

  return {
    debugOn,
    outcome,
    removed(r) {
      const fields = { ...base(r.user, r.identifier), reason: r.reason, ...(r.detail ? { error: r.detail } : {}) };
      log.info(
        r.reason === "evicted" ? "registration evicted: the user enabled more than push_max_devices" : "registration removed",
        fields,
      );
    },
    stored(ops) {
      for (const op of ops) {
        if (op.op !== "upsert") continue;
        const r = op.registration;
        const added = r.createdAt === r.updatedAt;
        if (!added && !debugOn()) continue;
        log[added ? "info" : "debug"](added ? "registration added" : "registration renewed", {
          ...base(r.user, r.identifier),
          client_id: r.clientId,
          resource: r.resource,
          include_payload: r.includePayload,
          publish_options: r.publishOptions === null ? "absent" : "present",
          encrypted: r.encryption != null,
        });
      }
    },
    published(p) {
      log.debug("push sent", { ...base(p.user, p.identifier), trigger: p.trigger, important: p.important, publish_id: p.id.slice(0, 16) });
    },
    notSent(p) {
      log.warn("publish not sent: component offline", { ...base(p.user, p.identifier), trigger: p.trigger });
    },
    event(event, actions) {
      if (actions.length === 0 && (event.type === "tick" || event.type === "timer")) return; // once a second: noise
      log.debug("event", { type: event.type, ...eventFields(event), decided: decision(actions) });
    },
  };
}

/** What an event is about, never its content (no stanza, body, sender, node or key). */
function eventFields(event: Event): Record<string, string | number | boolean> {
  switch (event.type) {
    case "enable":
    case "disable":
      return { user: event.req.session.user };
    case "session-started":
      return { user: event.session.user };
    case "offline":
    case "archived":
    case "groupchat-bare":
    case "stanza-queued":
      return { user: event.user, ...(event.copy.important !== undefined ? { important: event.copy.important } : {}) };
    case "hibernation-started":
    case "ack-delayed":
      return { user: event.user, queued: event.queue.length };
    case "offline-pending":
      return { user: event.user, count: event.count };
    case "session-ended":
    case "hibernation-ended":
    case "user-deleted":
    case "user-disabled":
    case "user-enabled":
    case "ping":
    case "admin-delete":
      return { user: event.user };
    case "user-loaded":
      return { user: event.user, registrations: event.registrations.length };
    case "publish-result":
    case "publish-timeout":
      return { publish_id: event.publishId.slice(0, 16) };
    case "publish-error":
      return { publish_id: event.publishId.slice(0, 16), error: `${event.errorType}/${event.condition}` };
    case "store-done":
      return { ok: event.ok };
    case "sessions-snapshot":
      return { sessions: event.sessions.length };
    case "link-restored":
      return { known: event.known.size };
    default:
      return {}; // time, admin queries, shutdown: the type says it all
  }
}

/** The core's decision as the kinds of actions it returned, e.g. `store,reply` or `publish×2,history×2`; `none`. */
function decision(actions: readonly Action[]): string {
  const counts = new Map<string, number>();
  for (const a of actions) {
    if (a.type === "metric") continue;
    const kind =
      a.type === "reply" && a.error ? `reply-error:${a.error.condition}` : a.type === "history" ? `history:${a.outcome}` : a.type;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts.size === 0 ? "none" : [...counts].map(([k, n]) => (n === 1 ? k : `${k}×${n}`)).join(",");
}
