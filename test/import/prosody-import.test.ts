/**
 * `import-prosody` against a data directory written by a real Prosody running mod_cloud_notify
 * (0.12: Debian 12's prosody-modules; 13: Prosody's own module), fed by a real slixmpp client.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse as parseXml } from "ltx";
import { importProsody } from "../../src/cli/import-prosody.ts";
import type { ImportOutput } from "../../src/cli/import-prosody.ts";
import type { Config } from "../../src/config.ts";
import { loadConfig } from "../../src/config.ts";
import { publishOptionsOf } from "../../src/core/enable.ts";
import type { Registration, XmlNode } from "../../src/core/types.ts";
import { encodeStoreName } from "../../src/import/prosody.ts";
import { createNullLogger } from "../../src/log.ts";
import { openStore } from "../../src/store/db.ts";
import { disposeProsody, startProsody } from "../helpers/prosody.ts";
import { describeProsody, type ProsodyVersion } from "../helpers/prosody-versions.ts";
import type { ProsodyInstance } from "../helpers/prosody.ts";

const HOST = "im.example";
const ROOT = resolve(import.meta.dir, "../..");
const ENABLE_SCRIPT = join(ROOT, "test/clients/enable_push.py");
/** The form enable_push.py sends in its first <enable/> (keep in sync with the script). */
const SENT_ENABLE =
  "<enable xmlns='urn:xmpp:push:0' jid='push.example' node='n1'>" +
  "<x xmlns='jabber:x:data' type='submit'>" +
  "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>" +
  "<field var='secret'><value>s3cr&amp;t &lt;1&gt; \u00e9</value></field>" +
  "</x></enable>";
const EXPECTED_OPTIONS =
  '<x xmlns="jabber:x:data" type="submit">' +
  '<field var="FORM_TYPE"><value>http://jabber.org/protocol/pubsub#publish-options</value></field>' +
  '<field var="secret"><value>s3cr&amp;t &lt;1&gt; é</value></field>' +
  "</x>";
const USERS = ["carol.x", "dave"];

let prosody: ProsodyInstance;
let dataDir: string;
let work: string;
let enabledFrom = 0;
let enabledTo = 0;

/** A Prosody of `version` writes mod_cloud_notify's files for USERS, then stops; its data dir is `dataDir`. */
async function setUp(version: ProsodyVersion): Promise<void> {
  work = mkdtempSync(join(tmpdir(), "cnd-import-"));
  prosody = await startProsody({
    version,
    host: HOST,
    componentSecret: "unused-secret",
    extraModules: ["cloud_notify"],
    users: USERS.map((u) => [u, "pw"] as [string, string]),
  });
  enabledFrom = Date.now();
  for (const user of USERS) {
    const client = Bun.spawn(["/usr/bin/python3", ENABLE_SCRIPT, `${user}@${HOST}`, "pw", String(prosody.c2sPort)], {
      stdout: "pipe",
      stderr: "pipe",
      timeout: 40_000,
    });
    const [code, stdout, stderr] = await Promise.all([
      client.exited,
      new Response(client.stdout).text(),
      new Response(client.stderr).text(),
    ]);
    if (code !== 0) throw new Error(`enable_push.py failed for ${user} (exit ${code}): ${stdout}\n${stderr}`);
  }
  enabledTo = Date.now();
  await prosody.stop();
  dataDir = join(prosody.dir, "data");
}

async function tearDown(): Promise<void> {
  if (prosody !== undefined) await disposeProsody(prosody);
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
}

function configFor(storeUrl: string, extra: Record<string, string> = {}): Config {
  const loaded = loadConfig({ CLOUD_NOTIFYD_HOST: HOST, CLOUD_NOTIFYD_STORE_URL: storeUrl, ...extra }, [], { requireSecret: false });
  if (!loaded.ok) throw new Error(loaded.error);
  return loaded.config;
}

function capture(isTTY = false): ImportOutput & { text(): string } {
  let text = "";
  return {
    isTTY,
    write(s: string) {
      text += s;
    },
    text: () => text,
  };
}

/** The summary lines as numbers, keyed by their label. */
function counts(output: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of output.matchAll(/^([a-z_ ()]+):\s+(\d+)$/gm)) out[(m[1] as string).trim()] = Number(m[2]);
  return out;
}

