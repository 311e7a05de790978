/**
 * D19 (transient failures retried) and D20 (the error policy) against test app services that
 * answer as the ones people run do (test/helpers/app-service.ts: p2, fpush, a plain XEP-0357
 * service that is busy a while): the compiled daemon, a real Prosody with the bridge, the app
 * service as a separate component. Retries are shortened to push_retry_delays = [1, 2] s.
 * Asserts what the app service received (and when), the registration via the admin API, the
 * push history and the retry metrics, for both publish_from modes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";

import {
  type AnswerFn,
  FPUSH_FORMAT_TEXT,
  fpushAnswers,
  NS_DATA,
  NS_PUSH,
  p2Answers,
  type ReceivedPublish,
  waitThenResult,
} from "../helpers/app-service.ts";
import { ensureBinary } from "../helpers/daemon.ts";
import {
  ADMIN_TOKEN,
  APP_DOMAIN,
  enableXml,
  eventually,
  type HistoryJson,
  PUBLISH_OPTIONS_FORM_TYPE,
  type PushStack,
  registrations,
  removals,
  startPushStack,
} from "../helpers/push-stack.ts";
import type { TestClient } from "../helpers/xmpp-client.ts";

const RETRY_ENV = {
  CLOUD_NOTIFYD_PUSH_RETRY_DELAYS: "1,2",
  CLOUD_NOTIFYD_PUBLISH_TIMEOUT: "2",
  CLOUD_NOTIFYD_PUSH_MAX_ERRORS: "3",
  CLOUD_NOTIFYD_PUSH_MAX_DEVICES: "20",
};

/** Routes each node to its own reply mode (the stack has one app service). */
function router(s: PushStack): Map<string, AnswerFn> {
  const routes = new Map<string, AnswerFn>();
  s.app.setAnswer((p) => (routes.get(p.node ?? "") ?? (() => ({ kind: "result" })))(p));
  return routes;
}

async function enableWith(c: TestClient, node: string, fields: Array<[string, string]>): Promise<void> {
  const id = `en-${node}`;
  const form =
    fields.length === 0
      ? ""
      : `<x xmlns='${NS_DATA}' type='submit'><field var='FORM_TYPE'><value>${PUBLISH_OPTIONS_FORM_TYPE}</value></field>${fields.map(([k, v]) => `<field var='${k}'><value>${v}</value></field>`).join("")}</x>`;
  const reply = await c.iq(
    `<iq type='set' id='${id}'><enable xmlns='${NS_PUSH}' jid='${APP_DOMAIN}' node='${node}'>${form}</enable></iq>`,
    id,
  );
  expect(reply.type).toBe("result");
}

