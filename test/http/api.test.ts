import { describe, expect, test } from "bun:test";

import { createAdminApp } from "../../src/http/app.ts";
import { auth, fakeDeps, ID_PHONE, ID_TABLET } from "./fake-deps.ts";
import type { FakeDeps } from "./fake-deps.ts";

function setup(deps: FakeDeps = fakeDeps()) {
  const app = createAdminApp(deps);
  async function call(method: string, path: string, body?: string) {
    const init: RequestInit = { method, headers: auth() };
    if (body !== undefined) init.body = body;
    const res = await app.request(path, init);
    return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
  }
  return { app, deps, call };
}

const enc = encodeURIComponent;

describe("GET /api/v1/users/:user/registrations", () => {
  test("lists the user's registrations with ISO times and bound sessions", async () => {
    const { call } = setup();
    const res = await call("GET", "/api/v1/users/alice/registrations");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.json).toEqual({
      user: "alice@example.com",
      registrations: [
        {
          identifier: ID_PHONE,
          jid: "push.example.net",
          node: "node-1",
          createdAt: "2026-11-25T15:00:00.000Z",
          updatedAt: "2026-11-25T15:00:01.000Z",
          errorCount: 0,
          lastError: null,
          lastErrorAt: null,
          boundSessions: ["sess-1"],
        },
        {
          identifier: ID_TABLET,
          jid: "tigase@push.example.org/res",
          node: "node/with spaces",
          createdAt: "2026-11-25T15:00:00.000Z",
          updatedAt: "2026-11-25T15:00:01.000Z",
          errorCount: 2,
          lastError: "cancel/item-not-found",
          lastErrorAt: "2026-11-25T15:00:05.000Z",
          boundSessions: [],
        },
      ],
    });
  });

  test("accepts a bare JID on our host, any case, and normalises the local part", async () => {
    const { call, deps } = setup();
    expect((await call("GET", "/api/v1/users/Alice@Example.COM/registrations")).status).toBe(200);
    expect((await call("GET", `/api/v1/users/${enc("alice@example.com")}/registrations`)).status).toBe(200);
    expect(deps.calls).toEqual([
      ["listRegistrations", "alice@example.com"],
      ["listRegistrations", "alice@example.com"],
    ]);
  });

  test("answers 404 JSON for a user with no registrations", async () => {
    const { call } = setup();
    const res = await call("GET", "/api/v1/users/nobody/registrations");
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ error: "Cannot find registrations: user nobody@example.com has none" });
  });
});

describe("invalid users are 400 on every user route", () => {
  const cases: Array<[string, string]> = [
    ["other host", enc("alice@evil.example")],
    ["full JID", enc("alice@example.com/phone")],
    ["empty local part", enc("@example.com")],
    ["space", enc("al ice")],
    ["quote", enc('al"ice')],
    ["ampersand", enc("al&ice")],
    ["apostrophe", enc("al'ice")],
    ["colon", enc("al:ice")],
    ["angle", enc("al<ice")],
    ["slash", enc("al/ice")],
    ["two ats", enc("a@b@example.com")],
    ["control char", enc("al\u0000ice")],
    ["newline", enc("al\nice")],
    ["fullwidth at (NFKC)", enc("alice\uff20example.com")],
    ["too long", "a".repeat(1024)],
    ["too long in bytes", enc("é".repeat(512))],
  ];
  const routes: Array<[string, (u: string) => string, string?]> = [
    ["GET", (u) => `/api/v1/users/${u}/registrations`],
    ["DELETE", (u) => `/api/v1/users/${u}/registrations`],
    ["DELETE", (u) => `/api/v1/users/${u}/registrations/${enc(ID_PHONE)}`],
    ["POST", (u) => `/api/v1/users/${u}/test-push`, "{}"],
    ["GET", (u) => `/api/v1/users/${u}/history`],
    ["GET", (u) => `/api/v1/removals?user=${u}`],
  ];
  for (const [label, user] of cases) {
    test(`400 for ${label}`, async () => {
      const { call, deps } = setup();
      for (const [method, path, body] of routes) {
        const res = await call(method, path(user), body);
        expect([path(user), res.status]).toEqual([path(user), 400]);
        expect(String(res.json["error"])).toStartWith("Cannot use user:");
      }
      expect(deps.calls).toEqual([]);
    });
  }

  test("accepts a local part of exactly 1023 bytes", async () => {
    const { call } = setup();
    expect((await call("GET", `/api/v1/users/${"a".repeat(1023)}/registrations`)).status).toBe(404);
  });

  test("says which host is expected for a JID on another host", async () => {
    const { call } = setup();
    const res = await call("GET", `/api/v1/users/${enc("alice@evil.example")}/registrations`);
    expect(res.json).toEqual({ error: "Cannot use user: host evil.example is not served here (hosts: example.com)" });
  });
});

