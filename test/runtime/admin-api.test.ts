/**
 * Every admin endpoint against the real pieces: a SQLite store through the real migrations,
 * the real core and runtime, the real Hono app. Only the component stream is replaced by an
 * array that collects what the daemon would send (app service replies are dispatched back).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Element, parse } from "ltx";

import { type CoreState, DEFAULT_CORE_CONFIG, initState } from "../../src/core/state.ts";
import type { Event } from "../../src/core/types.ts";
import { createAdminApp } from "../../src/http/app.ts";
import { createNullLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics.ts";
import { createAdminDeps } from "../../src/runtime/admin.ts";
import { createRuntime, type Runtime } from "../../src/runtime/runtime.ts";
import { openStore } from "../../src/store/db.ts";
import type { Store } from "../../src/store/types.ts";

const HOST = "example.com";
const APP = "push.app.example";
const TOKEN = "test-token";
const auth = { Authorization: `Bearer ${TOKEN}` };
/** Issue 13: inside the daemon a user is its bare JID. */
const ALICE = `alice@${HOST}`;

let dir: string;
let store: Store;
let runtime: Runtime;
let state: CoreState;
let app: ReturnType<typeof createAdminApp>;
const sent: Element[] = [];
const metrics = createMetrics();

function enableEvent(user: string, node: string, sessionId = "s1"): Event {
  const element = parse(`<enable xmlns="urn:xmpp:push:0" jid="${APP}" node="${node}"/>`) as Element;
  return {
    type: "enable",
    now: Date.now(),
    req: { requestId: `r-${user}-${node}`, session: { user, sessionId, fullJid: `${user}/phone`, clientId: null }, lang: null },
    element,
  };
}

