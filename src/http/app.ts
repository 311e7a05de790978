/**
 * The admin HTTP app (Hono), built without listening; main.ts serves it.
 *
 * - `GET /healthz` → 200 `{"status":"ok"}` while the process runs (liveness).
 * - `GET /readyz` → 200 or 503 `{ ready, checks }` (component + store + bridge). A readiness
 *   probe that throws is answered 503 with a `readiness` check carrying the reason.
 * - `GET /metrics` → Prometheus text 0.0.4. Open, like /healthz: scrapers rarely send bearer
 *   tokens, and the admin listener binds 127.0.0.1 by default. Metrics carry no user names or
 *   JIDs. Expose the listener beyond loopback only behind a proxy that restricts /metrics.
 * - `/api/v1/*` → see api.ts (bearer token).
 * - `/ui` → the read-only admin page (ui/routes.tsx; the token is exchanged for a session cookie).
 * Unknown routes are 404 `{ error }`; a dependency that throws is 500 `{"error":"internal error"}`
 * plus one log line.
 * @module
 */

import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";

import { METRICS_CONTENT_TYPE } from "../metrics.ts";
import { createApi } from "./api.ts";
import type { AdminDeps, Readiness } from "./deps.ts";
import { createUi } from "./ui/routes.tsx";

export function createAdminApp(deps: AdminDeps): Hono {
  const app = new Hono();

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const readiness = await readinessOf(deps);
    c.header("Cache-Control", "no-store");
    return c.json(readiness, readiness.ready ? 200 : 503);
  });

  app.get("/metrics", (c) => {
    const text = deps.metrics();
    return c.body(text, 200, { "Content-Type": METRICS_CONTENT_TYPE, "Cache-Control": "no-store" });
  });

  app.route("/api/v1", createApi(deps));
  app.route("/ui", createUi(deps)); // read-only admin page (ui/routes.tsx): session cookie from the same token

  app.notFound((c) => c.json({ error: `Cannot find route: ${c.req.method} ${c.req.path}` }, 404));

  app.onError(function onError(err, c) {
    if (err instanceof HTTPException && err.status < 500) {
      return c.json({ error: err.message === "" ? "bad request" : err.message }, err.status);
    }
    if (err instanceof Error && err.name === "AbortError") {
      // The client went away mid-body (bodyLimit reads it first): its fault, and nobody is
      // left to read an answer; never an error line an outsider could flood the log with.
      return c.json({ error: "Cannot read body: the request body is incomplete" }, 400);
    }
    deps.logger.error("admin request failed", {
      method: c.req.method,
      path: c.req.path,
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    });
    return c.json({ error: "internal error" }, 500);
  });

  return app;
}

async function readinessOf(deps: AdminDeps): Promise<Readiness> {
  try {
    return await deps.readiness();
  } catch (err) {
    deps.logger.error("readiness check failed", {
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    });
    return { ready: false, checks: { readiness: { ok: false, reason: "readiness check failed" } } };
  }
}
