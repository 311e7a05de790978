/**
 * The Store contract, run against each driver (store-sqlite.test.ts, store-remote.test.ts).
 * @module
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Registration } from "../../src/core/types.ts";
import type { HistoryRow, Store } from "../../src/store/types.ts";

export function registration(over: Partial<Registration> & { user: string; identifier: string }): Registration {
  return {
    jid: "push.example.net",
    node: over.identifier,
    includePayload: false,
    publishOptions: null,
    clientId: null,
    resource: null,
    language: null,
    createdAt: 1_000,
    updatedAt: 1_000,
    errorCount: 0,
    lastError: null,
    lastErrorAt: null,
    ...over,
  };
}

export function historyRow(over: Partial<HistoryRow> & { at: number }): HistoryRow {
  return {
    user: "alice@a.example",
    identifier: "push.example.net<a",
    publishId: null,
    trigger: "offline",
    important: true,
    outcome: "sent",
    ...over,
  };
}

/** Registers the contract tests; `open` returns a fresh, empty, migrated store each time. */
export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`${name} store contract`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    test("ping() answers true on an open store and false after close()", async () => {
      expect(await store.ping()).toBe(true);
      await store.close();
      expect(await store.ping()).toBe(false);
      await store.close(); // idempotent
    });

    test("upsert stores every Registration field and listByUser() returns it unchanged", async () => {
      const full = registration({
        user: "alice@a.example",
        identifier: "push.example.net<n1",
        node: "n1",
        includePayload: true,
        publishOptions: "<x xmlns='jabber:x:data' type='submit'><field var='secret'><value>s3</value></field></x>",
        clientId: "c-1",
        resource: "phone",
        language: "de",
        createdAt: 1_700_000_000_123,
        updatedAt: 1_700_000_000_456,
        errorCount: 3,
        lastError: "cancel/item-not-found",
        lastErrorAt: 1_700_000_000_789,
      });
      await store.apply([{ op: "upsert", registration: full }]);
      expect(await store.listByUser("alice@a.example")).toEqual([full]);
      expect(await store.listByUser("bob@a.example")).toEqual([]);
    });

    test("upsert with an existing identifier replaces the stored registration", async () => {
      const first = registration({ user: "alice@a.example", identifier: "a", resource: "r1", errorCount: 5, lastError: "x" });
      const second = registration({ user: "alice@a.example", identifier: "a", resource: "r2", updatedAt: 2_000, node: null });
      await store.apply([{ op: "upsert", registration: first }]);
      await store.apply([{ op: "upsert", registration: second }]);
      expect(await store.listByUser("alice@a.example")).toEqual([second]);
      expect(await store.countRegistrations()).toBe(1);
    });

    test("listByUser() returns only that user's registrations, ordered by identifier", async () => {
      await store.apply([
        { op: "upsert", registration: registration({ user: "alice@a.example", identifier: "c" }) },
        { op: "upsert", registration: registration({ user: "alice@a.example", identifier: "a" }) },
        { op: "upsert", registration: registration({ user: "bob@a.example", identifier: "b" }) },
      ]);
      expect((await store.listByUser("alice@a.example")).map((r) => r.identifier)).toEqual(["a", "c"]);
      expect((await store.listByUser("bob@a.example")).map((r) => r.identifier)).toEqual(["b"]);
    });

    test("listByUser() orders identifiers by code point, as SQLite's BINARY collation does", async () => {
      const ids = ["a\u{1F600}", "a\uFFFD", "a", "ab", "a\u00E9", "A"];
      await store.apply(
        ids.map((identifier) => ({ op: "upsert" as const, registration: registration({ user: "alice@a.example", identifier }) })),
      );
      expect((await store.listByUser("alice@a.example")).map((r) => r.identifier)).toEqual([
        "A",
        "a",
        "ab",
        "a\u00E9",
        "a\uFFFD",
        "a\u{1F600}",
      ]);
    });

    test("delete removes only the listed identifiers of that user", async () => {
      await store.apply([
        { op: "upsert", registration: registration({ user: "alice@a.example", identifier: "a" }) },
        { op: "upsert", registration: registration({ user: "alice@a.example", identifier: "b" }) },
        { op: "upsert", registration: registration({ user: "alice@a.example", identifier: "c" }) },
        { op: "upsert", registration: registration({ user: "bob@a.example", identifier: "a" }) },
      ]);
      await store.apply([{ op: "delete", user: "alice@a.example", identifiers: ["a", "c", "missing"] }]);
      await store.apply([{ op: "delete", user: "alice@a.example", identifiers: [] }]);
      expect((await store.listByUser("alice@a.example")).map((r) => r.identifier)).toEqual(["b"]);
      expect((await store.listByUser("bob@a.example")).map((r) => r.identifier)).toEqual(["a"]);
    });

    test("D13 error-count op writes the counter and the last error of one registration", async () => {
      await store.apply([
        { op: "upsert", registration: registration({ user: "alice@a.example", identifier: "a" }) },
        { op: "upsert", registration: registration({ user: "alice@a.example", identifier: "b" }) },
      ]);
      await store.apply([
        { op: "error-count", user: "alice@a.example", identifier: "a", errorCount: 7, lastError: "cancel/gone", lastErrorAt: 5_000 },
      ]);
      const [a, b] = await store.listByUser("alice@a.example");
      expect(a).toMatchObject({ identifier: "a", errorCount: 7, lastError: "cancel/gone", lastErrorAt: 5_000 });
      expect(b).toMatchObject({ identifier: "b", errorCount: 0, lastError: null, lastErrorAt: null });
      await store.apply([
        { op: "error-count", user: "alice@a.example", identifier: "a", errorCount: 0, lastError: null, lastErrorAt: null },
      ]);
      expect((await store.listByUser("alice@a.example"))[0]).toMatchObject({ errorCount: 0, lastError: null, lastErrorAt: null });
    });

    test("D14 delete-user removes the user's registrations, push history and removal records, nobody else's", async () => {
      await store.apply([
        { op: "upsert", registration: registration({ user: "alice@a.example", identifier: "a" }) },
        { op: "upsert", registration: registration({ user: "alice@a.example", identifier: "b" }) },
        { op: "upsert", registration: registration({ user: "bob@a.example", identifier: "a" }) },
      ]);
      await store.addHistory([historyRow({ at: 1, user: "alice@a.example" }), historyRow({ at: 2, user: "bob@a.example" })]);
      await store.addRemoval({ at: 3, user: "alice@a.example", identifier: "z", jid: "p", node: "n", reason: "disabled", detail: null });
      await store.addRemoval({ at: 4, user: "bob@a.example", identifier: "z", jid: "p", node: "n", reason: "disabled", detail: null });
      await store.apply([{ op: "delete-user", user: "alice@a.example" }]);
      expect(await store.listByUser("alice@a.example")).toEqual([]);
      expect(await store.listHistory({ user: "alice@a.example", limit: 10 })).toEqual([]);
      expect(await store.listRemovals({ user: "alice@a.example", limit: 10 })).toEqual([]);
      expect(await store.listByUser("bob@a.example")).toHaveLength(1);
      expect(await store.listHistory({ user: "bob@a.example", limit: 10 })).toHaveLength(1);
      expect(await store.listRemovals({ user: "bob@a.example", limit: 10 })).toHaveLength(1);
    });

    test("D4 apply() is atomic: a failing op rolls back every op of the batch", async () => {
      const kept = registration({ user: "alice@a.example", identifier: "kept" });
      await store.apply([{ op: "upsert", registration: kept }]);
      // jid is NOT NULL: the third op violates a constraint after two ops already ran.
      const broken = { ...registration({ user: "alice@a.example", identifier: "bad" }), jid: null as unknown as string };
      const batch = store.apply([
        { op: "upsert", registration: registration({ user: "alice@a.example", identifier: "new" }) },
        { op: "delete", user: "alice@a.example", identifiers: ["kept"] },
        { op: "upsert", registration: broken },
      ]);
      await expect(batch).rejects.toThrow(/NOT NULL/);
      expect(await store.listByUser("alice@a.example")).toEqual([kept]);
      // and the store still works afterwards
      await store.apply([{ op: "upsert", registration: registration({ user: "alice@a.example", identifier: "new" }) }]);
      expect(await store.countRegistrations()).toBe(2);
    });

    test("apply() rejects once the store is closed", async () => {
      await store.close();
      await expect(store.apply([{ op: "upsert", registration: registration({ user: "a@a.example", identifier: "a" }) }])).rejects.toThrow();
    });

    test("apply([]) is a no-op", async () => {
      await store.apply([]);
      expect(await store.countRegistrations()).toBe(0);
    });

    test("countRegistrations() counts across users", async () => {
      expect(await store.countRegistrations()).toBe(0);
      await store.apply([
        { op: "upsert", registration: registration({ user: "alice@a.example", identifier: "a" }) },
        { op: "upsert", registration: registration({ user: "alice@a.example", identifier: "b" }) },
        { op: "upsert", registration: registration({ user: "bob@a.example", identifier: "a" }) },
      ]);
      expect(await store.countRegistrations()).toBe(3);
    });

    test("listUsers() pages distinct users in ascending order after a cursor", async () => {
      const users = ["dave@a.example", "alice@a.example", "carol@a.example", "bob@a.example", "erin@a.example"];
      await store.apply(
        users.flatMap((user) => [
          { op: "upsert" as const, registration: registration({ user, identifier: "a" }) },
          { op: "upsert" as const, registration: registration({ user, identifier: "b" }) },
        ]),
      );
      expect(await store.listUsers({ limit: 2 })).toEqual(["alice@a.example", "bob@a.example"]);
      expect(await store.listUsers({ limit: 2, after: "bob@a.example" })).toEqual(["carol@a.example", "dave@a.example"]);
      expect(await store.listUsers({ limit: 2, after: "dave@a.example" })).toEqual(["erin@a.example"]);
      expect(await store.listUsers({ limit: 2, after: "erin@a.example" })).toEqual([]);
      expect(await store.listUsers({ limit: 100 })).toEqual([
        "alice@a.example",
        "bob@a.example",
        "carol@a.example",
        "dave@a.example",
        "erin@a.example",
      ]);
    });

    test("addHistory() stores rows in batches and listHistory() returns the newest first", async () => {
      // 1203 rows cross the 500-row statement chunking twice.
      const rows = Array.from({ length: 1203 }, (_, i) => historyRow({ at: 10_000 + i, publishId: `p${i}` }));
      await store.addHistory(rows);
      const newest = await store.listHistory({ user: "alice@a.example", limit: 3 });
      expect(newest.map((r) => r.publishId)).toEqual(["p1202", "p1201", "p1200"]);
      expect(await store.listHistory({ user: "alice@a.example", limit: 5000 })).toHaveLength(1203);
      await store.addHistory([]);
    });

    test("listHistory() returns every field, nulls for absent optional ones, and filters by identifier", async () => {
      await store.addHistory([
        historyRow({ at: 1, identifier: "a", publishId: "p1", trigger: "archive", important: false, outcome: "ok", latencyMs: 42 }),
        historyRow({ at: 2, identifier: "b", publishId: null, trigger: null, outcome: "error", error: "cancel/gone" }),
        historyRow({ at: 3, identifier: "a", user: "bob@a.example" }),
      ]);
      const all = await store.listHistory({ user: "alice@a.example", limit: 10 });
      expect(all.map(({ id: _id, ...rest }) => rest)).toEqual([
        {
          at: 2,
          user: "alice@a.example",
          identifier: "b",
          publishId: null,
          trigger: null,
          important: true,
          outcome: "error",
          latencyMs: null,
          error: "cancel/gone",
        },
        {
          at: 1,
          user: "alice@a.example",
          identifier: "a",
          publishId: "p1",
          trigger: "archive",
          important: false,
          outcome: "ok",
          latencyMs: 42,
          error: null,
        },
      ]);
      const onlyA = await store.listHistory({ user: "alice@a.example", identifier: "a", limit: 10 });
      expect(onlyA.map((r) => r.publishId)).toEqual(["p1"]);
    });

    test("addHistory() is atomic: one bad row inserts nothing", async () => {
      const bad = { ...historyRow({ at: 2 }), outcome: null as unknown as "sent" };
      await expect(store.addHistory([historyRow({ at: 1 }), bad])).rejects.toThrow();
      expect(await store.listHistory({ user: "alice@a.example", limit: 10 })).toEqual([]);
    });

    test("addRemoval() and listRemovals() keep the reason, newest first, optionally per user", async () => {
      await store.addRemoval({
        at: 1,
        user: "alice@a.example",
        identifier: "a",
        jid: "p.example",
        node: "n",
        reason: "evicted",
        detail: null,
      });
      await store.addRemoval({
        at: 3,
        user: "bob@a.example",
        identifier: "b",
        jid: null,
        node: null,
        reason: "max-errors",
        detail: "cancel/item-not-found",
      });
      await store.addRemoval({
        at: 2,
        user: "alice@a.example",
        identifier: "c",
        jid: "p.example",
        node: null,
        reason: "disabled",
        detail: null,
      });
      const all = await store.listRemovals({ limit: 10 });
      expect(all.map((r) => [r.at, r.user, r.reason])).toEqual([
        [3, "bob@a.example", "max-errors"],
        [2, "alice@a.example", "disabled"],
        [1, "alice@a.example", "evicted"],
      ]);
      expect(all[0]).toMatchObject({ identifier: "b", jid: null, node: null, detail: "cancel/item-not-found" });
      expect((await store.listRemovals({ user: "alice@a.example", limit: 1 })).map((r) => r.identifier)).toEqual(["c"]);
    });

    test("addRemovals() keeps only each user's newest 100 rows, in the same write", async () => {
      const rows = (user: string, from: number, n: number) =>
        Array.from({ length: n }, (_, i) => ({
          at: from + i,
          user,
          identifier: `id${from + i}`,
          jid: "p",
          node: null,
          reason: "evicted" as const,
          detail: null,
        }));
      expect(await store.addRemovals(rows("alice@a.example", 0, 150))).toBe(50);
      expect(await store.addRemovals(rows("bob@a.example", 0, 3))).toBe(0);
      await store.addRemoval(rows("alice@a.example", 150, 1)[0]!);
      const alice = await store.listRemovals({ user: "alice@a.example", limit: 1000 });
      expect(alice).toHaveLength(100);
      expect(alice[0]!.at).toBe(150);
      expect(alice.at(-1)!.at).toBe(51);
      expect(await store.listRemovals({ user: "bob@a.example", limit: 1000 })).toHaveLength(3);
      expect(await store.addRemovals([])).toBe(0);
    });

    test("pruneRemovals() deletes rows older than the cutoff and every user's rows beyond 100", async () => {
      await store.addRemovals(
        [100, 199, 200, 300].map((at) => ({
          at,
          user: "alice@a.example",
          identifier: "a",
          jid: null,
          node: null,
          reason: "disabled" as const,
          detail: null,
        })),
      );
      expect(await store.pruneRemovals(200)).toBe(2);
      expect((await store.listRemovals({ user: "alice@a.example", limit: 10 })).map((r) => r.at)).toEqual([300, 200]);
      expect(await store.pruneRemovals(200)).toBe(0);
    });

    describe("issue 13: one local part on two hosts is two users", () => {
      const A = "alice@a.example";
      const B = "alice@b.example";

      test("listByUser(), upsert of the same identifier, delete and error-count never cross hosts", async () => {
        await store.apply([
          { op: "upsert", registration: registration({ user: A, identifier: "x", resource: "on-a" }) },
          { op: "upsert", registration: registration({ user: B, identifier: "x", resource: "on-b" }) },
          { op: "upsert", registration: registration({ user: B, identifier: "y" }) },
        ]);
        expect(await store.countRegistrations()).toBe(3);
        expect((await store.listByUser(A)).map((r) => [r.user, r.identifier, r.resource])).toEqual([[A, "x", "on-a"]]);
        expect((await store.listByUser(B)).map((r) => [r.user, r.identifier])).toEqual([
          [B, "x"],
          [B, "y"],
        ]);
        await store.apply([{ op: "error-count", user: B, identifier: "x", errorCount: 2, lastError: "cancel/gone", lastErrorAt: 7 }]);
        expect((await store.listByUser(A))[0]).toMatchObject({ errorCount: 0, lastError: null });
        await store.apply([{ op: "delete", user: A, identifiers: ["x", "y"] }]);
        expect(await store.listByUser(A)).toEqual([]);
        expect((await store.listByUser(B)).map((r) => [r.identifier, r.errorCount])).toEqual([
          ["x", 2],
          ["y", 0],
        ]);
      });

      test("delete-user deletes one host's user with its history and removals, not the other host's", async () => {
        await store.apply([
          { op: "upsert", registration: registration({ user: A, identifier: "x" }) },
          { op: "upsert", registration: registration({ user: B, identifier: "x" }) },
        ]);
        await store.addHistory([historyRow({ at: 1, user: A }), historyRow({ at: 2, user: B })]);
        await store.addRemovals([
          { at: 3, user: A, identifier: "z", jid: null, node: null, reason: "disabled", detail: null },
          { at: 4, user: B, identifier: "z", jid: null, node: null, reason: "disabled", detail: null },
        ]);
        await store.apply([{ op: "delete-user", user: B }]);
        expect(await store.listByUser(B)).toEqual([]);
        expect(await store.listHistory({ user: B, limit: 10 })).toEqual([]);
        expect(await store.listRemovals({ user: B, limit: 10 })).toEqual([]);
        expect(await store.listByUser(A)).toHaveLength(1);
        expect((await store.listHistory({ user: A, limit: 10 })).map((r) => [r.user, r.at])).toEqual([[A, 1]]);
        expect((await store.listRemovals({ limit: 10 })).map((r) => [r.user, r.at])).toEqual([[A, 3]]);
      });

      test("history and removals are read per (host, user) and come back as bare JIDs", async () => {
        await store.addHistory([historyRow({ at: 1, user: A, publishId: "pa" }), historyRow({ at: 2, user: B, publishId: "pb" })]);
        expect((await store.listHistory({ user: A, limit: 10 })).map((r) => [r.user, r.publishId])).toEqual([[A, "pa"]]);
        expect((await store.listHistory({ user: B, identifier: "push.example.net<a", limit: 10 })).map((r) => r.publishId)).toEqual(["pb"]);
        await store.addRemoval({ at: 5, user: A, identifier: "i", jid: "p", node: "n", reason: "evicted", detail: null });
        await store.addRemoval({ at: 6, user: B, identifier: "i", jid: "p", node: "n", reason: "max-errors", detail: null });
        expect((await store.listRemovals({ user: A, limit: 10 })).map((r) => [r.user, r.reason])).toEqual([[A, "evicted"]]);
        expect((await store.listRemovals({ limit: 10 })).map((r) => r.user)).toEqual([B, A]);
      });

      test("the removal cap of 100 counts per (host, user)", async () => {
        const rows = (user: string, n: number) =>
          Array.from({ length: n }, (_, i) => ({
            at: i,
            user,
            identifier: `id${i}`,
            jid: null,
            node: null,
            reason: "evicted" as const,
            detail: null,
          }));
        expect(await store.addRemovals([...rows(A, 80), ...rows(B, 80)])).toBe(0);
        expect(await store.addRemovals(rows(B, 30))).toBe(10);
        expect(await store.listRemovals({ user: A, limit: 1000 })).toHaveLength(80);
        expect(await store.listRemovals({ user: B, limit: 1000 })).toHaveLength(100);
        await store.addRemovals(rows(A, 20));
        expect(await store.pruneRemovals(0)).toBe(0); // nobody is beyond 100 now
        expect(await store.listRemovals({ user: A, limit: 1000 })).toHaveLength(100);
      });

      test("listUsers() pages by (host, local part) across hosts; disabled marks are per host", async () => {
        const users = ["bob@b.example", B, "bob@a.example", A, "carol@a.example"];
        await store.apply(users.map((user) => ({ op: "upsert" as const, registration: registration({ user, identifier: "i" }) })));
        expect(await store.listUsers({ limit: 100 })).toEqual([A, "bob@a.example", "carol@a.example", B, "bob@b.example"]);
        expect(await store.listUsers({ limit: 2, after: "carol@a.example" })).toEqual([B, "bob@b.example"]);
        expect(await store.listUsers({ limit: 2, after: B })).toEqual(["bob@b.example"]);
        await store.apply([{ op: "user-flag", user: B, disabled: true, at: 1 }]);
        expect(await store.listDisabledUsers()).toEqual([B]);
        await store.apply([{ op: "user-flag", user: A, disabled: false, at: 2 }]);
        expect(await store.listDisabledUsers()).toEqual([B]);
      });
    });

    test("pruneHistory() deletes rows older than the cutoff and returns how many", async () => {
      await store.addHistory([historyRow({ at: 100 }), historyRow({ at: 199 }), historyRow({ at: 200 }), historyRow({ at: 300 })]);
      expect(await store.pruneHistory(200)).toBe(2);
      expect((await store.listHistory({ user: "alice@a.example", limit: 10 })).map((r) => r.at)).toEqual([300, 200]);
      expect(await store.pruneHistory(200)).toBe(0);
    });
  });
}