/** The publish IQs the daemon sent, unwrapped from publish-as-host. */
function publishes(): Element[] {
  return sent.flatMap((el) => {
    const inner = el.getChild("publish-as-host", "urn:cloud-notifyd:bridge:1")?.getChild("iq");
    return inner ? [inner] : [];
  });
}

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return app.request(`http://localhost/api/v1${path}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cnd-admin-"));
  store = await openStore(`file:${join(dir, "t.db")}`, { hosts: [HOST] });
  // The reference's error policy (D19 retries and D20 removal at once off): errors here count (B41).
  state = initState(
    { ...DEFAULT_CORE_CONFIG, host: HOST, publishTimeoutMs: 2000, pushRetryDelaysMs: [], pushRemoveConditions: [] },
    { idSeed: "ab".repeat(32) },
  );
  runtime = createRuntime({
    state,
    store,
    log: createNullLogger(),
    metrics,
    send: (el) => (sent.push(typeof el === "string" ? (parse(el) as Element) : el), true),
    host: HOST,
    componentDomain: "push.example.com",
    publishFrom: "host",
  });
  app = createAdminApp(
    createAdminDeps({
      runtime,
      store,
      metrics,
      logger: createNullLogger(),
      token: TOKEN,
      host: HOST,
      publishTimeoutMs: 2000,
      readiness: async () => ({ ready: true, checks: {} }),
    }),
  );
  await runtime.dispatch({
    type: "session-started",
    now: Date.now(),
    session: { user: ALICE, sessionId: "s1", fullJid: `${ALICE}/phone`, clientId: null },
  });
  await runtime.dispatch(enableEvent(ALICE, "n1"));
  await runtime.dispatch(enableEvent(ALICE, "n2", "s2"));
});

afterAll(async () => {
  await runtime.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("admin API against a real store and runtime", () => {
  test("D4 an enable is answered only after it is in the store, and the API lists it with its bound session", async () => {
    const replies = sent.filter((el) => el.getChild("response", "urn:cloud-notifyd:bridge:1"));
    expect(replies).toHaveLength(2);
    expect((await store.listByUser(ALICE)).map((r) => r.identifier).sort()).toEqual([`${APP}<n1`, `${APP}<n2`]);
    const res = await api("/users/alice/registrations");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { registrations: Array<{ identifier: string; boundSessions: string[]; errorCount: number }> };
    const n1 = body.registrations.find((r) => r.identifier === `${APP}<n1`);
    expect(n1?.boundSessions).toEqual(["s1"]);
    expect(n1?.errorCount).toBe(0);
  });

  test("B39 test push: publishes to one registration and returns the app service's answer", async () => {
    const before = publishes().length;
    const pending = api("/users/alice/test-push", { method: "POST", body: JSON.stringify({ identifier: `${APP}<n1` }) });
    // answer the publish as the app service would, through the runtime
    let iq: Element | undefined;
    for (let i = 0; i < 100 && iq === undefined; i++) {
      iq = publishes()[before];
      if (iq === undefined) await Bun.sleep(5);
    }
    expect(iq?.attrs.to).toBe(APP);
    await runtime.dispatch({ type: "publish-result", now: Date.now(), publishId: iq!.attrs.id, from: APP });
    const res = await pending;
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: Array<{ identifier: string; outcome: string }> };
    expect(body.results).toEqual([expect.objectContaining({ identifier: `${APP}<n1`, outcome: "ok" })]);
  });

  test("B41 an error answer to a test push is reported with its condition and counted", async () => {
    const before = publishes().length;
    const pending = api("/users/alice/test-push", { method: "POST", body: JSON.stringify({ identifier: `${APP}<n2` }) });
    let iq: Element | undefined;
    for (let i = 0; i < 100 && iq === undefined; i++) {
      iq = publishes()[before];
      if (iq === undefined) await Bun.sleep(5);
    }
    // while unanswered, the push is listed from memory as "sent"
    const inflight = (await (await api("/users/alice/history?limit=1")).json()) as {
      history: Array<{ outcome: string; publishId: string }>;
    };
    expect(inflight.history[0]).toMatchObject({ outcome: "sent", publishId: iq!.attrs.id });
    await runtime.dispatch({
      type: "publish-error",
      now: Date.now(),
      publishId: iq!.attrs.id,
      from: APP,
      errorType: "cancel",
      condition: "item-not-found",
    });
    const body = (await (await pending).json()) as { results: Array<{ outcome: string; error: string }> };
    expect(body.results[0]).toMatchObject({ outcome: "error", error: "cancel/item-not-found" });
    const regs = (await (await api("/users/alice/registrations")).json()) as {
      registrations: Array<{ identifier: string; errorCount: number; lastError: string }>;
    };
    expect(regs.registrations.find((r) => r.identifier === `${APP}<n2`)).toMatchObject({
      errorCount: 1,
      lastError: "cancel/item-not-found",
    });
  });

  test("history lists the pushes with trigger, outcome and latency, newest first, and never a body", async () => {
    const res = await api("/users/alice/history?limit=10");
    expect(res.status).toBe(200);
    const text = await res.text();
    const body = JSON.parse(text) as { history: Array<{ trigger: string; outcome: string; latencyMs: number | null }> };
    // one row per push, written with its outcome
    expect(body.history.map((h) => h.outcome)).toEqual(["error", "ok"]);
    expect(body.history.every((h) => h.trigger === "ping")).toBe(true);
    expect(body.history[1]?.latencyMs).toBeGreaterThanOrEqual(0);
    const stored = await store.listHistory({ user: ALICE, limit: 10 });
    expect(stored.map((h) => h.outcome)).toEqual(["error", "ok"]);
    expect(text).not.toContain("body");
  });

  test("deleting one registration unbinds it and shows up in removals with reason admin", async () => {
    const res = await api(`/users/alice/registrations/${encodeURIComponent(`${APP}<n1`)}`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { removed: number }).removed).toBe(1);
    expect((await store.listByUser(ALICE)).map((r) => r.identifier)).toEqual([`${APP}<n2`]);
    expect(state.users.get(ALICE)?.sessions.get("s1")?.bound).toBeNull();
    const removals = (await (await api("/removals?user=alice")).json()) as { removals: Array<{ identifier: string; reason: string }> };
    expect(removals.removals[0]).toMatchObject({ identifier: `${APP}<n1`, reason: "admin" });
  });

  test("totals and metrics reflect what happened", async () => {
    const totals = (await (await api("/totals")).json()) as { totals: Record<string, number> };
    expect(totals.totals.registrations).toBe(1);
    const text = await (await app.request("http://localhost/metrics")).text();
    expect(text).toMatch(/cloud_notifyd_pushes_total\{trigger="ping",outcome="ok"\} 1/);
    expect(text).toMatch(/cloud_notifyd_publish_errors_total\{type="cancel",condition="item-not-found"\} 1/);
    expect(text).toMatch(/cloud_notifyd_removals_total\{reason="admin"\} 1/);
  });

  test("deleting all, then the user is unknown: 404 JSON, never a 500", async () => {
    expect((await api("/users/alice/registrations", { method: "DELETE" })).status).toBe(200);
    const res = await api("/users/alice/registrations");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toBeString();
    expect((await api("/users/nobody@other.host/registrations")).status).toBe(400);
    expect((await app.request("http://localhost/api/v1/totals")).status).toBe(401);
  });
});
