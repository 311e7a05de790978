/**
 * Issue 15 items 2 and 3 against the real pieces (SQLite store, core, runtime, Hono app): the
 * per-user JSON view, the paged user list, `cloud-notifyd user` (its fetch goes to the app), and
 * the admin page's login/logout and what it shows — without a browser (the e2e test has one).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Element, parse } from "ltx";

import { userCommand } from "../../src/cli/user.ts";
import { loadConfig } from "../../src/config.ts";
import { DEFAULT_CORE_CONFIG, initState } from "../../src/core/state.ts";
import type { Event } from "../../src/core/types.ts";
import { createAdminApp } from "../../src/http/app.ts";
import { shortNode } from "../../src/http/short-node.ts";
import { createNullLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics.ts";
import { createAdminDeps } from "../../src/runtime/admin.ts";
import { createRuntime, type Runtime } from "../../src/runtime/runtime.ts";
import { openStore } from "../../src/store/db.ts";
import type { Store } from "../../src/store/types.ts";

const HOST = "example.com";
const APP = "push.app.example";
const TOKEN = "user-view-admin-token-0123456789";
const NODE = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const FORM_SECRET = "publish-options-secret-value-42";
const auth = { Authorization: `Bearer ${TOKEN}` };

let dir: string;
let store: Store;
let runtime: Runtime;
let app: ReturnType<typeof createAdminApp>;
const sent: Element[] = [];

function enable(user: string, node: string, sessionId: string, form = ""): Event {
  const element = parse(`<enable xmlns="urn:xmpp:push:0" jid="${APP}" node="${node}">${form}</enable>`) as Element;
  return {
    type: "enable",
    now: Date.now(),
    req: { requestId: `r-${user}-${node}`, session: { user, sessionId, fullJid: `${user}/phone`, clientId: "client-uuid-1" }, lang: null },
    element,
  };
}

const FORM =
  "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>" +
  `<field var='secret'><value>${FORM_SECRET}</value></field></x>`;

function lastPublish(): Element | undefined {
  const all = sent.flatMap((el) => {
    const inner = el.getChild("publish-as-host", "urn:cloud-notifyd:bridge:1")?.getChild("iq");
    return inner ? [inner] : [];
  });
  return all[all.length - 1];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cnd-userview-"));
  store = await openStore(`file:${join(dir, "t.db")}`, { hosts: [HOST] });
  const state = initState(
    { ...DEFAULT_CORE_CONFIG, host: HOST, publishTimeoutMs: 2000, pushRetryDelaysMs: [], pushRemoveConditions: [] },
    { idSeed: "cd".repeat(32) },
  );
  runtime = createRuntime({
    state,
    store,
    log: createNullLogger(),
    metrics: createMetrics(),
    send: (el) => (sent.push(typeof el === "string" ? (parse(el) as Element) : el), true),
    host: HOST,
    componentDomain: "push.example.com",
    publishFrom: "host",
  });
  const metrics = createMetrics();
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
  const t = Date.now();
  // Issue 13: inside the daemon a user is its bare JID.
  const alice = `alice@${HOST}`;
  await runtime.dispatch({
    type: "session-started",
    now: t,
    session: { user: alice, sessionId: "s1", fullJid: `${alice}/phone`, clientId: "client-uuid-1" },
  });
  await runtime.dispatch(enable(alice, NODE, "s1", FORM));
  for (const u of ["bob", "bobby", "carol", "bo"]) await runtime.dispatch(enable(`${u}@${HOST}`, "n1", `s-${u}`));
  await runtime.dispatch({ type: "hibernation-started", now: t + 10, user: alice, sessionId: "s1", queue: [] });
  // A push that the app service refuses.
  await runtime.dispatch({ type: "ping", now: Date.now(), user: alice, identifiers: null });
  const iq = lastPublish();
  expect(iq?.attrs.to).toBe(APP);
  await runtime.dispatch({
    type: "publish-error",
    now: Date.now(),
    publishId: iq!.attrs.id,
    from: APP,
    errorType: "cancel",
    condition: "internal-server-error",
  });
});

afterAll(async () => {
  await runtime.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("GET /api/v1/users/{user}", () => {
  test("one JSON with devices (flags, never publish-options values), pushes, removals and sessions", async () => {
    const res = await app.request("http://localhost/api/v1/users/alice@example.com", { headers: auth });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(FORM_SECRET);
    const v = JSON.parse(text);
    expect(v.jid).toBe("alice@example.com");
    expect(v.devices).toHaveLength(1);
    expect(v.devices[0]).toMatchObject({
      jid: APP,
      node: NODE,
      clientId: "client-uuid-1",
      resource: null, // recorded only for a client without a client id (as mod_cloud_notify)
      errorCount: 1,
      lastError: "cancel/internal-server-error",
      includePayload: false,
      publishOptions: "present",
      extensions: [],
      boundSessions: ["s1"],
    });
    expect(v.pushes[0]).toMatchObject({ trigger: "ping", outcome: "error", error: "cancel/internal-server-error" });
    expect(v.pushes[0].latencyMs).toBeGreaterThanOrEqual(0);
    expect(v.sessions).toEqual([
      {
        sessionId: "s1",
        resource: "phone",
        clientId: "client-uuid-1",
        bound: `${APP}<${NODE}`,
        hibernating: true,
        hibernatingSince: expect.any(String),
      },
    ]);
  });

  test("removals carry their reason; an unknown user is a 404 with one line", async () => {
    expect((await app.request("http://localhost/api/v1/users/carol/registrations", { method: "DELETE", headers: auth })).status).toBe(200);
    const v = await (await app.request("http://localhost/api/v1/users/carol", { headers: auth })).json();
    expect(v.devices).toEqual([]);
    expect(v.removals[0]).toMatchObject({ reason: "admin", identifier: `${APP}<n1` });
    const res = await app.request("http://localhost/api/v1/users/nobody", { headers: auth });
    expect(res.status).toBe(404);
    expect((await res.json()).error).toMatch(/^Cannot find user: nobody/);
    expect((await app.request("http://localhost/api/v1/users/alice")).status).toBe(401);
  });
});

describe("GET /api/v1/users (list, search, paging)", () => {
  const list = async (q: string) => (await app.request(`http://localhost/api/v1/users?${q}`, { headers: auth })).json();

  test("prefix search includes the prefix itself, pages with after/next", async () => {
    const at = (...locals: string[]) => locals.map((l) => `${l}@${HOST}`);
    expect(await list("")).toEqual({ users: at("alice", "bo", "bob", "bobby"), next: null });
    expect(await list("prefix=bo")).toEqual({ users: at("bo", "bob", "bobby"), next: null });
    expect(await list("prefix=bo&limit=2")).toEqual({ users: at("bo", "bob"), next: `bob@${HOST}` });
    expect(await list(`prefix=bo&limit=2&after=bob%40${HOST}`)).toEqual({ users: at("bobby"), next: null });
    expect(await list("prefix=bo&limit=2&after=bob")).toEqual({ users: at("bobby"), next: null }); // one host: a bare local part
    expect(await list("prefix=BOB")).toEqual({ users: at("bob", "bobby"), next: null });
    expect(await list("prefix=z")).toEqual({ users: [], next: null });
    const bad = await app.request("http://localhost/api/v1/users?prefix=a%3Cb", { headers: auth });
    expect(bad.status).toBe(400);
  });
});

describe("cloud-notifyd user (through the admin API)", () => {
  function config() {
    const loaded = loadConfig({ CLOUD_NOTIFYD_ADMIN_TOKEN: TOKEN, CLOUD_NOTIFYD_COMPONENT_SECRET: "x" }, []);
    if (!loaded.ok) throw new Error(loaded.error);
    return loaded.config;
  }
  const viaApp = ((input: string | URL | Request, init?: RequestInit) => app.request(String(input), init)) as typeof fetch;

  test("prints one readable page: shortened node, flags, the failed push, the hibernating session", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await userCommand(["alice@example.com"], config(), { out: (l) => out.push(l), err: (l) => err.push(l), fetch: viaApp });
    expect({ code, err }).toEqual({ code: 0, err: [] });
    const page = out.join("\n");
    expect(page).toContain("alice@example.com");
    expect(page).toContain(`node ${shortNode(NODE)}`);
    expect(shortNode(NODE)).toBe("a1b2c3…8f90");
    expect(page).not.toContain(NODE);
    expect(page).not.toContain(FORM_SECRET);
    expect(page).toMatch(/client id: client-uuid-1 {3}resource: - {3}age: \d+s/);
    expect(page).toMatch(/errors: 1, last: cancel\/internal-server-error/);
    expect(page).toMatch(/include-payload: no {3}publish-options: present/);
    expect(page).toMatch(/ping {2}error {2}\d+ ms {2}cancel\/internal-server-error/);
    expect(page).toMatch(/phone {2}client id: client-uuid-1 {2}hibernating since /);
  });

  test("--list PREFIX lists users; an unknown user exits 1 with the API's line; no token exits 2", async () => {
    const out: string[] = [];
    expect(await userCommand(["--list", "bo", "--limit", "2"], config(), { out: (l) => out.push(l), err: () => {}, fetch: viaApp })).toBe(
      0,
    );
    expect(out).toEqual([`bo@${HOST}`, `bob@${HOST}`, `… more: --after bob@${HOST}`]);
    const err: string[] = [];
    expect(await userCommand(["nobody"], config(), { out: () => {}, err: (l) => err.push(l), fetch: viaApp })).toBe(1);
    expect(err[0]).toMatch(/^Cannot find user: nobody/);
    const noToken = { ...config(), adminToken: null };
    const err2: string[] = [];
    expect(await userCommand(["alice"], noToken, { out: () => {}, err: (l) => err2.push(l), fetch: viaApp })).toBe(2);
    expect(err2[0]).toMatch(/^Cannot ask the daemon: admin_token is not configured/);
    expect(await userCommand(["alice", "--bogus"], config(), { out: () => {}, err: () => {}, fetch: viaApp })).toBe(2);
  });
});

describe("admin page (/ui) without a browser", () => {
  const form = (body: Record<string, string>, headers: Record<string, string> = {}) => ({
    method: "POST",
    body: new URLSearchParams(body).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded", host: "localhost", ...headers },
  });

  test("login needs the token and sets an HttpOnly SameSite=Strict session cookie that is not the token", async () => {
    expect((await app.request("http://localhost/ui")).status).toBe(401);
    expect((await app.request("http://localhost/ui/login", form({ token: "wrong" }))).status).toBe(401);
    const crossSite = await app.request("http://localhost/ui/login", form({ token: TOKEN }, { origin: "http://evil.example" }));
    expect(crossSite.status).toBe(403);
    expect(crossSite.headers.get("set-cookie")).toBeNull();
    const res = await app.request("http://localhost/ui/login", form({ token: TOKEN }, { origin: "http://localhost" }));
    expect(res.status).toBe(303);
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^cnd_ui=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/ui; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(TOKEN);
    const session = cookie.split(";")[0]!;

    const status = await app.request("http://localhost/ui", { headers: { cookie: session } });
    expect(status.status).toBe(200);
    const html = await status.text();
    expect(html).toContain("ready");
    expect(html).toContain("<svg");
    expect(html).toMatch(/error 1/);
    expect(html).not.toContain(TOKEN);
    expect(status.headers.get("content-security-policy")).toMatch(/default-src 'none'/);

    const user = await (await app.request("http://localhost/ui/users/alice", { headers: { cookie: session } })).text();
    expect(user).toContain(shortNode(NODE).replace("…", "…"));
    expect(user).toContain("cancel/internal-server-error");
    expect(user).toContain("present");
    expect(user).not.toContain(NODE);
    expect(user).not.toContain(FORM_SECRET);

    const search = await app.request("http://localhost/ui/users?q=bo", { headers: { cookie: session } });
    expect(await search.text()).toContain('href="/ui/users/bobby%40example.com"');

    // logout: needs the session's CSRF token from the page, and same origin
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
    expect(csrf.length).toBeGreaterThan(20);
    expect((await app.request("http://localhost/ui/logout", form({ csrf: "forged" }, { cookie: session }))).status).toBe(403);
    expect(
      (await app.request("http://localhost/ui/logout", form({ csrf }, { cookie: session, origin: "http://evil.example" }))).status,
    ).toBe(403);
    const out = await app.request("http://localhost/ui/logout", form({ csrf }, { cookie: session, origin: "http://localhost" }));
    expect(out.status).toBe(303);
    expect((await app.request("http://localhost/ui", { headers: { cookie: session } })).status).toBe(401);
  });
});
