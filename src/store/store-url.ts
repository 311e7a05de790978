/**
 * Which driver a store URL selects. Pure, so config.ts can validate `store_url` early.
 * @module
 */

export type StoreTarget =
  | { kind: "sqlite"; /** a file path, or ":memory:" */ path: string }
  | { kind: "libsql"; url: string };

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
      return { ok: false, error: `is not a local file URL (use file:relative/path or file:///absolute/path): ${url}` };
    }
    return { ok: true, target: { kind: "sqlite", path: decodeURIComponent(parsed.pathname) } };
  }
  if (url.startsWith("file:")) {
    const path = url.slice("file:".length).split("?")[0] ?? "";
    return path === "" ? { ok: false, error: `has no path: ${url}` } : { ok: true, target: { kind: "sqlite", path } };
  }
  const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return { ok: true, target: { kind: "sqlite", path: url } };
  if (REMOTE_SCHEMES.includes(scheme)) return { ok: true, target: { kind: "libsql", url } };
  return { ok: false, error: `has an unsupported scheme "${scheme}" (use file:, libsql:, http(s): or ws(s):)` };
}
