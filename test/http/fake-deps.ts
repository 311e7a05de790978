import { createLogger } from "../../src/log.ts";
import type { AdminDeps, HistoryRow, RegistrationView, RemovalRow } from "../../src/http/deps.ts";

export const TOKEN = "s3cret-admin-token";
export const HOST = "example.com";
export const T0 = Date.UTC(2026, 10, 25, 15, 0, 0);

export const ID_PHONE = "push.example.net<node-1";
export const ID_TABLET = "tigase@push.example.org/res<node/with spaces";

export function registration(identifier: string, extra: Partial<RegistrationView> = {}): RegistrationView {
  const [jid = "", node = ""] = identifier.split("<");
  return {
    identifier,
    jid,
    node,
    createdAt: T0,
    updatedAt: T0 + 1000,
    errorCount: 0,
    lastError: null,
    lastErrorAt: null,
    boundSessions: [],
    ...extra,
  };
}

export interface FakeDeps extends AdminDeps {
  calls: Array<[string, ...unknown[]]>;
  logLines: string[];
  regs: Map<string, RegistrationView[]>;
  historyRows: Array<HistoryRow & { user: string }>;
  removalRows: RemovalRow[];
}

/** An in-memory AdminDeps that records every call. */
export function fakeDeps(overrides: Partial<AdminDeps> = {}): FakeDeps {
  const calls: Array<[string, ...unknown[]]> = [];
  const logLines: string[] = [];
  const regs = new Map<string, RegistrationView[]>([
    [
      "alice@example.com",
      [
        registration(ID_PHONE, { boundSessions: ["sess-1"] }),
        registration(ID_TABLET, { errorCount: 2, lastError: "cancel/item-not-found", lastErrorAt: T0 + 5000 }),
      ],
    ],
  ]);
  const historyRows: Array<HistoryRow & { user: string }> = Array.from({ length: 5 }, (_, i) => ({
    user: "alice@example.com",
    at: T0 + i * 1000,
    identifier: i % 2 === 0 ? ID_PHONE : ID_TABLET,
    publishId: `p${i}`,
    trigger: "offline",
    important: i % 2 === 0,
    outcome: "ok",
    latencyMs: 10 + i,
    error: null,
  }));
  const removalRows: RemovalRow[] = [
    { at: T0, user: "bob@example.com", identifier: "push.example.net<b", reason: "max-errors", detail: "cancel/not-allowed" },
    { at: T0 + 1, user: "alice@example.com", identifier: "push.example.net<old", reason: "evicted", detail: null },
  ];
  const deps: FakeDeps = {
    calls,
    logLines,
    regs,
    historyRows,
    removalRows,
    token: TOKEN,
    host: HOST,
    logger: createLogger({ level: "debug", write: (l) => logLines.push(l), now: () => new Date(T0) }),
    async readiness() {
      calls.push(["readiness"]);
      return { ready: true, checks: { component: { ok: true }, store: { ok: true }, bridge: { ok: true } } };
    },
    metrics() {
      calls.push(["metrics"]);
      return "# HELP x X.\n# TYPE x counter\nx 1\n";
    },
    async listRegistrations(user) {
      calls.push(["listRegistrations", user]);
      return regs.get(user) ?? [];
    },
    async deleteRegistrations(user, identifier) {
      calls.push(["deleteRegistrations", user, identifier]);
      const list = regs.get(user) ?? [];
      const keep = identifier === undefined ? [] : list.filter((r) => r.identifier !== identifier);
      regs.set(user, keep);
      return list.length - keep.length;
    },
    async testPush(user, identifier) {
      calls.push(["testPush", user, identifier]);
      return (regs.get(user) ?? [])
        .filter((r) => identifier === undefined || r.identifier === identifier)
        .map((r) =>
          r.errorCount > 0
            ? { identifier: r.identifier, outcome: "error" as const, error: "cancel/item-not-found", latencyMs: 40 }
            : { identifier: r.identifier, outcome: "ok" as const, latencyMs: 12 },
        );
    },
    async history(q) {
      calls.push(["history", q]);
      return historyRows
        .filter((r) => r.user === q.user && (q.identifier === undefined || r.identifier === q.identifier))
        .reverse()
        .slice(0, q.limit);
    },
    async removals(q) {
      calls.push(["removals", q]);
      return removalRows.filter((r) => q.user === undefined || r.user === q.user).slice(0, q.limit);
    },
    async totals() {
      calls.push(["totals"]);
      return { registrations: 2, pushes: 5 };
    },
    ...overrides,
  };
  return deps;
}

export function auth(token = TOKEN): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}
