/**
 * The /api/v1 routes (bearer token). Every bad input is a 4xx with `{ error }`; only a
 * failing dependency gives a 500 (handled in app.ts).
 * Responses are built field by field from the deps' rows, so nothing unexpected (D17: a
 * body) can leak through an extra property. A `{user}` is `local@host` (a bare local part only
 * when one host is configured, params.ts); every JSON `user` is the bare JID (issue 13).
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";

import { requireBearer } from "./auth.ts";
import type { AdminDeps, RegistrationView } from "./deps.ts";
import { parseIdentifier, parseLimit, parseOptionalIdentifier, parseTestPushBody, parseUser } from "./params.ts";
import type { Parsed } from "./params.ts";
import { historyJson, isEmptyView, iso, removalJson, userViewJson } from "./user-json.ts";
import { parseUsersQuery } from "./user-params.ts";

export const MAX_BODY_BYTES = 64 * 1024;

export function createApi(deps: AdminDeps): Hono {
  const api = new Hono();
  const hosts = hostsOf(deps);

  api.use("*", requireBearer(deps.token));
  api.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json({ error: `Cannot read body: larger than ${MAX_BODY_BYTES} bytes` }, 413),
    }),
  );
  api.use("*", async function noStore(c, next) {
    await next();
    c.header("Cache-Control", "no-store");
  });

  api.get("/users", async (c) => {
    if (deps.listUsers === undefined) return c.json({ error: "Cannot list users: not available" }, 404);
    const q = parseUsersQuery(
      { prefix: c.req.query("prefix"), after: c.req.query("after"), host: c.req.query("host"), limit: c.req.query("limit") },
      hosts,
    );
    if (!q.ok) return badRequest(c, q);
    const page = await deps.listUsers(q.value);
    return c.json({ users: page.users, next: page.next });
  });

  // One user's devices, recent pushes, removals and sessions (issue 15 item 2).
  api.get("/users/:user", async (c) => {
    if (deps.userView === undefined) return c.json({ error: "Cannot show user: not available" }, 404);
    const user = parseUser(c.req.param("user"), hosts);
    if (!user.ok) return badRequest(c, user);
    const limit = c.req.query("limit") === undefined ? { ok: true as const, value: 20 } : parseLimit(c.req.query("limit"));
    if (!limit.ok) return badRequest(c, limit);
    const view = await deps.userView(user.value, { limit: limit.value });
    if (isEmptyView(view)) {
      return c.json({ error: `Cannot find user: ${user.value} has no registrations, pushes, removals or sessions` }, 404);
    }
    return c.json(userViewJson(view));
  });

  api.get("/users/:user/registrations", async (c) => {
    const user = parseUser(c.req.param("user"), hosts);
    if (!user.ok) return badRequest(c, user);
    const rows = await deps.listRegistrations(user.value);
    if (rows.length === 0) return noRegistrations(c, user.value);
    return c.json({ user: user.value, registrations: rows.map(registrationJson) });
  });

  api.delete("/users/:user/registrations", async (c) => {
    const user = parseUser(c.req.param("user"), hosts);
    if (!user.ok) return badRequest(c, user);
    const removed = await deps.deleteRegistrations(user.value);
    if (removed === 0) return noRegistrations(c, user.value);
    return c.json({ user: user.value, removed });
  });

  api.delete("/users/:user/registrations/:identifier", async (c) => {
    const user = parseUser(c.req.param("user"), hosts);
    if (!user.ok) return badRequest(c, user);
    const identifier = parseIdentifier(c.req.param("identifier"));
    if (!identifier.ok) return badRequest(c, identifier);
    const removed = await deps.deleteRegistrations(user.value, identifier.value);
    if (removed === 0) {
      return c.json({ error: `Cannot delete registration: ${user.value} has no registration ${identifier.value}` }, 404);
    }
    return c.json({ user: user.value, removed });
  });

  api.post("/users/:user/test-push", async (c) => {
    const user = parseUser(c.req.param("user"), hosts);
    if (!user.ok) return badRequest(c, user);
    const identifier = parseTestPushBody(await c.req.text());
    if (!identifier.ok) return badRequest(c, identifier);
    const results = await deps.testPush(user.value, identifier.value);
    if (results.length === 0) {
      return identifier.value === undefined
        ? noRegistrations(c, user.value)
        : c.json({ error: `Cannot test push: ${user.value} has no registration ${identifier.value}` }, 404);
    }
    return c.json({
      user: user.value,
      results: results.map((r) => ({
        identifier: r.identifier,
        outcome: r.outcome,
        error: r.error ?? null,
        latencyMs: r.latencyMs ?? null,
      })),
    });
  });

  api.get("/users/:user/history", async (c) => {
    const user = parseUser(c.req.param("user"), hosts);
    if (!user.ok) return badRequest(c, user);
    const identifier = parseOptionalIdentifier(c.req.query("identifier"));
    if (!identifier.ok) return badRequest(c, identifier);
    const limit = parseLimit(c.req.query("limit"));
    if (!limit.ok) return badRequest(c, limit);
    const q = { user: user.value, limit: limit.value };
    const rows = await deps.history(identifier.value === undefined ? q : { ...q, identifier: identifier.value });
    return c.json({ user: user.value, history: rows.slice(0, limit.value).map(historyJson) });
  });

  api.get("/removals", async (c) => {
    const rawUser = c.req.query("user");
    const user: Parsed<string | undefined> =
      rawUser === undefined || rawUser === "" ? { ok: true, value: undefined } : parseUser(rawUser, hosts);
    if (!user.ok) return badRequest(c, user);
    const limit = parseLimit(c.req.query("limit"));
    if (!limit.ok) return badRequest(c, limit);
    const q = { limit: limit.value };
    const rows = await deps.removals(user.value === undefined ? q : { ...q, user: user.value });
    return c.json({ removals: rows.slice(0, limit.value).map(removalJson) });
  });

  api.get("/totals", async (c) => {
    return c.json({ totals: await deps.totals() });
  });

  return api;
}

/** The configured hosts (issue 13): `deps.hosts`, or the one `deps.host` of deps that predate it. */
export function hostsOf(deps: Pick<AdminDeps, "host" | "hosts">): readonly string[] {
  return deps.hosts !== undefined && deps.hosts.length > 0 ? deps.hosts : [deps.host.toLowerCase()];
}

function badRequest(c: Context, parsed: { ok: false; error: string }): Response {
  return c.json({ error: parsed.error }, 400);
}

function noRegistrations(c: Context, user: string): Response {
  return c.json({ error: `Cannot find registrations: user ${user} has none` }, 404);
}

function registrationJson(r: RegistrationView) {
  return {
    identifier: r.identifier,
    jid: r.jid,
    node: r.node,
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
    errorCount: r.errorCount,
    lastError: r.lastError,
    lastErrorAt: iso(r.lastErrorAt),
    boundSessions: [...r.boundSessions],
  };
}
