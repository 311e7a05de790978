import { describe, expect, test } from "bun:test";

import { createAdminApp } from "../../src/http/app.ts";
import { bearerToken, tokensEqual } from "../../src/http/auth.ts";
import { auth, fakeDeps, TOKEN } from "./fake-deps.ts";

const PATH = "/api/v1/users/alice/registrations";

describe("tokensEqual", () => {
  test("is true only for identical tokens", () => {
    expect(tokensEqual("abc", "abc")).toBe(true);
    expect(tokensEqual("abc", "abd")).toBe(false);
    expect(tokensEqual("", "")).toBe(true);
    expect(tokensEqual("ABC", "abc")).toBe(false);
  });

  test("compares tokens of different lengths without throwing (equal-length digests)", () => {
    expect(tokensEqual("a", "a much longer expected token")).toBe(false);
    expect(tokensEqual("x".repeat(10_000), "x")).toBe(false);
    expect(tokensEqual("é", "e\u0301")).toBe(false);
  });
});

describe("bearerToken", () => {
  test("extracts the token of a Bearer header, scheme case-insensitive", () => {
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer  abc ")).toBe("abc");
    expect(bearerToken("BEARER a b")).toBe("a b");
  });

  test("returns null for a missing header, another scheme or an empty token", () => {
    expect(bearerToken(undefined)).toBeNull();
    expect(bearerToken("Basic YWxpY2U6cHc=")).toBeNull();
    expect(bearerToken("Bearer")).toBeNull();
    expect(bearerToken("Bearer   ")).toBeNull();
    expect(bearerToken("Bearerabc")).toBeNull();
  });
});

describe("/api/v1 authentication", () => {
  test("answers 401 with WWW-Authenticate: Bearer when the header is missing", async () => {
    const deps = fakeDeps();
    const res = await createAdminApp(deps).request(PATH);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
    expect(await res.json()).toEqual({ error: "missing bearer token" });
    expect(deps.calls).toEqual([]);
  });

  test("answers 401 with error=invalid_token for a wrong token", async () => {
    const deps = fakeDeps();
    const res = await createAdminApp(deps).request(PATH, { headers: auth(`${TOKEN}x`) });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="cloud-notifyd", error="invalid_token"');
    expect(await res.json()).toEqual({ error: "invalid bearer token" });
    expect(deps.calls).toEqual([]);
  });

  test("answers 401 for another auth scheme carrying the right secret", async () => {
    const res = await createAdminApp(fakeDeps()).request(PATH, { headers: { Authorization: `Basic ${TOKEN}` } });
    expect(res.status).toBe(401);
  });

  test("lets the right token through", async () => {
    const res = await createAdminApp(fakeDeps()).request(PATH, { headers: auth() });
    expect(res.status).toBe(200);
  });

  test("answers 503 'admin token not configured' on every /api/v1 route when the token is null", async () => {
    const deps = fakeDeps({ token: null });
    const app = createAdminApp(deps);
    for (const [method, path] of [
      ["GET", PATH],
      ["GET", "/api/v1/totals"],
      ["DELETE", PATH],
      ["GET", "/api/v1/nope"],
    ] as const) {
      const res = await app.request(path, { method, headers: auth("") });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: "admin token not configured" });
    }
    expect(deps.calls).toEqual([]);
  });

  test("treats an empty configured token as not configured", async () => {
    const res = await createAdminApp(fakeDeps({ token: "" })).request(PATH, { headers: { Authorization: "Bearer " } });
    expect(res.status).toBe(503);
  });

  test("checks the token before validating input or reading the body", async () => {
    const app = createAdminApp(fakeDeps());
    expect((await app.request("/api/v1/users/bad%20user/registrations")).status).toBe(401);
    expect((await app.request("/api/v1/nope")).status).toBe(401);
    const big = await app.request("/api/v1/users/alice/test-push", { method: "POST", body: "x".repeat(100_000) });
    expect(big.status).toBe(401);
  });

  test("leaves /healthz, /readyz and /metrics open", async () => {
    const app = createAdminApp(fakeDeps());
    for (const path of ["/healthz", "/readyz", "/metrics"]) expect((await app.request(path)).status).toBe(200);
  });
});