describe("DELETE /api/v1/users/:user/registrations", () => {
  test("removes all of the user's registrations and reports how many", async () => {
    const { call, deps } = setup();
    const res = await call("DELETE", "/api/v1/users/alice/registrations");
    expect(res).toMatchObject({ status: 200, json: { user: "alice@example.com", removed: 2 } });
    expect(deps.calls).toEqual([["deleteRegistrations", "alice@example.com", undefined]]);
    expect((await call("GET", "/api/v1/users/alice/registrations")).status).toBe(404);
  });

  test("answers 404 when the user has none", async () => {
    const { call } = setup();
    expect((await call("DELETE", "/api/v1/users/nobody/registrations")).status).toBe(404);
  });
});

describe("DELETE /api/v1/users/:user/registrations/:identifier", () => {
  test("removes one registration named by its URL-encoded identifier (with '<', '/', spaces)", async () => {
    const { call, deps } = setup();
    const res = await call("DELETE", `/api/v1/users/alice/registrations/${enc(ID_TABLET)}`);
    expect(res).toMatchObject({ status: 200, json: { user: "alice@example.com", removed: 1 } });
    expect(deps.calls).toEqual([["deleteRegistrations", "alice@example.com", ID_TABLET]]);
    expect(deps.regs.get("alice@example.com")?.map((r) => r.identifier)).toEqual([ID_PHONE]);
  });

  test("answers 404 for an identifier the user does not have", async () => {
    const { call } = setup();
    const res = await call("DELETE", `/api/v1/users/alice/registrations/${enc("push.example.net<other")}`);
    expect(res.status).toBe(404);
    expect(res.json).toEqual({
      error: "Cannot delete registration: alice@example.com has no registration push.example.net<other",
    });
  });

  test("answers 400 for an identifier without '<', with a control character or too long", async () => {
    const { call, deps } = setup();
    for (const bad of ["push.example.net", "push.example.net<a\u0001", `x<${"n".repeat(4096)}`]) {
      const res = await call("DELETE", `/api/v1/users/alice/registrations/${enc(bad)}`);
      expect(res.status).toBe(400);
      expect(String(res.json["error"])).toStartWith("Cannot use identifier:");
    }
    expect(deps.calls).toEqual([]);
  });
});

