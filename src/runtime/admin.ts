/**
 * The admin API's view of the running daemon (implements src/http/deps.ts). It asks the core:
 * what the core holds (sessions, publishes in flight, its table sizes) comes from admin-query
 * answers, and changes go through the core as commands answered by admin-reply actions (a
 * deletion unbinds sessions and is recorded exactly like any other removal; a test push is
 * answered with its publishes' outcomes). Registrations, history and removals come from the store.
 * @module
 */
import type { AdminAnswer, Identifier, InflightPush } from "../core/types.ts";
import type { AdminDeps, HistoryRow, Readiness, TestPushResult } from "../http/deps.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Store } from "../store/types.ts";
import type { Runtime } from "./runtime.ts";
import { buildUserView } from "./user-view.ts";
import { listUsersOnHosts } from "./users-page.ts";

export interface AdminOptions {
  runtime: Runtime;
  store: Store;
  metrics: Metrics;
  logger: Logger;
  token: string | null;
  host: string;
  /** The configured hosts (issue 13); absent = [host]. */
  hosts?: readonly string[];
  publishTimeoutMs: number;
  readiness: () => Promise<Readiness>;
  now?: () => number;
}

type PushOutcome = Extract<AdminAnswer, { kind: "push-outcome" }>;

/** A publish in flight as a history row: "sent", no answer yet. */
function inflightRow(p: InflightPush): HistoryRow & { user: string } {
  return {
    at: p.at,
    user: p.user,
    identifier: p.identifier,
    publishId: p.publishId,
    trigger: p.trigger,
    important: p.important,
    outcome: "sent",
    latencyMs: null,
    error: null,
  };
}

export function createAdminDeps(opts: AdminOptions): AdminDeps {
  const { runtime, store } = opts;
  const now = opts.now ?? Date.now;

  /** The user's pushes, newest first: those in flight (the core's), then the store's (flushed before). */
  async function pushesOf(q: { user: string; identifier?: Identifier; limit: number }): Promise<HistoryRow[]> {
    const query =
      q.identifier === undefined
        ? { kind: "inflight" as const, user: q.user }
        : { kind: "inflight" as const, user: q.user, identifier: q.identifier };
    const inflight = runtime.ask(query).pushes.map(inflightRow);
    return [...inflight, ...(await store.listHistory(q))].slice(0, q.limit);
  }

  return {
    token: opts.token,
    host: opts.host,
    hosts: opts.hosts ?? [opts.host],
    logger: opts.logger,
    readiness: opts.readiness,
    metrics() {
      const m = opts.metrics;
      const memory = process.memoryUsage();
      const totals = runtime.ask({ kind: "totals" });
      m.set("process_resident_memory_bytes", memory.rss);
      m.set("cloud_notifyd_heap_used_bytes", memory.heapUsed);
      m.set("cloud_notifyd_event_backlog", runtime.backlog());
      m.set("cloud_notifyd_pending_publishes", totals.pendingPublishes);
      m.set("cloud_notifyd_cached_users", totals.cachedUsers);
      return m.render();
    },

    async listRegistrations(user) {
      const regs = await store.listByUser(user);
      const { sessions } = runtime.ask({ kind: "user", user });
      return regs.map((r) => ({
        identifier: r.identifier,
        jid: r.jid,
        node: r.node,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        errorCount: r.errorCount,
        lastError: r.lastError,
        lastErrorAt: r.lastErrorAt,
        boundSessions: sessions.filter((s) => s.bound === r.identifier).map((s) => s.sessionId),
      }));
    },

    async deleteRegistrations(user, identifier) {
      let removed = 0;
      const request = runtime.command(
        { type: "admin-delete", now: now(), user, identifiers: identifier === undefined ? null : [identifier] },
        (a) => {
          if (a.kind === "deleted") removed = a.removed;
        },
      );
      try {
        await request.handled;
      } finally {
        request.close();
      }
      return removed;
    },

    async testPush(user, identifier) {
      let publishes: Array<{ publishId: string; identifier: Identifier }> = [];
      const arrived = new Map<string, PushOutcome>();
      const waiting = new Map<string, (o: PushOutcome) => void>();
      const request = runtime.command(
        { type: "ping", now: now(), user, identifiers: identifier === undefined ? null : [identifier] },
        (a) => {
          if (a.kind === "test-push") publishes = a.publishes;
          else if (a.kind === "push-outcome") {
            const resolve = waiting.get(a.publishId);
            if (resolve === undefined) arrived.set(a.publishId, a);
            else resolve(a);
          }
        },
      );
      try {
        await request.handled;
        return await Promise.all(publishes.map((p) => outcomeOf(p.publishId, p.identifier, arrived, waiting)));
      } finally {
        request.close();
      }
    },

    // The store's rows carry every field the API renders (plus ids it ignores).
    async history(q) {
      await runtime.flushHistory();
      return pushesOf(q);
    },
    async removals(q) {
      await runtime.flushHistory();
      return store.listRemovals(q);
    },

    async userView(user, { limit }) {
      await runtime.flushHistory();
      return buildUserView(
        {
          core: () => runtime.ask({ kind: "user", user }),
          store,
          history: (q) => pushesOf(q),
          removals: (q) => store.listRemovals(q),
        },
        user,
        limit,
      );
    },
    listUsers: (q) => listUsersOnHosts(store, opts.hosts ?? [opts.host], q),
    pushTimeline: () => runtime.pushTimeline(),

    async totals() {
      const registrations = await store.countRegistrations();
      const totals = runtime.ask({ kind: "totals" });
      return {
        registrations,
        cachedUsers: totals.cachedUsers,
        pendingPublishes: totals.pendingPublishes,
        backlog: runtime.backlog(),
      };
    },
  };

  /** Waits for the first outcome of one publish (ok, error or timeout, D11); the API's own deadline answers a timeout. */
  function outcomeOf(
    publishId: string,
    identifier: Identifier,
    arrived: Map<string, PushOutcome>,
    waiting: Map<string, (o: PushOutcome) => void>,
  ): Promise<TestPushResult> {
    return new Promise((resolve) => {
      const fallback = setTimeout(() => finish({ identifier, outcome: "timeout" }), opts.publishTimeoutMs + 5000);
      function finish(r: TestPushResult): void {
        clearTimeout(fallback);
        waiting.delete(publishId);
        resolve(r);
      }
      function answered(a: PushOutcome): void {
        // D19: a transient failure is reported as it came (the retry goes on in the background).
        const failed = a.outcome === "error" || a.outcome === "retry-scheduled" || a.outcome === "superseded";
        if (a.outcome === "ok") finish({ identifier, outcome: "ok", latencyMs: a.latencyMs ?? undefined });
        else if (a.outcome === "timeout" || (failed && a.error === "timeout")) finish({ identifier, outcome: "timeout" });
        else if (failed) finish({ identifier, outcome: "error", error: a.error ?? undefined, latencyMs: a.latencyMs ?? undefined });
      }
      const early = arrived.get(publishId);
      if (early !== undefined) answered(early);
      else waiting.set(publishId, answered);
    });
  }
}
