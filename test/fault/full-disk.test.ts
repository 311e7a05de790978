/**
 * A full disk, for real: the store lives on a small tmpfs that the test fills with a filler
 * file until the kernel answers ENOSPC. Store-level tests run bun:sqlite on that tmpfs; the
 * end-to-end test runs the compiled daemon with a real Prosody (test/helpers/push-stack.ts).
 * Needs root (mount); every mount is unmounted in afterAll.
 */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { createNullLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics.ts";
import { createHistoryBuffer } from "../../src/runtime/history-buffer.ts";
import { openStore } from "../../src/store/db.ts";
import { enable, enableXml, eventually, history, registrations, usePushStacks } from "../helpers/push-stack.ts";
import { historyRow, registration } from "../store/store-contract.ts";

setDefaultTimeout(60_000);
const mounts: string[] = [];

afterAll(() => {
  for (const dir of mounts) {
    Bun.spawnSync(["umount", "-l", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A fresh tmpfs of `mib` MiB. */
function smallDisk(mib: number): string {
  const dir = mkdtempSync(join(tmpdir(), "cnd-full-"));
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${mib}m`, "tmpfs", dir]);
  if (r.exitCode !== 0) throw new Error(`Cannot mount a tmpfs on ${dir}: ${r.stderr.toString().trim()}`);
  mounts.push(dir);
  return dir;
}

/** Writes `dir/filler` until the disk is full (down to the last 512-byte block); returns its size. */
function fill(dir: string): number {
  const fd = openSync(join(dir, "filler"), "a");
  let written = 0;
  try {
    for (const size of [1 << 20, 64 << 10, 4096, 512]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
          written += size;
        } catch {
          break; // ENOSPC at this size: try a smaller one
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

function free(dir: string): void {
  rmSync(join(dir, "filler"), { force: true });
}

function walBytes(path: string): number {
  return existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0;
}

describe("full disk, store level (bun:sqlite on a tmpfs)", () => {
  test("WAL bound: the WAL stays under 16 MiB plus one write, also while the disk fills; a refused write leaves nothing behind", async () => {
    const disk = smallDisk(96);
    const path = join(disk, "store.db");
    const store = await openStore(`file:${path}`);
    let maxWal = 0;
    for (let b = 0; b < 30; b++) {
      await store.addHistory(
        Array.from({ length: 10_000 }, (_, i) => historyRow({ at: b * 10_000 + i, user: `u${i % 997}`, publishId: `p${b}-${i}` })),
      );
      maxWal = Math.max(maxWal, walBytes(path));
    }
    // One write of 10,000 rows over 997 users dirties ~4-5 MiB of pages; the 300,000 rows make a ~40 MiB file.
    expect(maxWal).toBeLessThan(16 * 1024 * 1024 + 8 * 1024 * 1024);
    expect(statSync(path).size).toBeGreaterThan(16 * 1024 * 1024);

    fill(disk);
    // Writes go on into the WAL's existing space; once that is used up (and the checkpoint
    // cannot give it back) the store refuses the write with SQLITE_FULL, rolled back whole.
    let refused: Error | null = null;
    let accepted = 0;
    for (let b = 0; b < 400 && refused === null; b++) {
      await store
        .addHistory(Array.from({ length: 1000 }, (_, i) => historyRow({ at: 1e9 + b * 1000 + i, user: "v", publishId: `q${b}-${i}` })))
        .then(
          () => void (accepted += 1000),
          (err: Error) => void (refused = err),
        );
      maxWal = Math.max(maxWal, walBytes(path));
    }
    expect(String(refused)).toMatch(/full/i);
    expect(maxWal).toBeLessThan(16 * 1024 * 1024 + 8 * 1024 * 1024);
    // A small write still fits in the space the rolled-back batch had taken in the WAL.
    await store.apply([{ op: "upsert", registration: registration({ user: "alice@localhost", identifier: "a" }) }]);
    free(disk);
    expect(await store.listByUser("alice")).toHaveLength(1);
    const raw = new Database(path, { readonly: true });
    expect(raw.query("SELECT count(*) AS n FROM push_history WHERE user = 'v'").get()).toEqual({ n: accepted });
    expect(raw.query("PRAGMA quick_check").get()).toEqual({ quick_check: "ok" });
    raw.close();
    await store.close();
  });

  test("history rows refused with SQLITE_FULL are kept and written once space returns; none lost", async () => {
    const disk = smallDisk(4);
    const path = join(disk, "store.db");
    const store = await openStore(`file:${path}`);
    const metrics = createMetrics();
    const buffer = createHistoryBuffer({ store, log: createNullLogger(), metrics });
    fill(disk);
    await store.apply([{ op: "upsert", registration: registration({ user: "x", identifier: "x" }) }]).catch(() => {}); // WAL given back
    fill(disk);
    for (let i = 0; i < 3000; i++) {
      buffer.add({
        type: "history",
        at: 1_000 + i,
        user: "alice@localhost",
        identifier: "app<n",
        publishId: null,
        trigger: "offline",
        important: true,
        outcome: "ok",
      });
    }
    await buffer.flush();
    expect(buffer.pending().history).toBe(3000);
    expect(metrics.get("cloud_notifyd_store_errors_total", { op: "history" })).toBeGreaterThanOrEqual(1);
    free(disk);
    // The buffer's own retry (backoff from 1 s), not a flush from the test.
    await eventually(async () => (buffer.pending().history === 0 ? true : undefined), 10_000, "the kept rows written");
    expect(await store.listHistory({ user: "alice@localhost", limit: 10_000 })).toHaveLength(3000);
    expect(metrics.get("cloud_notifyd_history_rows_lost_total", { table: "push_history" })).toBeUndefined();
    buffer.stop();
    await store.close();
    const raw = new Database(path, { readonly: true });
    expect(raw.query("PRAGMA quick_check").get()).toEqual({ quick_check: "ok" });
    raw.close();
  });
});

describe("full disk, end to end (compiled daemon, real Prosody)", () => {
  const stack = usePushStacks();

  async function metric(url: string, line: RegExp): Promise<number> {
    const text = await (await fetch(url)).text();
    const m = text.match(line);
    return m === null ? 0 : Number(m[1]);
  }

  test("D4 on a full disk pushes go on, history is kept and written later, and an enable gets wait/internal-server-error and is not stored", async () => {
    const disk = smallDisk(8);
    const storeUrl = `file:${join(disk, "store.db")}`;
    const s = await stack({ users: ["alice", "bob", "carol"], daemonEnv: { CLOUD_NOTIFYD_STORE_URL: storeUrl } });
    const phone = await s.client("alice", "phone");
    await enable(phone, "n-full");
    await phone.quit();
    const bob = await s.client("bob", "pc");

    fill(disk);
    bob.command({ cmd: "message", to: "alice@localhost", body: "one", id: "m-full-1" });
    await s.app.waitForCount(1); // the push went out with the disk full
    const errors = () => metric(s.daemon.url("/metrics"), /cloud_notifyd_store_errors_total\{op="history"\} (\d+)/);
    await eventually(async () => ((await errors()) >= 1 ? true : undefined), 10_000, "a failed history write");
    fill(disk); // whatever the WAL gave back is taken again

    const carol = await s.client("carol", "phone");
    const reply = await carol.iq(enableXml("en-full", "c-full"), "en-full");
    expect(reply.type).toBe("error");
    expect(String(reply.xml)).toMatch(/type=['"]wait['"]/);
    expect(String(reply.xml)).toContain("internal-server-error");

    bob.command({ cmd: "message", to: "alice@localhost", body: "two", id: "m-full-2" });
    await s.app.waitForCount(2); // still pushing

    free(disk);
    const rows = await eventually(
      async () => {
        const h = await history(s, "alice");
        return h.filter((r) => r.outcome === "ok").length >= 2 ? h : undefined;
      },
      20_000,
      "alice's two pushes in the history",
    );
    expect(rows.filter((r) => r.outcome === "ok")).toHaveLength(2);
    expect(await metric(s.daemon.url("/metrics"), /cloud_notifyd_history_rows_lost_total\{[^}]*\} (\d+)/)).toBe(0);

    // After a restart: alice's registration and history are in the store, carol's enable is not.
    expect(await s.daemon.stop()).toBe(0);
    const again = await s.startDaemonAgain();
    await again.waitReady();
    expect((await registrations(s, "carol")).status).toBe(404);
    expect((await registrations(s, "alice")).regs.map((r) => r.node)).toEqual(["n-full"]);
    expect((await history(s, "alice")).filter((r) => r.outcome === "ok")).toHaveLength(2);
  });
});