describe("POST /api/v1/users/:user/test-push", () => {
  test("pushes to every registration when there is no body", async () => {
    const { call, deps } = setup();
    const res = await call("POST", "/api/v1/users/alice/test-push");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      user: "alice@example.com",
      results: [
        { identifier: ID_PHONE, outcome: "ok", error: null, latencyMs: 12 },
        { identifier: ID_TABLET, outcome: "error", error: "cancel/item-not-found", latencyMs: 40 },
      ],
    });
    expect(deps.calls).toEqual([["testPush", "alice@example.com", undefined]]);
  });

  test("pushes to one registration named in the JSON body", async () => {
    const { call, deps } = setup();
    const res = await call("POST", "/api/v1/users/alice/test-push", JSON.stringify({ identifier: ID_PHONE }));
    expect(res.status).toBe(200);
    expect((res.json["results"] as unknown[]).length).toBe(1);
    expect(deps.calls).toEqual([["testPush", "alice@example.com", ID_PHONE]]);
  });

  test("treats {} and {identifier:null} as all registrations", async () => {
    const { call, deps } = setup();
    expect((await call("POST", "/api/v1/users/alice/test-push", "{}")).status).toBe(200);
    expect((await call("POST", "/api/v1/users/alice/test-push", '{"identifier":null}')).status).toBe(200);
    expect(deps.calls).toEqual([
      ["testPush", "alice@example.com", undefined],
      ["testPush", "alice@example.com", undefined],
    ]);
  });

  test("answers 404 for a user without registrations or an unknown identifier", async () => {
    const { call } = setup();
    expect((await call("POST", "/api/v1/users/nobody/test-push")).status).toBe(404);
    const res = await call("POST", "/api/v1/users/alice/test-push", JSON.stringify({ identifier: "x<y" }));
    expect(res).toMatchObject({ status: 404, json: { error: "Cannot test push: alice@example.com has no registration x<y" } });
  });

  test("answers 400 for bad JSON, a non-object body or a bad identifier", async () => {
    const { call, deps } = setup();
    const bodies: Array<[string, string]> = [
      ["{bad", "Cannot parse body: invalid JSON"],
      ["[1]", "Cannot use body: expected a JSON object"],
      ['"x<y"', "Cannot use body: expected a JSON object"],
      ["null", "Cannot use body: expected a JSON object"],
      ['{"identifier":42}', "Cannot use identifier: expected a string"],
      ['{"identifier":"no-angle"}', "Cannot use identifier: expected the form jid<node, as listed by the API"],
      ['{"identifier":""}', "Cannot use identifier: it is empty"],
    ];
    for (const [body, error] of bodies) {
      const res = await call("POST", "/api/v1/users/alice/test-push", body);
      expect([body, res.status, res.json]).toEqual([body, 400, { error }]);
    }
    expect(deps.calls).toEqual([]);
  });

  test("answers 413 JSON for a body over 64 KiB, with or without Content-Length", async () => {
    const { app, deps } = setup();
    const big = JSON.stringify({ identifier: ID_PHONE, pad: "x".repeat(70_000) });
    const withLength = await app.request("/api/v1/users/alice/test-push", {
      method: "POST",
      headers: { ...auth(), "Content-Length": String(big.length) },
      body: big,
    });
    expect(withLength.status).toBe(413);
    expect(await withLength.json()).toEqual({ error: "Cannot read body: larger than 65536 bytes" });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode("x".repeat(10_000)));
        controller.close();
      },
    });
    const chunked = await app.request("/api/v1/users/alice/test-push", {
      method: "POST",
      headers: auth(),
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(deps.calls).toEqual([]);
  });

  test("accepts a body of just under 64 KiB", async () => {
    const { call } = setup();
    const body = JSON.stringify({ identifier: ID_PHONE, pad: "x".repeat(60_000) });
    expect((await call("POST", "/api/v1/users/alice/test-push", body)).status).toBe(200);
  });
});

