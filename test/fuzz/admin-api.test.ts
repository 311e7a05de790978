/**
 * Fuzzes the admin HTTP API of the COMPILED binary (CLOUD_NOTIFYD_ADMIN_TOKEN set, connected to
 * the fake bridge so test pushes get answers): random methods and paths, bad and missing tokens,
 * bad JSON, bad JIDs and identifiers, huge bodies, percent-encoding garbage, plus raw malformed
 * HTTP on a socket. Seeded PRNG (seed printed; FUZZ_SEED to replay).
 * Asserts: never a 5xx (except /readyz's 503), never a crash, every 4xx from our app is a JSON
 * `{ error: string }`, no request ends in the app's 500 handler ("admin request failed"), and the
 * daemon is healthy afterwards. As of this writing it FAILS: a request whose body the client never
 * finishes (truncated Content-Length, bad chunked encoding) makes `await c.req.text()` in
 * src/http/api.ts (test-push) throw AbortError, which app.ts onError turns into a 500 + error log.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import type { Element } from "ltx";

import { type Daemon, ensureBinary, startDaemon } from "../helpers/daemon.ts";
import { type FakeBridge, NS_BRIDGE, startFakeBridge } from "../helpers/fake-bridge.ts";
import { createRng, type Rng } from "./fuzz-lib.ts";

const SECRET = "api-fuzz-secret";
const TOKEN = "api-fuzz-token-0123456789";
const HOST = "localhost";
const COMP = "push.localhost";
const SEED = Number(process.env.FUZZ_SEED ?? 4242);
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 6000);
const RAW_REQUESTS = 300;
const CONCURRENCY = 16;

const METHODS = ["GET", "GET", "GET", "POST", "POST", "DELETE", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"];
const USERS = [
  "alice",
  "bob",
  "ALICE",
  "alice@localhost",
  "alice@LOCALHOST",
  "alice@evil.example",
  "alice@localhost/res",
  "",
  "a b",
  "a%00b",
  "%ZZ",
  "%C3%28",
  "%E2%82",
  "..",
  "%2e%2e",
  "a'b",
  'a"b',
  "<x>",
  "a&b",
  "%F0%9F%98%80",
  "x".repeat(1100),
  "ünïcode",
  "%0d%0aSet-Cookie:x",
  "a:b",
  "@",
  "nobody",
];
const IDENTIFIERS = [
  "push.app.example%3Cn1",
  "push.app.example<n1",
  "noangle",
  "",
  "%3C",
  "a%3Cb",
  "x".repeat(5000),
  "%00%3C",
  "push.app.example%3C",
  "%FF%FE",
  "a/b%3Cc",
];
const LIMITS = ["", "1", "0", "-5", "1000", "1001", "99999999999999999999999", "abc", "1.5", "1e3", "%00", " 5", "+3", "NaN"];

function userPath(rng: Rng): string {
  const u = rng.pick(USERS);
  return rng.chance(0.7) ? encodeURIComponent(u).replace(/%25/g, "%") : u;
}

function randomPath(rng: Rng): string {
  const u = userPath(rng);
  const q = () => {
    const parts: string[] = [];
    if (rng.chance(0.5)) parts.push(`limit=${rng.pick(LIMITS)}`);
    if (rng.chance(0.4)) parts.push(`identifier=${rng.pick(IDENTIFIERS)}`);
    if (rng.chance(0.3)) parts.push(`user=${userPath(rng)}`);
    if (rng.chance(0.1)) parts.push(`${encodeURIComponent(rng.text(5))}=${encodeURIComponent(rng.text(5))}`);
    return parts.length > 0 ? `?${parts.join("&")}` : "";
  };
  return rng.pick([
    () => `/api/v1/users/${u}/registrations`,
    () => `/api/v1/users/${u}/registrations/${rng.pick(IDENTIFIERS)}`,
    () => `/api/v1/users/${u}/test-push`,
    () => `/api/v1/users/${u}/history${q()}`,
    () => `/api/v1/removals${q()}`,
    () => `/api/v1/totals`,
    () => `/api/v1/users/${u}`,
    () => `/api/v1/users//registrations`,
    () => `/api/v1/${encodeURIComponent(rng.text(10))}`,
    () => `/api/v2/totals`,
    () => `/healthz${q()}`,
    () => `/readyz`,
    () => `/metrics`,
    () => `/${encodeURIComponent(rng.text(30))}/${encodeURIComponent(rng.text(30))}`,
    () => `/api/v1/users/${u}/registrations/${rng.pick(IDENTIFIERS)}/extra`,
    () => `/api/v1/../../etc/passwd`,
    () => `/api/v1/users/${"a/".repeat(rng.int(1, 200))}`,
  ])();
}

function randomBody(rng: Rng): string | Uint8Array | undefined {
  return rng.pick<() => string | Uint8Array | undefined>([
    () => undefined,
    () => "",
    () => "{",
    () => "null",
    () => "[]",
    () => "123",
    () => '"str"',
    () => '{"identifier": 5}',
    () => '{"identifier": null}',
    () => '{"identifier": ""}',
    () => '{"identifier": "push.app.example<n1"}',
    () => '{"identifier": "no-angle"}',
    () => JSON.stringify({ identifier: "x".repeat(5000) }),
    () => JSON.stringify({ identifier: "a<\u0000b" }),
    () => `{"identifier": "${"\\u0000".repeat(10)}<x"}`,
    () => "[".repeat(20000) + "]".repeat(20000),
    () => '{"a":'.repeat(5000) + "1" + "}".repeat(5000),
    () => "x".repeat(rng.int(64 * 1024 + 1, 1024 * 1024)),
    () => JSON.stringify({ identifier: "push.app.example<n1", pad: "p".repeat(70 * 1024) }),
    () => new Uint8Array(Array.from({ length: rng.int(1, 2000) }, () => rng.int(0, 255))),
    () => '{"identifier":"\\ud800<x"}',
    () => rng.text(200),
  ])();
}

function randomHeaders(rng: Rng, bodyPresent: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  const auth = rng.pick<string | undefined>([
    `Bearer ${TOKEN}`,
    `Bearer ${TOKEN}`,
    `Bearer ${TOKEN}`,
    `bearer ${TOKEN}`,
    `Bearer   ${TOKEN}  `,
    undefined,
    "Bearer",
    "Bearer ",
    "Bearer wrong",
    `Basic ${btoa(`admin:${TOKEN}`)}`,
    `Bearer ${TOKEN}x`,
    `Bearer ${"t".repeat(8000)}`,
    `Token ${TOKEN}`,
  ]);
  if (auth !== undefined) h.authorization = auth;
  if (bodyPresent || rng.chance(0.2)) {
    h["content-type"] = rng.pick([
      "application/json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/json; charset=latin1",
      "garbage/%%%",
    ]);
  }
  return h;
}

interface Outcome {
  method: string;
  path: string;
  status: number;
  problem: string | null;
}

async function one(base: string, rng: Rng): Promise<Outcome> {
  const method = rng.pick(METHODS);
  const path = randomPath(rng);
  const body = method === "GET" || method === "HEAD" ? undefined : randomBody(rng);
  const headers = randomHeaders(rng, body !== undefined);
  let res: Response;
  try {
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = typeof body === "string" ? body : new Blob([body as Uint8Array<ArrayBuffer>]);
    res = await fetch(base + path, init);
  } catch (err) {
    // A URL fetch refuses to send is not the daemon's problem; a refused connection is.
    const text = String(err);
    return { method, path, status: 0, problem: /ECONNREFUSED|ConnectionRefused|socket/i.test(text) ? `fetch failed: ${text}` : null };
  }
  const text = await res.text();
  let problem: string | null = null;
  if (res.status >= 500 && !(res.status === 503 && path.startsWith("/readyz"))) problem = `status ${res.status}: ${text.slice(0, 200)}`;
  else if (res.status >= 400 && method !== "HEAD") {
    try {
      const json = JSON.parse(text) as { error?: unknown };
      if (typeof json.error !== "string" || json.error === "") problem = `4xx without error string: ${text.slice(0, 200)}`;
    } catch {
      problem = `4xx body is not JSON: ${res.headers.get("content-type")} ${text.slice(0, 200)}`;
    }
  }
  return { method, path: path.slice(0, 120), status: res.status, problem };
}

/** Raw malformed HTTP on a socket: the server must answer or close, never hang or crash. */
function raw(port: number, payload: string | Uint8Array): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let got = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, 2000);
    socket.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (got.includes("\r\n\r\n")) done();
    });
    socket.on("error", done);
    socket.on("close", done);
    socket.on("connect", () => socket.end(payload));
  });
}

