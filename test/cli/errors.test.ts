/**
 * The compiled binary's commands as an operator runs them: every store or listen error is ONE
 * line naming the cause and the file or (redacted) URL, with a non-zero exit; check-config
 * never prints a credential; a store with corrupted pages starts but fails `/readyz`.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { openStore } from "../../src/store/db.ts";
import { BINARY, ensureBinary, freePort, startDaemon } from "../helpers/daemon.ts";
import { historyRow } from "../store/store-contract.ts";

setDefaultTimeout(30_000);
const root = mkdtempSync(join(tmpdir(), "cnd-cli-"));
chmodSync(root, 0o755);
const mounts: string[] = [];
beforeAll(() => ensureBinary(), 120_000);
afterAll(() => {
  for (const m of mounts) Bun.spawnSync(["umount", "-l", m]);
  rmSync(root, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Non-empty stderr lines. */
  lines: string[];
}

async function run(args: string[], env: Record<string, string> = {}, prefix: string[] = []): Promise<Run> {
  const proc = Bun.spawn([...prefix, BINARY, ...args], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: "/tmp",
      CLOUD_NOTIFYD_DATA_DIR: join(root, "data"),
      CLOUD_NOTIFYD_ADMIN_PORT: String(await freePort()),
      ...env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr, lines: stderr.split("\n").filter((l) => l.trim() !== "") };
}

function garbageFile(): string {
  const path = join(root, `garbage-${Math.random().toString(36).slice(2)}.db`);
  Bun.write(path, "this is not a database ".repeat(400));
  return path;
}

/** One stderr line, no stack frame, matching `pattern`. */
function expectOneLine(r: Run, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  expect(r.lines).toHaveLength(1);
  expect(r.lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at |\bat .*\.ts:\d+|Failed query|CREATE TABLE/m);
}

describe("check-config", () => {
  test("redacts the store_url password and secret query parameters", async () => {
    const r = await run(["check-config"], { CLOUD_NOTIFYD_STORE_URL: "libsql://dbuser:hunter2pw@db.example.net?authToken=tok-9f8e&tls=1" });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"store_url": "libsql://dbuser:***@db.example.net?authToken=***&tls=1"');
    expect(r.stdout).not.toContain("hunter2pw");
    expect(r.stdout).not.toContain("tok-9f8e");
  });

  test("a bad store_url is one line naming the key, exit non-zero, credentials redacted", async () => {
    const r = await run(["check-config"], { CLOUD_NOTIFYD_STORE_URL: "file://u:pw@otherhost/x.db" });
    expectOneLine(r, /store_url/);
    expect(r.stderr).not.toContain("pw@");
  });
});

describe("migrate: one line per store error", () => {
  test("a file that is not a database", async () => {
    const path = garbageFile();
    const r = await run(["migrate"], { CLOUD_NOTIFYD_STORE_URL: `file:${path}` });
    expectOneLine(r, new RegExp(`^Cannot open store file:${path}: file is not a database \\(SQLITE_NOTADB\\)$`));
  });

  test("a file locked by another process (after busy_timeout)", async () => {
    const path = join(root, "locked.db");
    const holder = new Database(path, { create: true });
    holder.exec("CREATE TABLE t (x)");
    holder.exec("BEGIN EXCLUSIVE");
    try {
      const r = await run(["migrate"], { CLOUD_NOTIFYD_STORE_URL: `file:${path}` });
      expectOneLine(r, new RegExp(`^Cannot open store file:${path}: .*database is locked.*SQLITE_BUSY`));
    } finally {
      holder.exec("ROLLBACK");
      holder.close();
    }
  });

  test("a full disk", async () => {
    const disk = join(root, "full");
    mkdirSync(disk);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", disk]).exitCode).toBe(0);
    mounts.push(disk);
    const fd = openSync(join(disk, "filler"), "a");
    for (const size of [65536, 4096, 512]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch {
          break;
        }
      }
    }
    closeSync(fd);
    const r = await run(["migrate"], { CLOUD_NOTIFYD_STORE_URL: `file:${disk}/store.db` });
    expectOneLine(r, new RegExp(`^Cannot open store file:${disk}/store.db: .*(full|SQLITE_FULL|ENOSPC)`, "i"));
  });

  test("a remote store that is down: the connection error and the redacted URL, not SQL", async () => {
    const port = await freePort();
    const r = await run(["migrate"], { CLOUD_NOTIFYD_STORE_URL: `libsql://dbuser:hunter2pw@127.0.0.1:${port}?authToken=tok-9f8e` });
    expectOneLine(
      r,
      new RegExp(`^Cannot open store libsql://dbuser:\\*\\*\\*@127\\.0\\.0\\.1:${port}\\?authToken=\\*\\*\\*: ECONNREFUSED`),
    );
    expect(r.stderr).not.toMatch(/hunter2pw|tok-9f8e|migration failed/);
  });

  test("a directory the daemon's user cannot read", async () => {
    const dir = join(root, "closed");
    mkdirSync(dir);
    chmodSync(dir, 0o700); // root's; the command runs as nobody
    const r = await run(["migrate"], { CLOUD_NOTIFYD_STORE_URL: `file:${dir}/store.db` }, [
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
    ]);
    expectOneLine(r, new RegExp(`^Cannot open store file:${dir}/store.db: EACCES: permission denied`));
  });

  test("a store with corrupted pages migrates but the command says it cannot be trusted", async () => {
    const path = await corruptStore();
    const r = await run(["migrate"], { CLOUD_NOTIFYD_STORE_URL: `file:${path}` });
    expectOneLine(r, new RegExp(`^Cannot trust store file:${path}: quick_check failed: `));
  });
});