describe("GET /api/v1/users/:user/history", () => {
  test("returns the user's history newest first with ISO times", async () => {
    const { call, deps } = setup();
    const res = await call("GET", "/api/v1/users/alice/history");
    expect(res.status).toBe(200);
    const rows = res.json["history"] as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(5);
    expect(rows[0]).toEqual({
      at: "2026-11-25T15:00:04.000Z",
      identifier: ID_PHONE,
      publishId: "p4",
      trigger: "offline",
      important: true,
      outcome: "ok",
      latencyMs: 14,
      error: null,
    });
    expect(deps.calls).toEqual([["history", { user: "alice@example.com", limit: 100 }]]);
  });

  test("filters by identifier and passes the limit", async () => {
    const { call, deps } = setup();
    const res = await call("GET", `/api/v1/users/alice/history?identifier=${enc(ID_TABLET)}&limit=1`);
    expect(res.status).toBe(200);
    expect((res.json["history"] as Array<{ publishId: string }>).map((r) => r.publishId)).toEqual(["p3"]);
    expect(deps.calls).toEqual([["history", { user: "alice@example.com", identifier: ID_TABLET, limit: 1 }]]);
  });

  test("returns an empty list (not 404) for a user without history; empty params mean absent", async () => {
    const { call, deps } = setup();
    const res = await call("GET", "/api/v1/users/nobody/history?identifier=&limit=");
    expect(res).toMatchObject({ status: 200, json: { user: "nobody@example.com", history: [] } });
    expect(deps.calls).toEqual([["history", { user: "nobody@example.com", limit: 100 }]]);
  });

  test("clamps limit to 1..1000", async () => {
    const { call, deps } = setup();
    for (const limit of ["0", "-5", "5000", "+7", "99999999999999999999"]) {
      expect((await call("GET", `/api/v1/users/alice/history?limit=${enc(limit)}`)).status).toBe(200);
    }
    expect(deps.calls.map((c) => (c[1] as { limit: number }).limit)).toEqual([1, 1, 1000, 7, 1000]);
  });

  test("answers 400 for a non-numeric limit or a bad identifier", async () => {
    const { call, deps } = setup();
    for (const q of ["limit=ten", "limit=1.5", "limit=1e3", "limit=%20", "limit=0x10", "identifier=noangle"]) {
      const res = await call("GET", `/api/v1/users/alice/history?${q}`);
      expect([q, res.status]).toEqual([q, 400]);
    }
    expect(deps.calls).toEqual([]);
  });

  test("never returns more rows than the limit even if deps do", async () => {
    const deps = fakeDeps();
    deps.history = async () => deps.historyRows;
    const { call } = setup(deps);
    const res = await call("GET", "/api/v1/users/alice/history?limit=2");
    expect((res.json["history"] as unknown[]).length).toBe(2);
  });

  test("D17 does not pass through fields the API does not define", async () => {
    const deps = fakeDeps();
    deps.history = async () => deps.historyRows.map((r) => ({ ...r, body: "hello", stanza: "<message/>" }));
    const { call } = setup(deps);
    const res = await call("GET", "/api/v1/users/alice/history");
    const row = (res.json["history"] as Array<Record<string, unknown>>)[0] ?? {};
    expect(Object.keys(row).sort()).toEqual(["at", "error", "identifier", "important", "latencyMs", "outcome", "publishId", "trigger"]);
  });
});

describe("GET /api/v1/removals", () => {
  test("returns all removals, or one user's", async () => {
    const { call, deps } = setup();
    const all = await call("GET", "/api/v1/removals");
    expect(all.status).toBe(200);
    expect(all.json).toEqual({
      removals: [
        {
          at: "2026-11-25T15:00:00.000Z",
          user: "bob@example.com",
          identifier: "push.example.net<b",
          reason: "max-errors",
          detail: "cancel/not-allowed",
        },
        { at: "2026-11-25T15:00:00.001Z", user: "alice@example.com", identifier: "push.example.net<old", reason: "evicted", detail: null },
      ],
    });
    const one = await call("GET", `/api/v1/removals?user=${enc("Bob@example.com")}&limit=5`);
    expect((one.json["removals"] as unknown[]).length).toBe(1);
    expect(deps.calls).toEqual([
      ["removals", { limit: 100 }],
      ["removals", { user: "bob@example.com", limit: 5 }],
    ]);
  });

  test("answers 400 for a bad limit", async () => {
    const { call } = setup();
    expect((await call("GET", "/api/v1/removals?limit=abc")).status).toBe(400);
  });
});

describe("GET /api/v1/totals", () => {
  test("returns the runtime's totals", async () => {
    const { call } = setup();
    const res = await call("GET", "/api/v1/totals");
    expect(res).toMatchObject({ status: 200, json: { totals: { registrations: 2, pushes: 5 } } });
  });
});
