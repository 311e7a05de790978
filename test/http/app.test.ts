import { describe, expect, test } from "bun:test";

import { createAdminApp } from "../../src/http/app.ts";
import { createMetrics } from "../../src/metrics.ts";
import { auth, fakeDeps } from "./fake-deps.ts";

describe("GET /healthz", () => {
  test("answers 200 {status:ok} without a token, even when the API token is unset", async () => {
    const app = createAdminApp(fakeDeps({ token: null }));
    const res = await app.request("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  test("answers 200 even when readiness fails", async () => {
    const app = createAdminApp(fakeDeps({ readiness: async () => ({ ready: false, checks: {} }) }));
    expect((await app.request("/healthz")).status).toBe(200);
  });
});

describe("GET /readyz", () => {
  test("answers 200 with the checks when ready", async () => {
    const res = await createAdminApp(fakeDeps()).request("/readyz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      ready: true,
      checks: { component: { ok: true }, store: { ok: true }, bridge: { ok: true } },
    });
  });

  test("answers 503 with the failing check's reason when not ready", async () => {
    const readiness = async () => ({
      ready: false,
      checks: { component: { ok: false, reason: "not connected" }, store: { ok: true } },
    });
    const res = await createAdminApp(fakeDeps({ readiness })).request("/readyz");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      ready: false,
      checks: { component: { ok: false, reason: "not connected" }, store: { ok: true } },
    });
  });

  test("answers 503 and logs one line when the readiness probe throws", async () => {
    const deps = fakeDeps({
      readiness: async () => {
        throw new Error("Cannot query store: database is locked");
      },
    });
    const res = await createAdminApp(deps).request("/readyz");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      ready: false,
      checks: { readiness: { ok: false, reason: "readiness check failed" } },
    });
    expect(deps.logLines).toHaveLength(1);
    expect(deps.logLines[0]).toContain("level=error");
    expect(deps.logLines[0]).toContain("database is locked");
  });
});

describe("GET /metrics", () => {
  test("serves the Prometheus text without a token, with the 0.0.4 content type", async () => {
    const metrics = createMetrics();
    metrics.set("cloud_notifyd_component_connected", 1);
    const app = createAdminApp(fakeDeps({ metrics: () => metrics.render() }));
    const res = await app.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    expect(text).toContain("# TYPE cloud_notifyd_component_connected gauge\ncloud_notifyd_component_connected 1\n");
  });
});

describe("errors", () => {
  test("an unknown route is 404 JSON", async () => {
    const res = await createAdminApp(fakeDeps()).request("/nope");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual({ error: "Cannot find route: GET /nope" });
  });

  test("an unknown /api/v1 route with a valid token is 404 JSON", async () => {
    const res = await createAdminApp(fakeDeps()).request("/api/v1/nope", { headers: auth() });
    expect(res.status).toBe(404);
    expect((await res.json()) as unknown).toEqual({ error: "Cannot find route: GET /api/v1/nope" });
  });

  test("an unsupported method on a known path is 404 JSON", async () => {
    const res = await createAdminApp(fakeDeps()).request("/api/v1/totals", { method: "PUT", headers: auth() });
    expect(res.status).toBe(404);
  });

  test("a dependency that throws gives 500 {error:'internal error'} and exactly one log line", async () => {
    const deps = fakeDeps({
      listRegistrations: async () => {
        throw new Error("Cannot read registrations: disk I/O error\nsecond line");
      },
    });
    const res = await createAdminApp(deps).request("/api/v1/users/alice/registrations", { headers: auth() });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: "internal error" });
    expect(deps.logLines).toHaveLength(1);
    const line = deps.logLines[0] ?? "";
    expect(line).not.toContain("\n");
    expect(line).toContain('msg="admin request failed" method=GET path=/api/v1/users/alice/registrations');
    expect(line).toContain("disk I/O error\\nsecond line");
  });

  test("a metrics renderer that throws gives 500 and one log line", async () => {
    const deps = fakeDeps({
      metrics: () => {
        throw new TypeError("boom");
      },
    });
    const res = await createAdminApp(deps).request("/metrics");
    expect(res.status).toBe(500);
    expect(deps.logLines).toHaveLength(1);
    expect(deps.logLines[0]).toContain('error="TypeError: boom"');
  });
});
