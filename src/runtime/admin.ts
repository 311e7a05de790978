/**
 * The admin API's view of the running daemon (implements src/http/deps.ts): reads come from the
 * store and the core's session table; changes go through the core as events, so a deletion
 * unbinds sessions and is recorded exactly like any other removal.
 * @module
 */
import type { Action, Identifier } from "../core/types.ts";
import type { AdminDeps, Readiness, TestPushResult } from "../http/deps.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Store } from "../store/types.ts";
import type { Runtime } from "./runtime.ts";

export interface AdminOptions {
  runtime: Runtime;
  store: Store;
  metrics: Metrics;
  logger: Logger;
  token: string | null;
  host: string;
  publishTimeoutMs: number;
  readiness: () => Promise<Readiness>;
  now?: () => number;
}

export function createAdminDeps(opts: AdminOptions): AdminDeps {
  const { runtime, store } = opts;
  const now = opts.now ?? Date.now;

  /** Runs an event and returns every action the core produced while it was handled. */
  async function collect(run: () => Promise<void>): Promise<Action[]> {
    const seen: Action[] = [];
    const off = runtime.onAction((a) => seen.push(a));
    try {
      await run();
    } finally {
      off();
    }
    return seen;
  }

  return {
    token: opts.token,
    host: opts.host,
    logger: opts.logger,
    readiness: opts.readiness,
    metrics() {
      const m = opts.metrics;
      const memory = process.memoryUsage();
      m.set("process_resident_memory_bytes", memory.rss);
      m.set("cloud_notifyd_heap_used_bytes", memory.heapUsed);
      m.set("cloud_notifyd_event_backlog", runtime.backlog());
      m.set("cloud_notifyd_pending_publishes", runtime.state.pending.size);
      m.set("cloud_notifyd_cached_users", runtime.state.users.size);
      return m.render();
    },

    async listRegistrations(user) {
      const regs = await store.listByUser(user);
      const sessions = [...(runtime.state.users.get(user)?.sessions.values() ?? [])];
      return regs.map((r) => ({
        identifier: r.identifier,
        jid: r.jid,
        node: r.node,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        errorCount: r.errorCount,
        lastError: r.lastError,
        lastErrorAt: r.lastErrorAt,
        boundSessions: sessions.filter((s) => s.bound === r.identifier).map((s) => s.ref.sessionId),
      }));
    },

    async deleteRegistrations(user, identifier) {
      const actions = await collect(() =>
        runtime.dispatch({ type: "admin-delete", now: now(), user, identifiers: identifier === undefined ? null : [identifier] }),
      );
      return actions.filter((a) => a.type === "removed" && a.user === user && a.reason === "admin").length;
    },

    async testPush(user, identifier) {
      const actions = await collect(() =>
        runtime.dispatch({ type: "ping", now: now(), user, identifiers: identifier === undefined ? null : [identifier] }),
      );
      const publishes = actions.flatMap((a) => (a.type === "publish" && a.publish.user === user && a.publish.trigger === "ping" ? [a.publish] : []));
      return Promise.all(publishes.map((p) => outcomeOf(p.id, p.identifier)));
    },

    // The store's rows carry every field the API renders (plus ids it ignores).
    async history(q) {
      await runtime.flushHistory();
      const inflight = runtime.inflightHistory(q.user, q.identifier).map((r) => ({ ...r, latencyMs: null, error: null }));
      return [...inflight, ...(await store.listHistory(q))].slice(0, q.limit);
    },
    async removals(q) {
      await runtime.flushHistory();
      return store.listRemovals(q);
    },

    async totals() {
      const state = runtime.state;
      return {
        registrations: await store.countRegistrations(),
        cachedUsers: state.users.size,
        pendingPublishes: state.pending.size,
        backlog: runtime.backlog(),
      };
    },
  };

  /** Waits for the final history record of one publish (ok, error or timeout, D11). */
  function outcomeOf(publishId: string, identifier: Identifier): Promise<TestPushResult> {
    return new Promise((resolve) => {
      const fallback = setTimeout(() => finish({ identifier, outcome: "timeout" }), opts.publishTimeoutMs + 5000);
      const off = runtime.onAction((a) => {
        if (a.type !== "history" || a.publishId !== publishId) return;
        if (a.outcome === "ok") finish({ identifier, outcome: "ok", latencyMs: a.latencyMs });
        else if (a.outcome === "error") finish({ identifier, outcome: "error", error: a.error ?? undefined, latencyMs: a.latencyMs });
        else if (a.outcome === "timeout") finish({ identifier, outcome: "timeout" });
      });
      function finish(r: TestPushResult): void {
        clearTimeout(fallback);
        off();
        resolve(r);
      }
    });
  }
}