async function testPush(s: PushStack, user: string, node: string): Promise<{ outcome: string; error?: string | null }> {
  const res = await fetch(s.daemon.url(`/api/v1/users/${user}/test-push`), {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ identifier: `${APP_DOMAIN}<${node}` }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { results: Array<{ outcome: string; error?: string | null }> };
  expect(body.results).toHaveLength(1);
  const r = body.results[0]!;
  return r.error === undefined || r.error === null ? { outcome: r.outcome } : { outcome: r.outcome, error: r.error };
}

const to = (s: PushStack, node: string): ReceivedPublish[] => s.app.publishes.filter((p) => p.node === node);

/** The node's history, oldest first, once `done` says it is complete. */
async function historyOf(
  s: PushStack,
  user: string,
  node: string,
  done: (h: HistoryJson[]) => boolean,
  timeoutMs = 10000,
): Promise<HistoryJson[]> {
  return eventually(
    async () => {
      const r = await s.admin<{ history: HistoryJson[] }>(
        `/users/${user}/history?identifier=${encodeURIComponent(`${APP_DOMAIN}<${node}`)}&limit=100`,
      );
      const h = [...r.body.history].reverse();
      return done(h) ? h : undefined;
    },
    timeoutMs,
    `history of ${node}`,
  );
}

const outcomes = (h: HistoryJson[]) => h.map((r) => [r.outcome, r.error]);

async function registration(s: PushStack, user: string, node: string) {
  return (await registrations(s, user)).regs.find((r) => r.node === node);
}

async function metric(s: PushStack, series: string): Promise<number> {
  const text = await (await fetch(s.daemon.url("/metrics"))).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

const retryMetric = (s: PushStack, outcome: string) => metric(s, `cloud_notifyd_core_publish_retries_total{outcome="${outcome}"}`);
const WAIT_ERRORS = 'cloud_notifyd_publish_errors_total{type="wait",condition="remote-server-timeout"}';

/** Gaps between consecutive arrivals, in ms. */
const gaps = (ps: ReceivedPublish[]) => ps.slice(1).map((p, i) => p.wallAt - ps[i]!.wallAt);

describe("D19 D20 app service replies, publish_from = host (via the bridge)", () => {
  let s: PushStack;
  let routes: Map<string, AnswerFn>;
  let alice: TestClient;

  beforeAll(async () => {
    await ensureBinary();
    s = await startPushStack({ users: ["alice", "bob"], daemonEnv: RETRY_ENV });
    routes = router(s);
    alice = await s.client("alice", "phone");
  }, 90000);
  afterAll(async () => {
    await s?.dispose();
  }, 30000);

  test("D19 plain XEP-0357 busy twice (wait/resource-constraint), then a result: a message's push to the offline phone arrives 3 times, ~1 s and ~2 s apart", async () => {
    const phone = await s.client("alice", "offline-phone", { sm: false });
    routes.set("plain-busy", waitThenResult({ waits: 2 }));
    await enableWith(phone, "plain-busy", [["secret", "x"]]);
    await phone.quit();
    const sentBefore = await retryMetric(s, "sent");
    const bob = await s.client("bob", "pc");
    bob.command({ cmd: "message", to: "alice@localhost", body: "hello", id: "m-busy" });
    const got = await eventually(async () => (to(s, "plain-busy").length >= 3 ? to(s, "plain-busy") : undefined), 10000, "3 publishes");
    expect(got.map((p) => p.answer?.kind)).toEqual(["error", "error", "result"]);
    const [g1, g2] = gaps(got);
    expect(g1).toBeGreaterThanOrEqual(950);
    expect(g1).toBeLessThan(1900);
    expect(g2).toBeGreaterThanOrEqual(1950);
    expect(g2).toBeLessThan(3500);
    // the same push each time: same summary, new publish id
    expect(got.map((p) => Object.fromEntries(p.summary))).toEqual(Array(3).fill(Object.fromEntries(got[0]!.summary)));
    expect(new Set(got.map((p) => p.iq.attrs.id)).size).toBe(3);
    expect(got.every((p) => p.iq.attrs.from === "localhost")).toBe(true);
    const h = await historyOf(s, "alice", "plain-busy", (x) => x.some((r) => r.outcome === "ok"));
    expect(outcomes(h)).toEqual([
      ["retry-scheduled", "wait/resource-constraint"],
      ["retry-scheduled", "wait/resource-constraint"],
      ["ok", null],
    ]);
    // alice's other device is online, so the phone is pushed through the archive path (B36); every attempt keeps it
    expect(h.map((r) => r.trigger)).toEqual(["archive", "archive", "archive"]);
    expect((await registration(s, "alice", "plain-busy"))?.errorCount).toBe(0); // wait never counts
    expect((await retryMetric(s, "sent")) - sentBefore).toBe(2);
  }, 30000);

  test("D19 a service that stays busy: 3 sends, then given up and recorded; the registration stays, uncounted", async () => {
    routes.set("plain-down", () => ({ kind: "error", type: "wait", condition: "remote-server-timeout" }));
    await enableWith(alice, "plain-down", []);
    const givenUp = await retryMetric(s, "given-up");
    const waitErrors = await metric(s, WAIT_ERRORS);
    expect(await testPush(s, "alice", "plain-down")).toEqual({ outcome: "error", error: "wait/remote-server-timeout" });
    const h = await historyOf(s, "alice", "plain-down", (x) => x.length === 3 && x[2]!.outcome !== "sent");
    expect(outcomes(h)).toEqual([
      ["retry-scheduled", "wait/remote-server-timeout"],
      ["retry-scheduled", "wait/remote-server-timeout"],
      ["error", "wait/remote-server-timeout"],
    ]);
    await Bun.sleep(2500); // nothing more comes
    expect(to(s, "plain-down")).toHaveLength(3);
    expect((await retryMetric(s, "given-up")) - givenUp).toBe(1);
    expect((await metric(s, WAIT_ERRORS)) - waitErrors).toBe(3); // every error reply counted once, retried or not
    expect((await registration(s, "alice", "plain-down"))?.errorCount).toBe(0);
  }, 30000);

  test("D19 a newer push supersedes the waiting retry: the service sees 2 publishes, not 3", async () => {
    routes.set("plain-super", waitThenResult({ waits: 1 }));
    await enableWith(alice, "plain-super", []);
    expect(await testPush(s, "alice", "plain-super")).toEqual({ outcome: "error", error: "wait/resource-constraint" });
    expect((await testPush(s, "alice", "plain-super")).outcome).toBe("ok"); // within the 1 s delay
    await Bun.sleep(3500);
    expect(to(s, "plain-super").map((p) => p.answer?.kind)).toEqual(["error", "result"]);
    const h = await historyOf(s, "alice", "plain-super", (x) => x.some((r) => r.outcome === "superseded"));
    // the failed attempt's row says a retry was scheduled; a second row for that id says it was superseded
    expect(h.map((r) => r.outcome).sort()).toEqual(["ok", "retry-scheduled", "superseded"]);
    const byOutcome = new Map(h.map((r) => [r.outcome, r.publishId]));
    expect(byOutcome.get("superseded")).toBe(byOutcome.get("retry-scheduled")!);
  }, 30000);

  test("D19 a service that never answers: timeouts are retried too (3 sends), then recorded as a timeout", async () => {
    routes.set("silent", () => ({ kind: "silent" }));
    await enableWith(alice, "silent", []);
    expect((await testPush(s, "alice", "silent")).outcome).toBe("timeout");
    const h = await historyOf(s, "alice", "silent", (x) => x.length === 3 && x[2]!.outcome === "timeout", 20000);
    expect(outcomes(h)).toEqual([
      ["retry-scheduled", "timeout"],
      ["retry-scheduled", "timeout"],
      ["timeout", null],
    ]);
    const [g1, g2] = gaps(to(s, "silent"));
    expect(g1).toBeGreaterThanOrEqual(2900); // 2 s timeout + 1 s delay
    expect(g2).toBeGreaterThanOrEqual(3900); // 2 s timeout + 2 s delay
    expect((await registration(s, "alice", "silent"))?.errorCount).toBe(0);
  }, 30000);

  test("D20 p2: item-not-found (unknown node, dead token) and forbidden (wrong secret) remove at once; no retry; a good target is kept", async () => {
    const targets = new Map([
      ["p2-good", { domain: "localhost", secret: "secret-p2-good" }],
      ["p2-wrong", { domain: "localhost", secret: "the-real-secret" }],
      ["p2-dead", { domain: "localhost", secret: "secret-p2-dead" }],
    ]);
    const p2 = p2Answers({ targets, dead: new Set(["p2-dead"]) });
    const nodes = ["p2-good", "p2-wrong", "p2-unknown", "p2-dead"];
    for (const node of nodes) {
      routes.set(node, p2);
      const reply = await alice.iq(enableXml(`en-${node}`, node), `en-${node}`); // secret-<node>
      expect(reply.type).toBe("result");
    }
    const results = [];
    for (const node of nodes) results.push(await testPush(s, "alice", node));
    expect(results).toEqual([
      { outcome: "ok" },
      { outcome: "error", error: "auth/forbidden" },
      { outcome: "error", error: "cancel/item-not-found" },
      { outcome: "error", error: "cancel/item-not-found" },
    ]);
    // p2 checks the from: a bare JID of the user's domain (D15 publish-as-host)
    expect(to(s, "p2-good")[0]?.iq.attrs.from).toBe("localhost");
    const left = (await registrations(s, "alice")).regs.map((r) => r.node);
    expect(left).toContain("p2-good");
    for (const node of ["p2-wrong", "p2-unknown", "p2-dead"]) expect(left).not.toContain(node);
    const gone = await eventually(async () => {
      const r = (await removals(s, "alice")).filter((x) => x.reason === "rejected");
      return r.length >= 3 ? r : undefined;
    });
    expect(gone.map((r) => [r.identifier, r.detail]).sort()).toEqual([
      [`${APP_DOMAIN}<p2-dead`, "app service answered cancel/item-not-found"],
      [`${APP_DOMAIN}<p2-unknown`, "app service answered cancel/item-not-found"],
      [`${APP_DOMAIN}<p2-wrong`, "app service answered auth/forbidden"],
    ]);
    await Bun.sleep(2000); // no retry of any of them
    expect(nodes.map((n) => to(s, n).length)).toEqual([1, 1, 1, 1]);
  }, 30000);

  test("D20 fpush: only pushModule; policy-violation and transient bad-request count (kept until push_max_errors), wait/bad-request is recorded only, rate-limited is a result", async () => {
    const flaky = new Set(["tok-flaky"]);
    const fpush = fpushAnswers({ dead: new Set(["tok-dead"]), transient: flaky, rateLimited: new Set(["tok-limited"]) });
    for (const node of ["tok-ok", "tok-dead", "tok-flaky", "tok-limited"]) {
      routes.set(node, fpush);
      await enableWith(alice, node, [["pushModule", "apns"]]);
    }
    routes.set("tok-extra", fpush);
    await enableWith(alice, "tok-extra", [
      ["pushModule", "apns"],
      ["secret", "s"],
    ]);

    expect(await testPush(s, "alice", "tok-ok")).toEqual({ outcome: "ok" });
    expect(await testPush(s, "alice", "tok-limited")).toEqual({ outcome: "ok" });
    // fpush's format error is wait-typed but the same publish would fail again: not retried, not counted
    expect(await testPush(s, "alice", "tok-extra")).toEqual({ outcome: "error", error: "wait/bad-request" });
    const extra = to(s, "tok-extra")[0]!;
    expect(extra.answer).toEqual({ kind: "error", type: "wait", condition: "bad-request", text: FPUSH_FORMAT_TEXT });
    // transient failure: counted, kept, and a later result resets the count (B43)
    expect(await testPush(s, "alice", "tok-flaky")).toEqual({ outcome: "error", error: "cancel/bad-request" });
    expect((await registration(s, "alice", "tok-flaky"))?.errorCount).toBe(1);
    flaky.delete("tok-flaky");
    expect(await testPush(s, "alice", "tok-flaky")).toEqual({ outcome: "ok" });
    expect((await registration(s, "alice", "tok-flaky"))?.errorCount).toBe(0);
    // dead token: counted each time, removed at push_max_errors = 3 (B41), not at once
    for (const count of [1, 2]) {
      expect(await testPush(s, "alice", "tok-dead")).toEqual({ outcome: "error", error: "cancel/policy-violation" });
      expect((await registration(s, "alice", "tok-dead"))?.errorCount).toBe(count);
    }
    await testPush(s, "alice", "tok-dead");
    expect(await registration(s, "alice", "tok-dead")).toBeUndefined();
    const removal = await eventually(async () => (await removals(s, "alice")).find((r) => r.identifier === `${APP_DOMAIN}<tok-dead`));
    expect(removal.reason).toBe("max-errors");
    await Bun.sleep(2000);
    expect(to(s, "tok-extra")).toHaveLength(1);
    expect((await registration(s, "alice", "tok-extra"))?.errorCount).toBe(0);
    // what fpush saw: publish-options with pushModule only (the client's form, verbatim)
    expect([...(to(s, "tok-ok")[0]?.publishOptions?.getChildren("field") ?? [])].map((f) => f.attrs.var)).toEqual([
      "FORM_TYPE",
      "pushModule",
    ]);
  }, 40000);
});

describe("D19 D20 app service replies, publish_from = component", () => {
  let s: PushStack;
  let routes: Map<string, AnswerFn>;
  let alice: TestClient;

  beforeAll(async () => {
    await ensureBinary();
    s = await startPushStack({ users: ["alice"], daemonEnv: { ...RETRY_ENV, CLOUD_NOTIFYD_PUBLISH_FROM: "component" } });
    routes = router(s);
    alice = await s.client("alice", "phone");
  }, 90000);
  afterAll(async () => {
    await s?.dispose();
  }, 30000);

  test("D19 retries work from the component too: busy twice, then a result, 3 publishes from the component JID", async () => {
    routes.set("c-busy", waitThenResult({ waits: 2, condition: "remote-server-timeout" }));
    await enableWith(alice, "c-busy", []);
    expect(await testPush(s, "alice", "c-busy")).toEqual({ outcome: "error", error: "wait/remote-server-timeout" });
    const h = await historyOf(s, "alice", "c-busy", (x) => x.some((r) => r.outcome === "ok"));
    expect(h.map((r) => r.outcome)).toEqual(["retry-scheduled", "retry-scheduled", "ok"]);
    const got = to(s, "c-busy");
    expect(got.map((p) => p.iq.attrs.from)).toEqual(Array(3).fill(s.prosody.componentDomain));
    expect(got.map((p) => p.answer?.kind)).toEqual(["error", "error", "result"]);
  }, 30000);

  test("D20 p2 answers item-not-found to a component of another domain: the registration is removed at once", async () => {
    routes.set("c-p2", p2Answers({ targets: new Map([["c-p2", { domain: "localhost", secret: "secret-c-p2" }]]) }));
    const reply = await alice.iq(enableXml("en-c-p2", "c-p2"), "en-c-p2");
    expect(reply.type).toBe("result");
    expect(await testPush(s, "alice", "c-p2")).toEqual({ outcome: "error", error: "cancel/item-not-found" });
    expect(await registration(s, "alice", "c-p2")).toBeUndefined();
    const removal = await eventually(async () => (await removals(s, "alice")).find((r) => r.identifier === `${APP_DOMAIN}<c-p2`));
    expect(removal.reason).toBe("rejected");
  }, 30000);
});
