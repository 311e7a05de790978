/**
 * Issue 13: the admin API with several hosts: `user@host` everywhere, a bare local part refused,
 * an unconfigured host refused, and one local part on two hosts kept apart (the user list against
 * a real store).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";

import { createAdminApp } from "../../src/http/app.ts";
import type { UsersQuery } from "../../src/http/deps.ts";
import { parseUsersQuery } from "../../src/http/user-params.ts";
import { listUsersOnHosts } from "../../src/runtime/users-page.ts";
import { openStore } from "../../src/store/db.ts";
import type { Store } from "../../src/store/types.ts";
import { registration as storedRegistration } from "../store/store-contract.ts";
import { auth, fakeDeps, ID_PHONE, registration } from "./fake-deps.ts";

const HOSTS = ["a.example", "b.example"];
const enc = encodeURIComponent;

function setup() {
  const deps = fakeDeps({ hosts: HOSTS });
  deps.regs.clear();
  deps.regs.set("alice@a.example", [registration(ID_PHONE)]);
  deps.regs.set("alice@b.example", [registration("push.example.net<on-b"), registration("push.example.net<on-b2")]);
  const app = createAdminApp(deps);
  async function call(method: string, path: string) {
    const res = await app.request(path, { method, headers: auth() });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }
  return { deps, call };
}

describe("issue 13 admin API with two hosts", () => {
  test("user@host picks the host; JSON `user` is the bare JID", async () => {
    const { call, deps } = setup();
    const a = await call("GET", `/api/v1/users/${enc("alice@a.example")}/registrations`);
    const b = await call("GET", `/api/v1/users/${enc("Alice@B.Example")}/registrations`);
    expect(a).toMatchObject({ status: 200, json: { user: "alice@a.example" } });
    expect((a.json.registrations as unknown[]).length).toBe(1);
    expect(b).toMatchObject({ status: 200, json: { user: "alice@b.example" } });
    expect((b.json.registrations as unknown[]).length).toBe(2);
    const deleted = await call("DELETE", `/api/v1/users/${enc("alice@b.example")}/registrations`);
    expect(deleted).toMatchObject({ status: 200, json: { user: "alice@b.example", removed: 2 } });
    expect(deps.regs.get("alice@a.example")).toHaveLength(1);
  });

  test("a bare local part is a 400 on every user route, and so is a host not configured", async () => {
    const { call, deps } = setup();
    const routes: Array<[string, string]> = [
      ["GET", "/api/v1/users/alice/registrations"],
      ["DELETE", "/api/v1/users/alice/registrations"],
      ["DELETE", `/api/v1/users/alice/registrations/${enc(ID_PHONE)}`],
      ["POST", "/api/v1/users/alice/test-push"],
      ["GET", "/api/v1/users/alice/history"],
      ["GET", "/api/v1/removals?user=alice"],
    ];
    for (const [method, path] of routes) {
      expect(await call(method, path)).toEqual({
        status: 400,
        json: { error: "Cannot use user: give user@host: several hosts are configured (a.example, b.example)" },
      });
      const other = await call(method, path.replace("alice", enc("alice@c.example")));
      expect(other).toEqual({
        status: 400,
        json: { error: "Cannot use user: host c.example is not served here (hosts: a.example, b.example)" },
      });
    }
    expect(deps.calls).toEqual([]);
    expect((await call("GET", "/api/v1/removals")).status).toBe(200); // all users: no user needed
  });

  test("the users query takes host and a bare-JID cursor", () => {
    expect(parseUsersQuery({ prefix: "al", host: "B.example", after: "alice@b.example" }, HOSTS)).toEqual({
      ok: true,
      value: { prefix: "al", host: "b.example", after: "alice@b.example", limit: 50 },
    });
    expect(parseUsersQuery({ host: "c.example" }, HOSTS)).toEqual({
      ok: false,
      error: "Cannot use host: c.example is not served here (hosts: a.example, b.example)",
    });
    expect(parseUsersQuery({ after: "alice" }, HOSTS)).toEqual({
      ok: false,
      error: "Cannot use after: give user@host: several hosts are configured (a.example, b.example)",
    });
  });
});

describe("issue 13 user list over two hosts (real store)", () => {
  let store: Store;
  beforeAll(async () => {
    store = await openStore(":memory:", { hosts: HOSTS });
    const users = [
      "alice@a.example",
      "bo@a.example",
      "bob@a.example",
      "zed@a.example",
      "alice@b.example",
      "bob@b.example",
      "bobby@b.example",
    ];
    await store.apply(users.map((user) => ({ op: "upsert" as const, registration: storedRegistration({ user, identifier: "p<n" }) })));
  });
  afterAll(() => store.close());
  const list = (q: Partial<UsersQuery>) => listUsersOnHosts(store, HOSTS, { prefix: "", limit: 50, ...q });

  test("every host in turn, by host then local part; a prefix matches on each host", async () => {
    expect((await list({})).users).toEqual([
      "alice@a.example",
      "bo@a.example",
      "bob@a.example",
      "zed@a.example",
      "alice@b.example",
      "bob@b.example",
      "bobby@b.example",
    ]);
    expect(await list({ prefix: "bo" })).toEqual({
      users: ["bo@a.example", "bob@a.example", "bob@b.example", "bobby@b.example"],
      next: null,
    });
    expect(await list({ prefix: "bob", host: "b.example" })).toEqual({ users: ["bob@b.example", "bobby@b.example"], next: null });
    expect(await list({ prefix: "alice" })).toEqual({ users: ["alice@a.example", "alice@b.example"], next: null });
  });

  test("pages across the host boundary with next/after", async () => {
    const first = await list({ prefix: "bo", limit: 3 });
    expect(first).toEqual({ users: ["bo@a.example", "bob@a.example", "bob@b.example"], next: "bob@b.example" });
    expect(await list({ prefix: "bo", limit: 3, after: first.next! })).toEqual({ users: ["bobby@b.example"], next: null });
    const two = await list({ limit: 2, after: "zed@a.example" });
    expect(two).toEqual({ users: ["alice@b.example", "bob@b.example"], next: "bob@b.example" });
    expect(await list({ prefix: "a", after: "alice@a.example" })).toEqual({ users: ["alice@b.example"], next: null });
  });
});