async function run(args: string[], config: Config, isTTY = false): Promise<{ code: number; output: string }> {
  const out = capture(isTTY);
  const code = await importProsody(args, { config, log: createNullLogger(), out });
  return { code, output: out.text() };
}

/** `user` is the local part; the store holds the bare JID `user@HOST`. */
async function rows(storeUrl: string, user: string): Promise<Registration[]> {
  const store = await openStore(storeUrl, { hosts: [HOST] });
  try {
    return await store.listByUser(`${user}@${HOST}`);
  } finally {
    await store.close();
  }
}

function storeUrlIn(dir: string, name: string): string {
  return `file:${join(dir, name)}`;
}

describeProsody("import-prosody", (version) => {
  beforeAll(() => setUp(version), 90_000);
  afterAll(tearDown);

  describe("with a real Prosody data directory", () => {
    test("Prosody wrote the files where the import looks for them", () => {
      const file = join(dataDir, encodeStoreName(HOST), "cloud_notify", `${encodeStoreName("carol.x")}.dat`);
      expect(file).toEndWith("im%2eexample/cloud_notify/carol%2ex.dat");
      expect(readFileSync(file, "utf8")).toContain('["push.example<n1"]');
    });

    test("imports every registration with its publish options, then a second run changes nothing and says so (unchanged: 4)", async () => {
      const storeUrl = storeUrlIn(work, "first.db");
      const config = configFor(storeUrl);
      const first = await run([dataDir, "--host", HOST], config);
      expect(first.code).toBe(0);
      expect(counts(first.output)).toEqual({
        users: 2,
        imported: 4,
        updated: 0,
        unchanged: 0,
        "skipped (newer in store)": 0,
        "skipped (over push_max_devices)": 0,
        "invalid entries": 0,
        "files with errors": 0,
      });

      for (const user of USERS) {
        const regs = await rows(storeUrl, user);
        expect(regs.map((r) => r.identifier)).toEqual(["push.example<n1", "push2.example<"]);
        const [withNode, withoutNode] = regs as [Registration, Registration];
        expect(withNode).toMatchObject({
          user: `${user}@${HOST}`,
          jid: "push.example",
          node: "n1",
          publishOptions: EXPECTED_OPTIONS,
          language: "en",
        });
        expect(withoutNode).toMatchObject({
          user: `${user}@${HOST}`,
          jid: "push2.example",
          node: null,
          publishOptions: null,
          includePayload: false,
        });
        for (const r of regs) {
          expect(r).toMatchObject({ errorCount: 0, lastError: null, lastErrorAt: null, clientId: null });
          expect(r.resource).toBeString();
          expect(r.createdAt % 1000).toBe(0);
          expect(r.createdAt).toBe(r.updatedAt);
          expect(r.createdAt).toBeGreaterThanOrEqual(Math.floor(enabledFrom / 1000) * 1000);
          expect(r.createdAt).toBeLessThanOrEqual(enabledTo);
        }
      }
      // The same text our own enable handler stores for the form the client sent.
      const sent = publishOptionsOf(parseXml(SENT_ENABLE) as unknown as XmlNode);
      expect(sent).toBe(EXPECTED_OPTIONS);

      const before = await rows(storeUrl, "carol.x");
      const second = await run([dataDir, "--host", HOST], config);
      expect(second.code).toBe(0);
      expect(counts(second.output)).toEqual({ ...counts(first.output), imported: 0, unchanged: 4 });
      expect(await rows(storeUrl, "carol.x")).toEqual(before);
      const store = await openStore(storeUrl, { hosts: [HOST] });
      expect(await store.countRegistrations()).toBe(4);
      await store.close();
    });

    test("a registration newer in the store is skipped; an equal one keeps its error count", async () => {
      const storeUrl = storeUrlIn(work, "newer.db");
      const config = configFor(storeUrl);
      expect((await run([dataDir], config)).code).toBe(0);
      const [withNode, withoutNode] = (await rows(storeUrl, "carol.x")) as [Registration, Registration];
      const newer = { ...withNode, updatedAt: withNode.updatedAt + 60_000, publishOptions: null };
      const failing = { ...withoutNode, errorCount: 3, lastError: "cancel/item-not-found", lastErrorAt: withoutNode.updatedAt + 1 };
      const store = await openStore(storeUrl, { hosts: [HOST] });
      await store.apply([
        { op: "upsert", registration: newer },
        { op: "upsert", registration: failing },
      ]);
      await store.close();

      const again = await run([dataDir], config);
      expect(again.code).toBe(0);
      // the failing one is as Prosody has it (same updatedAt): unchanged, its error count kept
      expect(counts(again.output)).toMatchObject({ imported: 0, updated: 0, unchanged: 3, "skipped (newer in store)": 1 });
      expect(await rows(storeUrl, "carol.x")).toEqual([newer, failing]);
    });

    test("the compiled binary imports the same rows", async () => {
      const binary = join(work, "cloud-notifyd");
      const build = Bun.spawnSync([join(ROOT, "node_modules/.bin/bun"), "run", "build.ts", `--outfile=${binary}`], { cwd: ROOT });
      expect(build.exitCode).toBe(0);
      const storeUrl = storeUrlIn(work, "binary.db");
      const proc = Bun.spawnSync([binary, "import-prosody", dataDir, "--host", HOST], {
        cwd: work,
        // Issue 13: --host must be one of the configured hosts.
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          CLOUD_NOTIFYD_STORE_URL: storeUrl,
          CLOUD_NOTIFYD_HOSTS: HOST,
          CLOUD_NOTIFYD_LOG_LEVEL: "warn",
        },
      });
      const output = proc.stdout.toString();
      expect(proc.exitCode).toBe(0);
      expect(counts(output)).toMatchObject({ users: 2, imported: 4, "files with errors": 0 });
      const carol = await rows(storeUrl, "carol.x");
      expect(carol.map((r) => [r.identifier, r.publishOptions])).toEqual([
        ["push.example<n1", EXPECTED_OPTIONS],
        ["push2.example<", null],
      ]);
    }, 60_000);
  });

  describe("with damaged and synthetic data", () => {
    function copyOfData(name: string): { dir: string; store: string } {
      const dir = join(work, name);
      cpSync(dataDir, dir, { recursive: true });
      return { dir, store: join(dir, encodeStoreName(HOST), "cloud_notify") };
    }

    test("bad files are reported and skipped, never executed; good files are still imported", async () => {
      const { dir, store } = copyOfData("damaged");
      const marker = join(work, "executed");
      writeFileSync(join(store, "mallory.dat"), 'return { ["push.example<"] = { ["jid"] = "push.example"; ');
      writeFileSync(join(store, "eve.dat"), `return os.execute("touch ${marker}");\n`);
      writeFileSync(join(store, "big.dat"), `return { ["a"] = "${"x".repeat(1024 * 1024)}" };\n`);
      writeFileSync(join(store, "latin1.dat"), Buffer.from([0x72, 0x65, 0x74, 0x75, 0x72, 0x6e, 0x20, 0x22, 0xe9, 0x22]));
      writeFileSync(
        join(store, "frank.dat"),
        'return {\n\t["nojid<"] = { ["node"] = "x"; ["timestamp"] = 1700000000; };\n' +
          '\t["frank@im.example<"] = { ["jid"] = "frank@im.example"; ["timestamp"] = 1700000000; };\n' +
          '\t["push.example<ok"] = { ["jid"] = "push.example"; ["node"] = "ok"; ["timestamp"] = 1700000000;' +
          ' ["push_for_away"] = true; };\n};\n',
      );
      writeFileSync(join(store, "frank.dat~"), "not a data file");
      const storeUrl = storeUrlIn(work, "damaged.db");
      const { code, output } = await run([dir], configFor(storeUrl));
      expect(code).toBe(1);
      expect(counts(output)).toEqual({
        users: 3,
        imported: 5,
        updated: 0,
        unchanged: 0,
        "skipped (newer in store)": 0,
        "skipped (over push_max_devices)": 0,
        "invalid entries": 2,
        "files with errors": 4,
      });
      expect(output).toContain("mallory.dat: Cannot parse Lua data: unterminated table");
      expect(output).toContain("eve.dat: Cannot parse Lua data: 'os' is not a literal");
      expect(output).toContain("big.dat: larger than 1048576 bytes");
      expect(output).toContain("latin1.dat: not valid UTF-8");
      expect(output).toContain("frank.dat: nojid< not imported: jid is missing");
      expect(output).toContain("frank.dat: frank@im.example< not imported: jid frank@im.example is the user's own account");
      expect(output).toContain("frank.dat: fields not imported (not supported): push_for_away"); // muted_jids is imported (E3)
      expect(existsSync(marker)).toBe(false);
      expect((await rows(storeUrl, "frank")).map((r) => [r.identifier, r.createdAt])).toEqual([["push.example<ok", 1_700_000_000_000]]);
      expect(await rows(storeUrl, "mallory")).toEqual([]);
    });

    test("D3 a user with more registrations than push_max_devices keeps the newest", async () => {
      const dir = join(work, "many");
      const store = join(dir, encodeStoreName(HOST), "cloud_notify");
      mkdirSync(store, { recursive: true });
      const entries = Array.from(
        { length: 7 },
        (_, i) => `\t["app.example<d${i}"] = { ["jid"] = "app.example"; ["node"] = "d${i}"; ["timestamp"] = ${1700000000 + i}; };`,
      );
      writeFileSync(join(store, "gina.dat"), `return {\n${entries.join("\n")}\n};\n`);
      const storeUrl = storeUrlIn(work, "many.db");
      const { code, output } = await run([dir, `--host=${HOST}`], configFor(storeUrl, { CLOUD_NOTIFYD_PUSH_MAX_DEVICES: "5" }));
      expect(code).toBe(0);
      expect(counts(output)).toMatchObject({ imported: 5, "skipped (over push_max_devices)": 2 });
      expect((await rows(storeUrl, "gina")).map((r) => r.node)).toEqual(["d2", "d3", "d4", "d5", "d6"]);
    });

    test("progress: plain lines every 1000 users, a redrawn bar on a terminal", async () => {
      const dir = join(work, "crowd");
      const store = join(dir, encodeStoreName(HOST), "cloud_notify");
      mkdirSync(store, { recursive: true });
      for (let i = 0; i < 2500; i++) {
        writeFileSync(join(store, `u${i}.dat`), `return { ["p.example<"] = { ["jid"] = "p.example"; ["timestamp"] = 1700000000; }; };\n`);
      }
      const plain = await run([dir, "--dry-run"], configFor(storeUrlIn(work, "crowd.db")));
      expect(plain.code).toBe(0);
      expect(plain.output.match(/^progress: .*$/gm)).toEqual(["progress: 1000/2500 users", "progress: 2000/2500 users"]);
      expect(plain.output).toContain("dry run, nothing written");
      expect(counts(plain.output)).toMatchObject({ users: 2500, "registrations to import": 2500 });
      expect(existsSync(join(work, "crowd.db"))).toBe(false);

      const tty = await run([dataDir], configFor(storeUrlIn(work, "tty.db")), true);
      expect(tty.code).toBe(0);
      expect(tty.output).toContain(`\r[${"#".repeat(30)}] 100% 2/2 users`);
      expect(tty.output).not.toContain("progress:");
    });

    test("usage errors exit 2; a missing store directory exits 1", async () => {
      const config = configFor(storeUrlIn(work, "usage.db"));
      expect((await run([], config)).code).toBe(2);
      expect((await run([dataDir, "--bogus"], config)).code).toBe(2);
      expect((await run([dataDir, "--host"], config)).code).toBe(2);
      // Issue 13: only configured hosts are imported.
      const unconfigured = await run([dataDir, "--host", "other.example"], config);
      expect(unconfigured.code).toBe(2);
      expect(unconfigured.output).toBe(`Cannot import: --host other.example is not one of the configured hosts (${HOST})\n`);
      const both = configFor(storeUrlIn(work, "usage.db"), { CLOUD_NOTIFYD_HOSTS: `${HOST},other.example` });
      const missing = await run([dataDir, "--host", "other.example"], both);
      expect(missing.code).toBe(1);
      expect(missing.output).toContain("Cannot import: cannot list");
      expect(missing.output).toContain("other%2eexample/cloud_notify");
    });
  });
});
