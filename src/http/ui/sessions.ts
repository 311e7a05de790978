/**
 * Sessions of the admin page: a random id (the cookie's value) → its CSRF token and expiry, in
 * memory only. The admin token itself is never stored in or derived into a cookie. Bounded: at
 * most `max` sessions (the oldest goes first) and an absolute lifetime; a restart logs everyone out.
 * @module
 */
import { randomBytes } from "node:crypto";

export interface UiSession {
  id: string;
  /** Sent back in the logout form (per session, never in a URL). */
  csrf: string;
  expires: number;
}

export interface UiSessions {
  create(): UiSession;
  get(id: string | undefined): UiSession | null;
  delete(id: string): void;
  readonly size: number;
}

export const DEFAULT_MAX_SESSIONS = 32;
export const DEFAULT_SESSION_TTL_MS = 8 * 3600_000;

export function createUiSessions(opts: { max?: number; ttlMs?: number; now?: () => number } = {}): UiSessions {
  const max = opts.max ?? DEFAULT_MAX_SESSIONS;
  const ttlMs = opts.ttlMs ?? DEFAULT_SESSION_TTL_MS;
  const now = opts.now ?? Date.now;
  const sessions = new Map<string, UiSession>();

  function prune(): void {
    const t = now();
    for (const [id, s] of sessions) if (s.expires <= t) sessions.delete(id);
  }

  return {
    create() {
      prune();
      while (sessions.size >= max) sessions.delete(sessions.keys().next().value as string);
      const s: UiSession = {
        id: randomBytes(32).toString("base64url"),
        csrf: randomBytes(32).toString("base64url"),
        expires: now() + ttlMs,
      };
      sessions.set(s.id, s);
      return s;
    },
    get(id) {
      if (id === undefined || id === "") return null;
      const s = sessions.get(id);
      if (s === undefined) return null;
      if (s.expires <= now()) {
        sessions.delete(id);
        return null;
      }
      return s;
    },
    delete(id) {
      sessions.delete(id);
    },
    get size() {
      return sessions.size;
    },
  };
}