describe("other commands and the daemon: one line per error", () => {
  test("import-prosody on a broken store", async () => {
    const prosodyDir = join(root, "prosody");
    mkdirSync(join(prosodyDir, "localhost", "cloud_notify"), { recursive: true });
    const path = garbageFile();
    const r = await run(["import-prosody", prosodyDir], { CLOUD_NOTIFYD_STORE_URL: `file:${path}` });
    expect(r.code).not.toBe(0);
    const out = (r.stdout + r.stderr).split("\n").filter((l) => l.trim() !== "");
    expect(out).toEqual([`Cannot open store file:${path}: file is not a database (SQLITE_NOTADB)`]);
  });

  test("the daemon on a broken store", async () => {
    const path = garbageFile();
    const r = await run([], { CLOUD_NOTIFYD_STORE_URL: `file:${path}` });
    expectOneLine(r, new RegExp(`msg="cannot start" error="Cannot open store file:${path}: file is not a database \\(SQLITE_NOTADB\\)"`));
  });

  test("the daemon with an admin_host that does not resolve says so, not ENOTTY", async () => {
    const port = await freePort();
    const r = await run([], {
      CLOUD_NOTIFYD_ADMIN_HOST: "no-such-host.invalid",
      CLOUD_NOTIFYD_ADMIN_PORT: String(port),
      CLOUD_NOTIFYD_STORE_URL: ":memory:",
    });
    expectOneLine(r, new RegExp(`Cannot listen on admin_host no-such-host\\.invalid:${port}: cannot resolve no-such-host\\.invalid`));
    expect(r.stderr).not.toContain("ENOTTY");
  });

  test("the daemon with an admin port in use names host, port and cause", async () => {
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await run([], {
        CLOUD_NOTIFYD_ADMIN_HOST: "127.0.0.1",
        CLOUD_NOTIFYD_ADMIN_PORT: String(busy.port),
        CLOUD_NOTIFYD_STORE_URL: ":memory:",
        CLOUD_NOTIFYD_LOG_LEVEL: "error", // not the "component_secret not configured" warning
      });
      expectOneLine(r, new RegExp(`Cannot listen on admin_host 127\\.0\\.0\\.1:${busy.port}: .*(in use|EADDRINUSE)`));
    } finally {
      busy.stop(true);
    }
  });

  test("a store with corrupted pages: the daemon starts and /readyz reports the failed check with its reason", async () => {
    const path = await corruptStore();
    const d = await startDaemon({ env: { CLOUD_NOTIFYD_STORE_URL: `file:${path}` } });
    try {
      await d.waitForLog(/store failed its integrity check at start/);
      const body = await eventuallyReadyz(d.url("/readyz"));
      expect(body.checks.store.ok).toBe(false);
      expect(body.checks.store.reason).toMatch(/^integrity check at start failed: quick_check failed: /);
    } finally {
      await d.stop();
    }
  });
});

async function eventuallyReadyz(url: string): Promise<{ checks: { store: { ok: boolean; reason?: string } } }> {
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(url);
      return (await res.json()) as { checks: { store: { ok: boolean; reason?: string } } };
    } catch (err) {
      if (i > 100) throw err;
      await Bun.sleep(50);
    }
  }
}

/** A migrated store whose last pages (push history) are overwritten with junk. */
async function corruptStore(): Promise<string> {
  const path = join(root, `corrupt-${Math.random().toString(36).slice(2)}.db`);
  const store = await openStore(`file:${path}`);
  await store.addHistory(Array.from({ length: 5000 }, (_, i) => historyRow({ at: i, user: `u${i % 50}`, publishId: `p${i}` })));
  await store.close();
  const raw = new Database(path);
  raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  raw.close();
  const pages = statSync(path).size / 4096;
  const fd = openSync(path, "r+");
  writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, (pages - 3) * 4096);
  closeSync(fd);
  return path;
}
