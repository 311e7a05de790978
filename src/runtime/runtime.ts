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

import { assertNever } from "../assert-never.ts";
import { isLoaded } from "../core/state.ts";
import { step } from "../core/step.ts";
import type { CoreState } from "../core/state.ts";
import type { Action, AdminAnswer, AdminQuery, Event, Publish } from "../core/types.ts";
import type { PushTimeline } from "../http/deps.ts";
import type { Logger } from "../log.ts";
import { CORE_HISTOGRAMS, CORE_METRICS, type Metrics } from "../metrics.ts";
import type { Store } from "../store/types.ts";
import { hostOf, localOf } from "../core/host-config.ts";
import { requestRoute } from "../xmpp/parse-bridge.ts";
import { renderHibernationTimeout, renderPublishIq, renderResponse } from "../xmpp/render.ts";
import { publishAsHostText } from "../xmpp/render-text.ts";
import { createHistoryBuffer, type HistoryBuffer } from "./history-buffer.ts";
import { createPushLog } from "./push-log.ts";
import { createPushTimeline } from "./push-timeline.ts";
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
  /** The pending acknowledgement for a host's bridge, carried by its next publish-as-host (bridge-peer.ts takeAck). */
  takeAck?: (host: string) => string;
  now?: () => number;
}

/** An admin command: the runtime sets its `adminRequestId`. */
export type AdminCommand =
  | Omit<Extract<Event, { type: "admin-delete" }>, "adminRequestId">
  | Omit<Extract<Event, { type: "ping" }>, "adminRequestId" | "requestId">;

export interface AdminRequest {
  /** Settles once the command (and the events queued before it) are handled. */
  handled: Promise<void>;
  /** Stops delivering answers (call once no more are wanted). */
  close(): void;
}

export interface Runtime {
  /** Queues an event; the promise settles once it (and the events before it) are handled. */
  dispatch(event: Event): Promise<void>;
  /** Same as dispatch, for the hot path: calls `done` (if given) once handled, no promise made. */
  post(event: Event, done?: () => void): void;
  /** Calls `done` once every event queued before this call is handled. */
  barrier(done: () => void): void;
  /**
   * Asks the core a question (admin-query) and returns its answer. A question changes nothing,
   * so it is stepped at once rather than behind the queued events (the admin API and /metrics
   * answer while the queue waits for the store).
   */
  ask<K extends AdminQuery["kind"]>(query: Extract<AdminQuery, { kind: K }>): Extract<AdminAnswer, { kind: K }>;
  /** Queues an admin command; `onAnswer` gets every admin-reply the core addresses to it until `close()`. */
  command(event: AdminCommand, onAnswer: (answer: AdminAnswer) => void): AdminRequest;
  /**
   * The daemon stops: publishes in flight get `graceMs` to be answered (the stream must stay
   * open); settles once none is in flight, those left recorded as never answered.
   */
  shutdown(graceMs: number): Promise<void>;
  /** The last hour's final push outcomes (the admin page's chart), from the history records. */
  pushTimeline(): PushTimeline;
  /** Handles queued events, settles what is in flight (shutdown 0), flushes history, cancels timers. */
  stop(): Promise<void>;
  /** Events queued and not yet handled. */
  backlog(): number;
  /** Writes buffered history and removal records now (the admin API reads the store). */
  flushHistory(): Promise<void>;
}

interface Job {
  /** null: a barrier, only `done` runs. */
  event: Event | null;
  done: (() => void) | undefined;
}

