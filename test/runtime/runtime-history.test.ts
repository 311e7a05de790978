/**
 * The shell keeps no second table of pushes in flight: the core records each push once, at its
 * outcome, and the runtime writes that record as one row dated at the send; what is still in
 * flight when the daemon stops is settled by the core (`shutdown`) and written as "sent".
 * Against the real core, runtime and a SQLite store; the component stream is an array.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Element, parse } from "ltx";

import { DEFAULT_CORE_CONFIG, initState } from "../../src/core/state.ts";
import { createNullLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics.ts";
import { createRuntime, type Runtime } from "../../src/runtime/runtime.ts";
import { openStore } from "../../src/store/db.ts";
import type { Store } from "../../src/store/types.ts";
import { registration } from "../core/harness.ts";

const HOST = "example.com";
const APP = "push.app.example";
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(): Promise<{ runtime: Runtime; store: Store; sent: Element[]; metrics: ReturnType<typeof createMetrics> }> {
  const dir = mkdtempSync(join(tmpdir(), "cnd-rt-history-"));
  const store = await openStore(`file:${join(dir, "t.db")}`);
  await store.apply([{ op: "upsert", registration: registration("alice", APP, "n1", { createdAt: 1, updatedAt: 1 }) }]);
  const state = initState({ ...DEFAULT_CORE_CONFIG, host: HOST }, { idSeed: "ef".repeat(32) });
  const sent: Element[] = [];
  const metrics = createMetrics();
  const runtime = createRuntime({
    state,
    store,
    log: createNullLogger(),
    metrics,
    send: (el) => (sent.push(typeof el === "string" ? (parse(el) as Element) : el), true),
    host: HOST,
    componentDomain: "push.example.com",
    publishFrom: "host",
  });
  cleanup.push(async () => {
    await runtime.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { runtime, store, sent, metrics };
}

function chat(key: string) {
  const stanza = parse(
    `<message xmlns="jabber:client" from="bob@example.net/x" to="alice@${HOST}" type="chat" id="${key}"><body>hi</body></message>`,
  ) as Element;
  return { stanza, key };
}

function publishIds(sent: Element[]): string[] {
  return sent.flatMap((el) => {
    const iq = el.getChild("publish-as-host", "urn:cloud-notifyd:bridge:1")?.getChild("iq");
    return iq ? [String(iq.attrs.id)] : [];
  });
}

test("D17 one row per push, written at its outcome and dated at its send; one never answered is written as sent on stop", async () => {
  const { runtime, store, sent, metrics } = await setup();
  await runtime.dispatch({ type: "offline", now: 1_000, user: "alice", copy: chat("m1") });
  await runtime.dispatch({ type: "publish-result", now: 1_500, publishId: publishIds(sent)[0]!, from: APP });
  await runtime.dispatch({ type: "offline", now: 2_000, user: "alice", copy: chat("m2") });
  await runtime.flushHistory();
  expect((await store.listHistory({ user: "alice", limit: 10 })).map((r) => [r.at, r.outcome, r.latencyMs])).toEqual([[1_000, "ok", 500]]);
  // the second push is the core's, in flight
  expect(runtime.ask({ kind: "inflight", user: "alice" }).pushes.map((p) => [p.at, p.publishId])).toEqual([[2_000, publishIds(sent)[1]!]]);
  await runtime.stop();
  expect((await store.listHistory({ user: "alice", limit: 10 })).map((r) => [r.at, r.outcome, r.latencyMs])).toEqual([
    [2_000, "sent", null],
    [1_000, "ok", 500],
  ]);
  expect(metrics.get("cloud_notifyd_pushes_total", { trigger: "offline", outcome: "sent" })).toBe(2);
  expect(metrics.get("cloud_notifyd_pushes_total", { trigger: "offline", outcome: "ok" })).toBe(1);
  expect(metrics.get("cloud_notifyd_publish_latency_seconds")).toBe(1);
  expect(metrics.render()).not.toContain("cloud_notifyd_core_pushes_total");
});

test("D11 shutdown waits for the answers to publishes in flight, then settles", async () => {
  const { runtime, sent } = await setup();
  await runtime.dispatch({ type: "offline", now: Date.now(), user: "alice", copy: chat("m1") });
  let settled = false;
  const stopping = runtime.shutdown(10_000).then(() => void (settled = true));
  await Bun.sleep(20);
  expect(settled).toBe(false);
  await runtime.dispatch({ type: "publish-result", now: Date.now(), publishId: publishIds(sent)[0]!, from: APP });
  await stopping;
  expect(settled).toBe(true);
  expect(runtime.ask({ kind: "totals" }).pendingPublishes).toBe(0);
});
