/**
 * Which driver a store URL selects. Pure, so config.ts can validate `store_url` early.
 * @module
 */

export type StoreTarget = { kind: "sqlite" /** a file path, or ":memory:" */; path: string } | { kind: "libsql"; url: string };

export type StoreUrlResult = { ok: true; target: StoreTarget } | { ok: false; error: string };

const REMOTE_SCHEMES = ["libsql:", "http:", "https:", "ws:", "wss:"];

/**
 * `:memory:` → in-memory SQLite; `file:PATH`, `file:///abs/path` or a plain path → SQLite file;
 * `libsql://`, `http(s)://`, `ws(s)://` → remote libSQL. Anything else is refused.
 */
export function parseStoreUrl(url: string): StoreUrlResult {
  if (url === "") return { ok: false, error: "is empty" };
  if (url === ":memory:" || url === "file::memory:") return { ok: true, target: { kind: "sqlite", path: ":memory:" } };
  if (url.startsWith("file://")) {
    const parsed = URL.parse(url);
    if (parsed === null || (parsed.host !== "" && parsed.host !== "localhost")) {
      return { ok: false, error: `is not a local file URL (use file:relative/path or file:///absolute/path): ${redactStoreUrl(url)}` };
    }
    return { ok: true, target: { kind: "sqlite", path: decodeURIComponent(parsed.pathname) } };
  }
  if (url.startsWith("file:")) {
    const path = url.slice("file:".length).split("?")[0] ?? "";
    return path === "" ? { ok: false, error: `has no path: ${redactStoreUrl(url)}` } : { ok: true, target: { kind: "sqlite", path } };
  }
  const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return { ok: true, target: { kind: "sqlite", path: url } };
  if (REMOTE_SCHEMES.includes(scheme)) return { ok: true, target: { kind: "libsql", url } };
  return { ok: false, error: `has an unsupported scheme "${scheme}" (use file:, libsql:, http(s): or ws(s):)` };
}

/** Query parameters whose value is a credential: their name contains one of these words. */
const SECRET_PARAM = /token|password|passwd|secret|key|auth|credential|signature/i;

/**
 * The URL with credentials replaced by `***`: the password of `user:password@` and the value
 * of every query parameter that looks secret (`authToken`, `token`, `password`, `secret`,
 * `key`, …). Textual, so the rest of the URL is printed exactly as configured.
 */
export function redactStoreUrl(url: string): string {
  let out = url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@/i, function redactUserinfo(_m, scheme: string, userinfo: string) {
    const colon = userinfo.indexOf(":");
    return colon < 0 ? `${scheme}${userinfo}@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
  });
  out = out.replace(/([?&;])([^=&;#]*)=([^&;#]*)/g, function redactParam(m, sep: string, name: string) {
    return SECRET_PARAM.test(decodeURIComponentSafe(name)) ? `${sep}${name}=***` : m;
  });
  return out;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