export function createRuntime(opts: RuntimeOptions): Runtime {
  const { state, store, log, metrics, send } = opts;
  const now = opts.now ?? Date.now;
  /** Admin requests waiting for answers (admin-reply), by request id. */
  const answers = new Map<string, (answer: AdminAnswer) => void>();
  let adminCounter = 0;
  let settledWaiters: (() => void)[] = [];
  const timeline = createPushTimeline();
  const jobs: Job[] = [];
  let head = 0;
  /** A drain loop is running, or waiting for the store on behalf of the job at `head - 1`. */
  let draining = false;
  let idleWaiters: (() => void)[] = [];
  let stopped = false;
  let commandCounter = 0;
  const history: HistoryBuffer = createHistoryBuffer({ store, log, metrics });
  const timers: Timers = createTimers((key) => post({ type: "timer", now: now(), key }));
  const bridgeCtx = { host: opts.host, componentDomain: opts.componentDomain };
  const pushLog = createPushLog({ log, host: opts.host });

  function post(event: Event, done?: () => void): void {
    jobs.push({ event, done });
    if (!draining) drain();
  }

  function dispatch(event: Event): Promise<void> {
    return new Promise<void>((done) => post(event, done));
  }

  /**
   * Handles queued jobs in order. Most events need no I/O and are handled synchronously, with
   * no promise or microtask per event (that was a visible share of CPU under load); only a
   * job that waits for the store (a user's first event, a registration write) suspends the
   * loop, which resumes when that job is done.
   */
  function drain(): void {
    draining = true;
    while (head < jobs.length) {
      const job = jobs[head++]!;
      const event = job.event;
      if (event === null) {
        finish(job);
        continue;
      }
      let pending: Promise<void> | undefined;
      try {
        pending = handle(event);
      } catch (err) {
        eventFailed(event, err);
      }
      if (pending !== undefined) {
        pending
          .then(undefined, (err: unknown) => eventFailed(event, err))
          .then(() => {
            finish(job);
            drain();
          });
        return;
      }
      finish(job);
    }
    jobs.length = 0;
    head = 0;
    draining = false;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  function finish(job: Job): void {
    try {
      job.done?.(); // runs inside the loop: a throwing callback must not stop the queue
    } catch (err) {
      log.error("event callback failed", { event: job.event?.type ?? "barrier", error: errorText(err) });
    }
    if (head > 1024 && head * 2 > jobs.length) {
      jobs.splice(0, head);
      head = 0;
    }
  }

  function eventFailed(event: Event, err: unknown): void {
    log.error("event failed", { event: event.type, error: errorText(err) });
  }

  function shutdown(graceMs: number): Promise<void> {
    const settled = new Promise<void>((resolve) => settledWaiters.push(resolve));
    post({ type: "shutdown", now: now(), graceMs });
    return settled;
  }

  /** Resolves once no job is queued or running. */
  function idle(): Promise<void> {
    return draining ? new Promise<void>((resolve) => idleWaiters.push(resolve)) : Promise.resolve();
  }

  /** Handles one event: undefined when done synchronously, else a promise of its end. */
  function handle(event: Event): Promise<void> | undefined {
    if (event.type === "offline-pending" && event.lastPushAt === null) return withLastPush(event);
    const user = userOf(event);
    if (user !== null && !isLoaded(state, user)) return loadThenRun(user, event);
    return run(event);
  }

  /** D21: the core compares the newest offline message with the user's last push, from the history. */
  async function withLastPush(event: Extract<Event, { type: "offline-pending" }>): Promise<void> {
    let lastPushAt: number | null = null;
    try {
      // Only this user's rows matter: a 100k-user recovery must not write the buffer once per user.
      if (history.holds(event.user)) await history.flush();
      const rows = await store.listHistory({ user: event.user, limit: 20 });
      lastPushAt = rows.find((r) => r.outcome === "sent" || r.outcome === "ok" || r.outcome === "retried")?.at ?? null;
    } catch (err) {
      log.warn("cannot read push history: pushing the recovered offline messages anyway", { user: event.user, error: errorText(err) });
    }
    await handle({ ...event, lastPushAt: lastPushAt ?? Number.NEGATIVE_INFINITY });
  }

  async function loadThenRun(user: string, event: Event): Promise<void> {
    let registrations: Awaited<ReturnType<Store["listByUser"]>> | null;
    try {
      registrations = await store.listByUser(user);
    } catch (err) {
      metrics.inc("cloud_notifyd_store_errors_total", { op: "load" });
      log.error("store load failed", { user, error: errorText(err) });
      registrations = null;
    }
    if (registrations !== null) await run({ type: "user-loaded", now: now(), user, registrations });
    await run(event);
  }

  /** Steps the core and carries out its actions in order; a promise only if one of them waits. */
  function run(event: Event): Promise<void> | undefined {
    const { actions } = step(state, event);
    if (pushLog.debugOn()) pushLog.event(event, actions);
    for (let i = 0; i < actions.length; i++) {
      const pending = execute(actions[i]!);
      if (pending !== undefined) return finishActions(pending, actions, i + 1);
    }
    return undefined;
  }

  async function finishActions(pending: Promise<void>, actions: Action[], from: number): Promise<void> {
    await pending;
    for (let i = from; i < actions.length; i++) await execute(actions[i]!);
  }

  function execute(action: Action): Promise<void> | undefined {
    switch (action.type) {
      case "reply": {
        // The request id says which host's bridge asked (parse-bridge.ts requestIdOf).
        const route = requestRoute(action.requestId);
        send(renderResponse({ ...action, requestId: route.iqId }, { ...bridgeCtx, host: route.host ?? opts.host }));
        return;
      }
      case "publish":
        sendPublish(action.publish);
        if (pushLog.debugOn()) pushLog.published(action.publish);
        return;
      case "store":
        return persist(action);
      case "hibernation-timeout":
        send(
          renderHibernationTimeout(
            { ...action, user: localOf(action.user) },
            { ...bridgeCtx, host: hostOf(action.user) || opts.host, iqId: `ht-${++commandCounter}` },
          ),
        );
        return;
      case "schedule":
        timers.schedule(action.key, Math.max(0, action.at - now()));
        return;
      case "cancel-timer":
        timers.cancel(action.key);
        return;
      case "history":
        history.add(action);
        timeline.record(action);
        pushLog.outcome(action);
        return;
      case "removed":
        pushLog.removed(action);
        history.addRemoval(action);
        return;
      case "metric":
        // Every push and removal is counted here, from the core's counters (metrics.ts maps the names).
        if (CORE_HISTOGRAMS.has(action.name)) metrics.observe(CORE_METRICS[action.name], action.labels, action.value ?? 0);
        else metrics.inc(CORE_METRICS[action.name], action.labels, action.value);
        return;
      case "admin-reply":
        answers.get(action.requestId)?.(action.answer);
        return;
      case "settled": {
        const waiters = settledWaiters;
        settledWaiters = [];
        for (const resolve of waiters) resolve();
        return;
      }
      case "log":
        log[action.level](action.msg, action.fields);
        return;
      default:
        return assertNever(action, "execute action");
    }
  }

  function sendPublish(p: Publish): void {
    const host = hostOf(p.user) || opts.host;
    const el =
      opts.publishFrom === "host"
        ? publishAsHostText(p, { ...bridgeCtx, host, commandId: `ph-${p.id}`, ack: opts.takeAck?.(host) })
        : renderPublishIq(p, opts.componentDomain);
    if (!send(el)) {
      // Not connected: the publish times out at its deadline and is recorded as such (D11).
      pushLog.notSent(p);
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
    if (ok) pushLog.stored(action.ops);
    if (action.opId !== undefined) await run({ type: "store-done", now: now(), opId: action.opId, ok, error });
  }

  return {
    dispatch,
    post,
    barrier(done) {
      jobs.push({ event: null, done });
      if (!draining) drain();
    },
    ask<K extends AdminQuery["kind"]>(query: Extract<AdminQuery, { kind: K }>): Extract<AdminAnswer, { kind: K }> {
      const requestId = `admin-${++adminCounter}`;
      let answer: AdminAnswer | undefined;
      answers.set(requestId, (a) => void (answer = a));
      try {
        void run({ type: "admin-query", now: now(), requestId, query }); // answered synchronously
      } finally {
        answers.delete(requestId);
      }
      if (answer?.kind !== query.kind) throw new Error(`Cannot answer admin query ${query.kind}: the core gave no answer`);
      return answer as Extract<AdminAnswer, { kind: K }>;
    },
    command(event, onAnswer) {
      const adminRequestId = `admin-${++adminCounter}`;
      answers.set(adminRequestId, onAnswer);
      return { handled: dispatch({ ...event, adminRequestId }), close: () => void answers.delete(adminRequestId) };
    },
    shutdown,
    pushTimeline: () => timeline.snapshot(now()),
    backlog: () => jobs.length - head,
    flushHistory: () => history.flush(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await shutdown(0); // what is still in flight is recorded as never answered
      await idle();
      timers.cancelAll();
      history.stop();
      await history.flush();
    },
  };
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
