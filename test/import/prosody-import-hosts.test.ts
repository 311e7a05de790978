/**
 * Issue 13: `import-prosody` takes every configured host of a Prosody data directory in one run.
 * The files are written here in the layout and format a real Prosody writes (proven against a
 * real one in prosody-import.test.ts: `<data>/<encode host>/cloud_notify/<encode user>.dat`).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importProsody } from "../../src/cli/import-prosody.ts";
import type { Config } from "../../src/config.ts";
import { loadConfig } from "../../src/config.ts";
import { encodeStoreName } from "../../src/import/prosody.ts";
import { createNullLogger } from "../../src/log.ts";
import { openStore } from "../../src/store/db.ts";

const work = mkdtempSync(join(tmpdir(), "cnd-import-hosts-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A data directory with alice on a.example (2 registrations), alice and bob on b.example, carol on c.example. */
function dataDir(name: string): string {
  const dir = join(work, name);
  const user = (host: string, local: string, nodes: string[]) => {
    const store = join(dir, encodeStoreName(host), "cloud_notify");
    mkdirSync(store, { recursive: true });
    const entries = nodes.map(
      (n, i) => `\t["push.example<${n}"] = { ["jid"] = "push.example"; ["node"] = "${n}"; ["timestamp"] = ${1700000000 + i}; };`,
    );
    writeFileSync(join(store, `${encodeStoreName(local)}.dat`), `return {\n${entries.join("\n")}\n};\n`);
  };
  user("a.example", "alice", ["a1", "a2"]);
  user("b.example", "alice", ["b1"]);
  user("b.example", "bob", ["b2", "b3", "b4"]);
  user("c.example", "carol", ["c1"]);
  // A host directory without cloud_notify (another module's store) is not a host to import.
  mkdirSync(join(dir, encodeStoreName("push.a.example"), "roster"), { recursive: true });
  return dir;
}

function configFor(storeUrl: string, env: Record<string, string>): Config {
  const loaded = loadConfig({ CLOUD_NOTIFYD_STORE_URL: storeUrl, ...env }, [], { requireSecret: false });
  if (!loaded.ok) throw new Error(loaded.error);
  return loaded.config;
}

async function run(args: string[], config: Config): Promise<{ code: number; output: string }> {
  let output = "";
  const code = await importProsody(args, { config, log: createNullLogger(), out: { write: (s) => void (output += s) } });
  return { code, output };
}

describe("issue 13 import-prosody with several hosts", () => {
  test("one run imports every configured host as user@host and lists the unconfigured ones as skipped", async () => {
    const dir = dataDir("two");
    const storeUrl = `file:${join(work, "two.db")}`;
    const hosts = ["a.example", "b.example"];
    const { code, output } = await run([dir], configFor(storeUrl, { CLOUD_NOTIFYD_HOSTS: hosts.join(",") }));
    expect(code).toBe(0);
    expect(output).toContain(`skipped host c.example: not in hosts (${join(dir, "c%2eexample", "cloud_notify")})\n`);
    expect(output).toContain(`host a.example: 1 user files (${join(dir, "a%2eexample", "cloud_notify")})\n`);
    expect(output).toContain(`host b.example: 2 user files (${join(dir, "b%2eexample", "cloud_notify")})\n`);
    expect(output).not.toContain("push.a.example");
    expect(output).toMatch(/^users: +3$/m);
    expect(output).toMatch(/^imported: +6$/m);

    const store = await openStore(storeUrl, { hosts });
    try {
      expect(await store.listUsers({ limit: 10 })).toEqual(["alice@a.example", "alice@b.example", "bob@b.example"]);
      expect((await store.listByUser("alice@a.example")).map((r) => [r.user, r.node])).toEqual([
        ["alice@a.example", "a1"],
        ["alice@a.example", "a2"],
      ]);
      expect((await store.listByUser("alice@b.example")).map((r) => [r.user, r.node])).toEqual([["alice@b.example", "b1"]]);
      expect(await store.listByUser("carol@c.example")).toEqual([]);
    } finally {
      await store.close();
    }

    // Again: nothing changes, per host.
    const again = await run([dir], configFor(storeUrl, { CLOUD_NOTIFYD_HOSTS: hosts.join(",") }));
    expect(again.output).toMatch(/^unchanged: +6$/m);
    expect(again.output).toMatch(/^imported: +0$/m);
  });

  test("--host limits the run to that host; push_max_devices is the host's own", async () => {
    const dir = dataDir("one");
    const storeUrl = `file:${join(work, "one.db")}`;
    const toml = join(work, "one.toml");
    writeFileSync(toml, `hosts = ["a.example", "b.example"]\n[hosts_options."b.example"]\npush_max_devices = 2\n`);
    const loaded = loadConfig({ CLOUD_NOTIFYD_STORE_URL: storeUrl }, ["--config", toml], { requireSecret: false });
    if (!loaded.ok) throw new Error(loaded.error);
    const { code, output } = await run([dir, "--host", "b.example"], loaded.config);
    expect(code).toBe(0);
    expect(output).not.toContain("a.example:");
    expect(output).toContain("push.example<b2 not imported: over push_max_devices (2)");
    expect(output).toMatch(/^skipped \(over push_max_devices\): +1$/m);
    const store = await openStore(storeUrl, { hosts: ["a.example", "b.example"] });
    try {
      expect(await store.listUsers({ limit: 10 })).toEqual(["alice@b.example", "bob@b.example"]);
      expect((await store.listByUser("bob@b.example")).map((r) => r.node)).toEqual(["b3", "b4"]);
    } finally {
      await store.close();
    }
  });

  test("a configured host without data is noted; none of them found is an error", async () => {
    const dir = dataDir("notes");
    const storeUrl = `file:${join(work, "notes.db")}`;
    const noted = await run([dir, "--dry-run"], configFor(storeUrl, { CLOUD_NOTIFYD_HOSTS: "a.example,d.example" }));
    expect(noted.code).toBe(0);
    expect(noted.output).toContain("note: no cloud_notify data for host d.example\n");
    const none = await run([dir, "--dry-run"], configFor(storeUrl, { CLOUD_NOTIFYD_HOSTS: "d.example" }));
    expect(none.code).toBe(1);
    expect(none.output).toStartWith(
      `Cannot import: no cloud_notify data of d.example in ${dir} (looked for ${join(dir, "d%2eexample", "cloud_notify")})`,
    );
  });
});
