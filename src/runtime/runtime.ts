/**
 * The imperative shell around the pure core: one serial queue of events → `step()` → actions,
 * each action carried out against the store, the component stream, timers, metrics and logs.
 *
 * Ordering: events are handled one at a time, in arrival order. A user's registrations are
 * loaded from the store before that user's first event (the core keeps a bounded cache), and a
 * store write the core waits for (D4) is awaited before the next event runs, so a reply is never
 * sent before the registration is on disk.
 * @module
 */
import type { Element } from "ltx";

import { isLoaded } from "../core/state.ts";
import { step } from "../core/step.ts";
import type { CoreState } from "../core/state.ts";
import type { Action, Event, Publish } from "../core/types.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { HistoryRow, Store } from "../store/types.ts";
import { renderHibernationTimeout, renderPublishIq, renderResponse } from "../xmpp/render.ts";
import { publishAsHostText } from "../xmpp/render-text.ts";
import { createHistoryBuffer, type HistoryBuffer } from "./history-buffer.ts";
import { createTimers, type Timers } from "./timers.ts";
import { userOf } from "./user-of.ts";

export interface RuntimeOptions {
  state: CoreState;
  store: Store;
  log: Logger;
  metrics: Metrics;
  /** Sends a stanza (an element, or one already rendered as text) on the component stream; false when it could not be queued. */
  send: (el: Element | string) => boolean;
  host: string;
  componentDomain: string;
  publishFrom: "host" | "component";
  now?: () => number;
}

export type ActionListener = (action: Action) => void;

export interface Runtime {
  /** Queues an event; the promise settles once it (and the events before it) are handled. */
  dispatch(event: Event): Promise<void>;
  /** Observe every action the core returns (admin test pushes, tests). Returns an unsubscribe. */
  onAction(fn: ActionListener): () => void;
  readonly state: CoreState;
  /** Handles queued events, flushes history, cancels timers. */
  stop(): Promise<void>;
  /** Events queued and not yet handled. */
  backlog(): number;
  /** Writes buffered history and removal records now (the admin API reads the store). */
  flushHistory(): Promise<void>;
  /** History rows of pushes sent and not yet answered (kept in memory until their outcome). */
  inflightHistory(user: string, identifier?: string): HistoryRow[];
}

interface Job {
  event: Event;
  done: () => void;
}

export function createRuntime(opts: RuntimeOptions): Runtime {
  const { state, store, log, metrics, send } = opts;
  const now = opts.now ?? Date.now;
  const listeners = new Set<ActionListener>();
  const jobs: Job[] = [];
  let head = 0;
  let draining: Promise<void> | null = null;
  let stopped = false;
  let commandCounter = 0;
  const history: HistoryBuffer = createHistoryBuffer({ store, log, metrics });
  const timers: Timers = createTimers((key) => void dispatch({ type: "timer", now: now(), key }));
  const bridgeCtx = { host: opts.host, componentDomain: opts.componentDomain };

  function dispatch(event: Event): Promise<void> {
    return new Promise<void>((done) => {
      jobs.push({ event, done });
      if (draining === null) draining = drain();
    });
  }

  async function drain(): Promise<void> {
    try {
      while (head < jobs.length) {
        const job = jobs[head++]!;
        try {
          await handle(job.event);
        } catch (err) {
          log.error("event failed", { event: job.event.type, error: errorText(err) });
        }
        job.done();
        if (head > 1024 && head * 2 > jobs.length) {
          jobs.splice(0, head);
          head = 0;
        }
      }
      jobs.length = 0;
      head = 0;
    } finally {
      draining = null;
    }
  }

  async function handle(event: Event): Promise<void> {
    const user = userOf(event);
    if (user !== null && !isLoaded(state, user)) {
      let registrations;
      try {
        registrations = await store.listByUser(user);
      } catch (err) {
        metrics.inc("cloud_notifyd_store_errors_total", { op: "load" });
        log.error("store load failed", { user, error: errorText(err) });
        registrations = null;
      }
      if (registrations !== null) await run({ type: "user-loaded", now: now(), user, registrations });
    }
    await run(event);
  }

  async function run(event: Event): Promise<void> {
    const { actions } = step(state, event);
    for (const action of actions) await execute(action);
  }

  async function execute(action: Action): Promise<void> {
    for (const fn of listeners) fn(action);
    switch (action.type) {
      case "reply":
        send(renderResponse(action, bridgeCtx));
        return;
      case "publish":
        sendPublish(action.publish);
        return;
      case "store":
        return persist(action);
      case "hibernation-timeout":
        send(renderHibernationTimeout(action, { ...bridgeCtx, iqId: `ht-${++commandCounter}` }));
        return;
      case "schedule":
        timers.schedule(action.key, Math.max(0, action.at - now()));
        return;
      case "cancel-timer":
        timers.cancel(action.key);
        return;
      case "history":
        history.add(action);
        countPush(action);
        return;
      case "removed":
        metrics.inc("cloud_notifyd_removals_total", { reason: action.reason });
        log.info("registration removed", { user: action.user, identifier: action.identifier, reason: action.reason, detail: action.detail ?? null });
        history.addRemoval(action);
        return;
      case "metric":
        // The core's own counters; the product metrics are derived from history records.
        metrics.inc(`cloud_notifyd_core_${action.name}`, action.labels, action.value);
        return;
      case "log":
        log[action.level](action.msg, action.fields);
        return;
      default:
        return assertNever(action);
    }
  }

  function countPush(h: Extract<Action, { type: "history" }>): void {
    metrics.inc("cloud_notifyd_pushes_total", { trigger: h.trigger ?? "none", outcome: h.outcome });
    if (h.latencyMs !== undefined) metrics.observe("cloud_notifyd_publish_latency_seconds", h.latencyMs / 1000);
    if (h.outcome === "error" && h.error) {
      const cut = h.error.indexOf("/");
      metrics.inc("cloud_notifyd_publish_errors_total", { type: h.error.slice(0, cut), condition: h.error.slice(cut + 1) });
    }
  }

  function sendPublish(p: Publish): void {
    const el =
      opts.publishFrom === "host"
        ? publishAsHostText(p, { ...bridgeCtx, iqId: `ph-${p.id}` })
        : renderPublishIq(p, opts.componentDomain);
    if (!send(el)) {
      // Not connected: the publish times out at its deadline and is recorded as such (D11).
      log.warn("publish not sent: component offline", { user: p.user, identifier: p.identifier, id: p.id });
    }
  }

  async function persist(action: Extract<Action, { type: "store" }>): Promise<void> {
    let ok = true;
    let error: string | undefined;
    for (const op of action.ops) if (op.op === "delete-user") history.forgetUser(op.user);
    try {
      await store.apply(action.ops);
    } catch (err) {
      ok = false;
      error = errorText(err);
      metrics.inc("cloud_notifyd_store_errors_total", { op: action.ops[0]?.op ?? "none" });
      log.error("store write failed", { ops: action.ops.length, error });
    }
    if (action.opId !== undefined) await run({ type: "store-done", now: now(), opId: action.opId, ok, error });
  }

  return {
    dispatch,
    onAction(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    state,
    backlog: () => jobs.length - head,
    flushHistory: () => history.flush(),
    inflightHistory: (user, identifier) => history.inflight(user, identifier),
    async stop() {
      if (stopped) return;
      stopped = true;
      while (draining !== null) await draining;
      timers.cancelAll();
      history.stop();
      await history.flush();
    },
  };
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function assertNever(x: never): never {
  throw new Error(`Cannot execute action: unknown ${JSON.stringify(x)}`);
}
