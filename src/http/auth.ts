/**
 * Bearer-token authentication for /api/v1 (RFC 6750).
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";

/**
 * Compares two secrets in constant time. Both are hashed with SHA-256 first, so the comparison
 * runs over equal-length digests and neither the content nor the length of the expected token
 * leaks through timing.
 */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header, or null. The scheme is case-insensitive. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer[ \t]+([^ \t].*?)[ \t]*$/i.exec(header);
  return match?.[1] ?? null;
}

const REALM = 'Bearer realm="cloud-notifyd"';

/**
 * Requires `Authorization: Bearer <token>`. With no token configured every request gets
 * 503 (the API is off rather than open).
 */
export function requireBearer(token: string | null): MiddlewareHandler {
  return async function bearerAuth(c, next) {
    if (token === null || token === "") {
      return c.json({ error: "admin token not configured" }, 503);
    }
    const given = bearerToken(c.req.header("authorization"));
    if (given === null) {
      c.header("WWW-Authenticate", REALM);
      return c.json({ error: "missing bearer token" }, 401);
    }
    if (!tokensEqual(given, token)) {
      c.header("WWW-Authenticate", `${REALM}, error="invalid_token"`);
      return c.json({ error: "invalid bearer token" }, 401);
    }
    await next();
  };
}