function rawPayloads(rng: Rng): string | Uint8Array {
  return rng.pick<() => string | Uint8Array>([
    () => "GARBAGE\r\n\r\n",
    () => `GET /api/v1/totals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: -1\r\n\r\n`,
    () => `POST /api/v1/users/alice/test-push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 10\r\n\r\n{"id`,
    () =>
      `POST /api/v1/users/alice/test-push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n`,
    () => `GET /${"a".repeat(70000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    () => `GET /api/v1/users/%ZZ/registrations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
    () => `GET /api/v1/users/a\u0000b/registrations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
    () => `GET /healthz HTTP/1.1\r\n${"X-H: y\r\n".repeat(2000)}\r\n`,
    () => `GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n`,
    () => new Uint8Array(Array.from({ length: rng.int(1, 4000) }, () => rng.int(0, 255))),
    () => `DELETE /api/v1/users/alice/registrations/%FF%3C HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
    () => `GET /api/v1/totals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\u00ff\r\n\r\n`,
  ])();
}

describe("admin API fuzz (compiled binary)", () => {
  let bridge: FakeBridge;
  let daemon: Daemon;

  beforeAll(async () => {
    await ensureBinary();
    bridge = await startFakeBridge({ secret: SECRET, host: HOST, componentDomain: COMP });
    daemon = await startDaemon({
      env: {
        CLOUD_NOTIFYD_HOST: HOST,
        CLOUD_NOTIFYD_COMPONENT_DOMAIN: COMP,
        CLOUD_NOTIFYD_COMPONENT_PORT: String(bridge.port),
        CLOUD_NOTIFYD_COMPONENT_SECRET: SECRET,
        CLOUD_NOTIFYD_ADMIN_TOKEN: TOKEN,
        CLOUD_NOTIFYD_LOG_LEVEL: "warn",
        CLOUD_NOTIFYD_PUSH_MAX_DEVICES: "1000",
      },
    });
    await daemon.waitReady();
    const conn = await bridge.ready();
    // Real data to hit: alice and bob each with registrations (node n1 … n3).
    const replies = new Map<string, Element>();
    bridge.onStanza((el) => {
      if (el.name === "iq") replies.set(String(el.attrs.id), el);
    });
    for (const user of ["alice", "bob"]) {
      for (const node of ["n1", "n2", "n3"]) {
        conn.write(
          `<iq type='set' from='${HOST}' to='${COMP}' id='seed-${user}-${node}'><request xmlns='${NS_BRIDGE}' user='${user}' session='s' full='${user}@${HOST}/r'>` +
            `<iq xmlns='jabber:client' type='set' id='c'><enable xmlns='urn:xmpp:push:0' jid='push.app.example' node='${node}'/></iq></request></iq>`,
        );
      }
    }
    const deadline = Date.now() + 5000;
    while (replies.size < 6 && Date.now() < deadline) await Bun.sleep(10);
    expect(replies.size).toBe(6);
  }, 30000);

  afterAll(async () => {
    if (daemon && daemon.proc.exitCode === null) await daemon.kill9();
    await bridge?.close();
  });

  test(`${REQUESTS} random requests + ${RAW_REQUESTS} raw malformed ones: never 5xx, never a crash, 4xx are JSON`, async () => {
    const rng = createRng(SEED);
    console.log(`admin-api fuzz: seed ${SEED} (replay with FUZZ_SEED=${SEED}), ${REQUESTS} requests`);
    const base = `http://127.0.0.1:${daemon.adminPort}`;
    const problems: Outcome[] = [];
    const statuses = new Map<number, number>();
    let done = 0;
    const started = Date.now();
    async function worker(): Promise<void> {
      while (done < REQUESTS) {
        done += 1;
        const o = await one(base, rng);
        statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
        if (o.problem !== null && problems.length < 30) problems.push(o);
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    let rawAnswered = 0;
    const rawStatuses = new Map<string, number>();
    for (let i = 0; i < RAW_REQUESTS; i++) {
      const answer = await raw(daemon.adminPort, rawPayloads(rng));
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? "closed";
      rawStatuses.set(status, (rawStatuses.get(status) ?? 0) + 1);
      if (status !== "closed") rawAnswered += 1;
      // 505 is Bun's own correct answer to "HTTP/9.9"; any other 5xx is ours.
      if (status.startsWith("5") && status !== "505" && problems.length < 30)
        problems.push({ method: "RAW", path: "", status: Number(status), problem: answer.slice(0, 200) });
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `admin-api fuzz: ${REQUESTS} requests in ${seconds} s, statuses ${[...statuses]
        .sort()
        .map(([s, n]) => `${s}×${n}`)
        .join(" ")}; ` + `raw: ${rawAnswered} answered, ${[...rawStatuses].map(([s, n]) => `${s}×${n}`).join(" ")}`,
    );
    expect(problems).toEqual([]);
    expect(daemon.proc.exitCode).toBeNull();
    expect(daemon.logs()).not.toContain("admin request failed");
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    // Enough requests got past authentication and validation to reach the handlers.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(REQUESTS / 20);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(REQUESTS / 100);
    expect(statuses.get(401) ?? 0).toBeGreaterThan(REQUESTS / 20);
  }, 120000);
});
