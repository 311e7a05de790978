/**
 * A small Hrana-over-HTTP v2 server (the protocol of sqld / Turso) on Bun.serve and bun:sqlite,
 * for testing the remote libSQL path on loopback. No real libSQL server can be installed here
 * (toolchain.md §4). It proves the client path, not sqld's behaviour.
 *
 * Implemented: GET /v2; POST /v2/pipeline with batons; requests execute, batch (with all
 * conditions), sequence, describe (minimal), store_sql, close_sql, get_autocommit, close.
 * Each stream (baton) owns its own SQLite connection to the file, so transactions are isolated.
 * @module
 */
import { Database } from "bun:sqlite";
import type { SQLQueryBindings } from "bun:sqlite";

export interface FakeHrana {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Pipeline requests served so far. */
  pipelines(): number;
  /** Streams currently open. */
  openStreams(): number;
  stop(): Promise<void>;
}

type HranaValue =
  | { type: "null" }
  | { type: "integer"; value: string }
  | { type: "float"; value: number }
  | { type: "text"; value: string }
  | { type: "blob"; base64: string };

interface HranaStmt {
  sql?: string;
  sql_id?: number;
  args?: HranaValue[];
  named_args?: Array<{ name: string; value: HranaValue }>;
  want_rows?: boolean;
}

type HranaCond =
  | { type: "ok" | "error"; step: number }
  | { type: "not"; cond: HranaCond }
  | { type: "and" | "or"; conds: HranaCond[] }
  | { type: "is_autocommit" };

type HranaRequest =
  | { type: "execute"; stmt: HranaStmt }
  | { type: "batch"; batch: { steps: Array<{ condition?: HranaCond; stmt: HranaStmt }> } }
  | { type: "sequence" | "describe"; sql?: string; sql_id?: number }
  | { type: "store_sql"; sql_id: number; sql: string }
  | { type: "close_sql"; sql_id: number }
  | { type: "get_autocommit" }
  | { type: "close" };

interface Stream {
  db: Database;
  sqls: Map<number, string>;
}

/** Starts the server on 127.0.0.1 (random port) over the SQLite file at `path`. */
export function startFakeHrana(opts: { path: string; authToken?: string }): FakeHrana {
  const streams = new Map<string, Stream>();
  let pipelines = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (opts.authToken !== undefined && req.headers.get("authorization") !== `Bearer ${opts.authToken}`) {
        return Response.json({ message: "Unauthorized" }, { status: 401 });
      }
      if (req.method === "GET" && path === "/v2") return new Response("ok");
      if (req.method !== "POST" || path !== "/v2/pipeline") return new Response("not found", { status: 404 });
      pipelines += 1;
      const body = (await req.json()) as { baton?: string | null; requests: HranaRequest[] };
      let stream: Stream | undefined;
      if (body.baton === undefined || body.baton === null) {
        stream = { db: new Database(opts.path, { create: true, safeIntegers: true }), sqls: new Map() };
        stream.db.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;");
      } else {
        stream = streams.get(body.baton);
        streams.delete(body.baton);
        if (stream === undefined) return Response.json({ message: "Unknown baton" }, { status: 400 });
      }
      const results = [];
      let open = true;
      for (const request of body.requests) {
        if (!open) {
          results.push({ type: "error", error: { message: "Stream is closed", code: "STREAM_CLOSED" } });
          continue;
        }
        if (request.type === "close") open = false;
        results.push(handle(stream, request));
      }
      let baton: string | null = null;
      if (open) {
        baton = crypto.randomUUID();
        streams.set(baton, stream);
      } else {
        stream.db.close();
      }
      return Response.json({ baton, base_url: null, results });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    pipelines: () => pipelines,
    openStreams: () => streams.size,
    async stop() {
      await server.stop(true);
      for (const s of streams.values()) s.db.close();
      streams.clear();
    },
  };
}

function handle(stream: Stream, request: HranaRequest): object {
  try {
    return { type: "ok", response: respond(stream, request) };
  } catch (err) {
    return { type: "error", error: toError(err) };
  }
}

function respond(stream: Stream, request: HranaRequest): object {
  switch (request.type) {
    case "execute":
      return { type: "execute", result: execute(stream, request.stmt) };
    case "batch":
      return { type: "batch", result: batch(stream, request.batch.steps) };
    case "sequence":
      stream.db.exec(sqlOf(stream, request));
      return { type: "sequence" };
    case "describe":
      return { type: "describe", result: { params: [], cols: [], is_explain: false, is_readonly: false } };
    case "store_sql":
      stream.sqls.set(request.sql_id, request.sql);
      return { type: "store_sql" };
    case "close_sql":
      stream.sqls.delete(request.sql_id);
      return { type: "close_sql" };
    case "get_autocommit":
      return { type: "get_autocommit", is_autocommit: !stream.db.inTransaction };
    case "close":
      return { type: "close" };
  }
}

