/**
 * The read-only admin page under `/ui` (issue 15 item 3), server-rendered with Hono's JSX.
 *
 * Login: `POST /ui/login` with the admin token in a form field; on success a random session id
 * (sessions.ts) goes into an HttpOnly, SameSite=Strict cookie scoped to /ui. The token is never
 * put in a cookie, a URL or a page. CSRF: both POSTs refuse a cross-origin `Origin` /
 * `Sec-Fetch-Site` (origin.ts); logout also needs the session's CSRF token from its form; and the
 * SameSite=Strict cookie is not sent on cross-site requests at all. Every answer is `no-store`
 * with a CSP that allows no script and no foreign form target.
 * @module
 */
import { createHash } from "node:crypto";

import { Hono } from "hono";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";

import pkg from "../../../package.json" with { type: "json" };
import { tokensEqual } from "../auth.ts";
import type { AdminDeps, Readiness } from "../deps.ts";
import { hostsOf } from "../api.ts";
import { parseUser } from "../params.ts";
import { localOf } from "../../store/user-key.ts";
import { isEmptyView } from "../user-json.ts";
import { parseUsersQuery } from "../user-params.ts";
import { sameOrigin } from "./origin.ts";
import { LoginPage, PAGE_CSS, StatusPage, UserPage, UsersPageView } from "./pages.tsx";
import { createUiSessions, DEFAULT_SESSION_TTL_MS, type UiSession, type UiSessions } from "./sessions.ts";

export const COOKIE = "cnd_ui";
const STYLE_HASH = createHash("sha256").update(PAGE_CSS).digest("base64");
const CSP = `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;

export function createUi(deps: AdminDeps, opts: { sessions?: UiSessions; now?: () => number } = {}): Hono {
  const ui = new Hono();
  const sessions = opts.sessions ?? createUiSessions();
  const now = opts.now ?? Date.now;
  const configured = deps.token !== null && deps.token !== "";

  ui.use("*", async function headers(c, next) {
    await next();
    c.header("Cache-Control", "no-store");
    c.header("Content-Security-Policy", CSP);
    c.header("X-Frame-Options", "DENY");
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "same-origin"); // "no-referrer" would make the browser send `Origin: null` on our own POSTs
  });
  ui.use("*", bodyLimit({ maxSize: 4096, onError: (c) => c.text("Cannot read body: too large", 413) }));

  function session(c: Context): UiSession | null {
    return configured ? sessions.get(getCookie(c, COOKIE)) : null;
  }
  function fromThisOrigin(c: Context): boolean {
    return sameOrigin({ origin: c.req.header("origin"), host: c.req.header("host"), secFetchSite: c.req.header("sec-fetch-site") });
  }
  const login = (c: Context, status: 200 | 401 | 403 | 503, error?: string) =>
    c.html(<LoginPage configured={configured} {...(error !== undefined ? { error } : {})} />, status);

  ui.post("/login", async (c) => {
    if (!configured) return login(c, 503);
    if (!fromThisOrigin(c)) return login(c, 403, "Cannot log in: the request came from another site");
    const form = await c.req.parseBody();
    const given = typeof form["token"] === "string" ? form["token"] : "";
    if (given === "" || !tokensEqual(given, deps.token!)) return login(c, 401, "Cannot log in: wrong token");
    const s = sessions.create();
    setCookie(c, COOKIE, s.id, {
      httpOnly: true,
      sameSite: "Strict",
      path: "/ui",
      maxAge: Math.floor(DEFAULT_SESSION_TTL_MS / 1000),
      secure: new URL(c.req.url).protocol === "https:",
    });
    return c.redirect("/ui", 303);
  });

  ui.post("/logout", async (c) => {
    const s = session(c);
    if (!fromThisOrigin(c)) return c.text("Cannot log out: the request came from another site", 403);
    const form = await c.req.parseBody();
    const csrf = typeof form["csrf"] === "string" ? form["csrf"] : "";
    if (s === null || !tokensEqual(csrf, s.csrf)) return c.text("Cannot log out: not logged in, or the form is stale", 403);
    sessions.delete(s.id);
    deleteCookie(c, COOKIE, { path: "/ui" });
    return c.redirect("/ui", 303);
  });

  // Everything below needs a session; without one the login form is shown (401).
  ui.use("*", async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") return c.text("Cannot use method: the page is read-only", 405);
    const s = session(c);
    if (s === null) return login(c, configured ? 401 : 503);
    c.set("uiSession" as never, s as never);
    await next();
  });
  const csrfOf = (c: Context) => (c.get("uiSession" as never) as UiSession).csrf;

  ui.get("/", async (c) => {
    const readiness = await deps
      .readiness()
      .catch((): Readiness => ({ ready: false, checks: { readiness: { ok: false, reason: "readiness check failed" } } }));
    return c.html(
      <StatusPage
        csrf={csrfOf(c)}
        version={pkg.version}
        readiness={readiness}
        totals={await deps.totals()}
        timeline={deps.pushTimeline?.() ?? null}
      />,
    );
  });

  ui.get("/users", async (c) => {
    const q = c.req.query("q") ?? "";
    // "alice" searches every host; "alice@b.example" that host only (issue 13).
    const at = q.lastIndexOf("@");
    const parsed = parseUsersQuery(
      { prefix: at < 0 ? q : q.slice(0, at), host: at < 0 ? undefined : q.slice(at + 1), after: c.req.query("after"), limit: "50" },
      hostsOf(deps),
    );
    if (!parsed.ok || deps.listUsers === undefined) {
      return c.html(<UsersPageView csrf={csrfOf(c)} q={q} page={{ users: [], next: null }} />, parsed.ok ? 404 : 400);
    }
    const page = await deps.listUsers(parsed.value);
    // A search for one exact user goes straight to that user.
    if (q !== "" && page.users.length === 1 && localOf(page.users[0]!) === parsed.value.prefix) {
      return c.redirect(`/ui/users/${encodeURIComponent(page.users[0]!)}`, 303);
    }
    return c.html(<UsersPageView csrf={csrfOf(c)} q={q} page={page} />);
  });

  ui.get("/users/:user", async (c) => {
    const raw = c.req.param("user");
    const user = parseUser(raw, hostsOf(deps));
    if (!user.ok || deps.userView === undefined) {
      return c.html(
        <UserPage csrf={csrfOf(c)} jid={raw} view={null} error={user.ok ? "not available" : user.error} now={now()} />,
        user.ok ? 404 : 400,
      );
    }
    const view = await deps.userView(user.value, { limit: 20 });
    const jid = user.value;
    if (isEmptyView(view)) {
      return c.html(
        <UserPage
          csrf={csrfOf(c)}
          jid={jid}
          view={null}
          error={`Nothing known about ${jid}: no registrations, pushes, removals or sessions.`}
          now={now()}
        />,
        404,
      );
    }
    return c.html(<UserPage csrf={csrfOf(c)} jid={jid} view={view} now={now()} />);
  });

  return ui;
}