function batch(stream: Stream, steps: Array<{ condition?: HranaCond; stmt: HranaStmt }>): object {
  const outcomes: Array<"ok" | "error" | undefined> = [];
  const stepResults: Array<object | null> = [];
  const stepErrors: Array<object | null> = [];
  for (const step of steps) {
    if (step.condition !== undefined && !holds(stream, step.condition, outcomes)) {
      outcomes.push(undefined);
      stepResults.push(null);
      stepErrors.push(null);
      continue;
    }
    try {
      stepResults.push(execute(stream, step.stmt));
      stepErrors.push(null);
      outcomes.push("ok");
    } catch (err) {
      stepResults.push(null);
      stepErrors.push(toError(err));
      outcomes.push("error");
    }
  }
  return { step_results: stepResults, step_errors: stepErrors };
}

function holds(stream: Stream, cond: HranaCond, outcomes: Array<"ok" | "error" | undefined>): boolean {
  switch (cond.type) {
    case "ok":
    case "error":
      return outcomes[cond.step] === cond.type;
    case "not":
      return !holds(stream, cond.cond, outcomes);
    case "and":
      return cond.conds.every((c) => holds(stream, c, outcomes));
    case "or":
      return cond.conds.some((c) => holds(stream, c, outcomes));
    case "is_autocommit":
      return !stream.db.inTransaction;
  }
}

function execute(stream: Stream, stmt: HranaStmt): object {
  const query = stream.db.prepare(sqlOf(stream, stmt));
  try {
    const bindings = bindingsOf(stmt);
    const cols = query.columnNames.map((name, i) => ({ name, decltype: query.declaredTypes[i] ?? null }));
    if (cols.length === 0) {
      const changes = query.run(...bindings);
      return { cols, rows: [], affected_row_count: changes.changes, last_insert_rowid: String(changes.lastInsertRowid) };
    }
    const rows = (query.values(...bindings) as unknown[][]).map((row) => row.map(toValue));
    const meta = stream.db.query("SELECT changes(), last_insert_rowid()").values()[0] ?? [0, 0];
    return { cols, rows, affected_row_count: Number(meta[0]), last_insert_rowid: String(meta[1]) };
  } finally {
    query.finalize();
  }
}

function sqlOf(stream: Stream, x: { sql?: string; sql_id?: number }): string {
  if (x.sql !== undefined) return x.sql;
  const stored = x.sql_id === undefined ? undefined : stream.sqls.get(x.sql_id);
  if (stored === undefined) throw new Error(`SQL text with id ${x.sql_id} is not stored`);
  return stored;
}

/** Positional arguments, or one object of named ones (names as the client sent them, e.g. ":a"). */
function bindingsOf(stmt: HranaStmt): SQLQueryBindings[] {
  if (stmt.named_args !== undefined && stmt.named_args.length > 0) {
    const named: Record<string, string | bigint | number | boolean | Uint8Array | null> = {};
    for (const { name, value } of stmt.named_args) named[name] = fromValue(value);
    return [named];
  }
  return (stmt.args ?? []).map(fromValue);
}

function fromValue(v: HranaValue): string | bigint | number | Uint8Array | null {
  switch (v.type) {
    case "null":
      return null;
    case "integer":
      return BigInt(v.value);
    case "float":
      return v.value;
    case "text":
      return v.value;
    case "blob":
      return Uint8Array.from(atob(v.base64), (c) => c.charCodeAt(0));
  }
}

function toValue(v: unknown): HranaValue {
  if (v === null || v === undefined) return { type: "null" };
  if (typeof v === "bigint") return { type: "integer", value: String(v) };
  if (typeof v === "number") return Number.isInteger(v) ? { type: "integer", value: String(v) } : { type: "float", value: v };
  if (typeof v === "string") return { type: "text", value: v };
  if (v instanceof Uint8Array) return { type: "blob", base64: btoa(String.fromCharCode(...v)) };
  return { type: "text", value: String(v) };
}

function toError(err: unknown): { message: string; code: string | null } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { message: err.message, code: typeof code === "string" ? code : "SQLITE_ERROR" };
  }
  return { message: String(err), code: "SQLITE_ERROR" };
}
