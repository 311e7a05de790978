/**
 * Issue 15 item 1, D17: the daemon's log tells the story of every push without leaking it.
 * One stack runs the e2e suite's typical flows at log level debug, with message bodies sent on
 * to the app service (push_notification_with_body) so they pass through the daemon: an enable
 * with a publish-options secret and a device-token-like node, an offline push, a `wait` error
 * retried, timeouts retried and given up, an error reply that removes the registration, a
 * hibernation push, a Tigase encrypted registration with its key, an eviction, a disable and an
 * admin-API removal. Then EVERY daemon log line is checked: one logfmt line, and none contains a
 * body, a publish-options secret, the component secret, the admin token, an encryption key or
 * a whole node; and the story is there: the info lines the operator needs, the debug lines.
 */
import { expect, test } from "bun:test";

import { NS_DATA, NS_PUSH } from "../helpers/app-service.ts";
import { newPushKey } from "../helpers/decrypting-app-service.ts";
import { describeProsody } from "../helpers/prosody-versions.ts";
import {
  ADMIN_TOKEN,
  APP_DOMAIN,
  disableXml,
  enableXml,
  eventually,
  history,
  PUBLISH_OPTIONS_FORM_TYPE,
  registrations,
  removals,
  usePushStacks,
} from "../helpers/push-stack.ts";
import type { TestClient } from "../helpers/xmpp-client.ts";

/** The component secret push-stack.ts gives Prosody and the daemon. */
const COMPONENT_SECRET = "push-e2e-secret";
/** Looks like an APNs/FCM device token: 64 hex characters. */
const TOKEN_A = "a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00";
const TOKEN_C = "c0ffee00112233445566778899aabbccddeeff00112233445566778899abcdef";
const SECRET_A = "po-secret-alice-5e1d";
const SECRET_C = "po-secret-carol-77aa";
const BODIES = {
  offline: "body offline 1 3f9c",
  retried: "body retried 2 81d0",
  timeout: "body timeout 3 0b7e",
  gaveUp: "body gave up 4 c4a2",
  rejected: "body rejected 5 9e13",
  hibernation: "body hibernation 6 5d6f",
  encrypted: "body encrypted 7 e0c8",
};

function siskinEnable(id: string, node: string, key: string): string {
  return (
    `<iq type='set' id='${id}'><enable xmlns='${NS_PUSH}' jid='${APP_DOMAIN}' node='${node}'>` +
    `<x xmlns='${NS_DATA}' type='submit'><field var='FORM_TYPE'><value>${PUBLISH_OPTIONS_FORM_TYPE}</value></field></x>` +
    `<encrypt xmlns='tigase:push:encrypt:0' alg='aes-128-gcm' max-size='3072'>${key}</encrypt></enable></iq>`
  );
}

async function iqOk(c: TestClient, xml: string, id: string): Promise<void> {
  const reply = await c.iq(xml, id);
  if (reply.type !== "result") throw new Error(`Cannot ${id}: ${String(reply.xml)}`);
}

/** logfmt lines whose msg is `msg` (the value as written, quoted when it has a space). */
function linesWith(lines: string[], msg: string, ...parts: string[]): string[] {
  const m = msg.includes(" ") ? `msg="${msg}"` : `msg=${msg}`;
  return lines.filter((l) => l.includes(m) && parts.every((p) => l.includes(p)));
}

describeProsody("log privacy and the push story (issue 15)", (version) => {
  const stack = usePushStacks(version);

  test("D17 every daemon log line of the typical flows at debug: no body, publish-options secret, component secret, admin token, key or whole node; failures, removals and additions at info", async () => {
    const s = await stack({
      users: ["alice", "bob", "carol", "dave", "eve"],
      daemonEnv: {
        CLOUD_NOTIFYD_LOG_LEVEL: "debug",
        CLOUD_NOTIFYD_PUSH_NOTIFICATION_WITH_BODY: "true",
        CLOUD_NOTIFYD_PUSH_RETRY_DELAYS: "1",
        CLOUD_NOTIFYD_PUBLISH_TIMEOUT: "1",
        CLOUD_NOTIFYD_PUSH_MAX_DEVICES: "2",
      },
    });
    // Answers per body: the test decides what the app service says to each push.
    const answers = new Map<string, Array<"result" | "wait" | "silent" | "gone">>([
      [BODIES.retried, ["wait", "result"]],
      [BODIES.timeout, ["silent", "result"]],
      [BODIES.gaveUp, ["silent", "silent"]],
      [BODIES.rejected, ["gone"]],
    ]);
    s.app.setAnswer((p) => {
      const body = p.summary.get("last-message-body") ?? "";
      const next = answers.get(body)?.shift() ?? "result";
      if (next === "wait") return { kind: "error", type: "wait", condition: "resource-constraint" };
      if (next === "silent") return { kind: "silent" };
      if (next === "gone") return { kind: "error", type: "cancel", condition: "item-not-found", text: "no such device" };
      return { kind: "result" };
    });
    const bob = await s.client("bob", "pc");
    const send = (to: string, body: string, id: string) => bob.command({ cmd: "message", to: `${to}@localhost`, body, id });
    const outcomes = async (user: string) => (await history(s, user)).map((h) => h.outcome);

    // alice: enable with a publish-options secret, offline; then ok, retried, timed out, given up, rejected
    const alice = await s.client("alice", "phone");
    await iqOk(alice, enableXml("en-a", TOKEN_A, SECRET_A), "en-a");
    await alice.quit();
    send("alice", BODIES.offline, "m1");
    await eventually(async () => ((await outcomes("alice")).includes("ok") ? true : undefined), 8000, "offline push ok");
    send("alice", BODIES.retried, "m2");
    await eventually(
      async () => ((await outcomes("alice")).filter((o) => o === "ok").length >= 2 ? true : undefined),
      10000,
      "retried push ok",
    );
    send("alice", BODIES.timeout, "m3");
    await eventually(
      async () => ((await outcomes("alice")).filter((o) => o === "ok").length >= 3 ? true : undefined),
      12000,
      "push ok after a timeout",
    );
    send("alice", BODIES.gaveUp, "m4");
    await eventually(
      async () => ((await outcomes("alice")).includes("timeout") ? true : undefined),
      12000,
      "a push given up after its retry timed out",
    );
    send("alice", BODIES.rejected, "m5");
    await eventually(async () => ((await removals(s, "alice")).length > 0 ? true : undefined), 8000, "alice's removal");

    // carol: hibernating session pushed (stream management), then removed through the admin API
    const carol = await s.client("carol", "phone");
    await iqOk(carol, enableXml("en-c", TOKEN_C, SECRET_C), "en-c");
    carol.command({ cmd: "drop" });
    // only carol's session hibernates in this test (the others quit or run without stream management)
    await eventually(
      async () => ((await s.prosody.log()).includes("Session going into hibernation") ? true : undefined),
      8000,
      "carol hibernating",
    );
    send("carol", BODIES.hibernation, "m6");
    await eventually(async () => ((await outcomes("carol")).includes("ok") ? true : undefined), 8000, "hibernation push ok");
    const del = await fetch(s.daemon.url("/api/v1/users/carol/registrations"), {
      method: "DELETE",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(del.status).toBe(200);

    // dave: Tigase encrypted registration with a key, an encrypted push, then disable
    const key = newPushKey();
    const dave = await s.client("dave", "phone", { sm: false });
    await iqOk(dave, siskinEnable("en-d", "siskin-dave", key), "en-d");
    await dave.quit();
    send("dave", BODIES.encrypted, "m7");
    await eventually(async () => ((await outcomes("dave")).includes("ok") ? true : undefined), 8000, "encrypted push ok");
    const dave2 = await s.client("dave", "pc", { sm: false });
    await iqOk(dave2, disableXml("dis-d"), "dis-d");

    // eve: three devices with push_max_devices = 2 evict the oldest
    const eve = await s.client("eve", "phone", { sm: false });
    for (const n of ["eve-1", "eve-2", "eve-3"]) await iqOk(eve, enableXml(`en-${n}`, n, `secret-${n}`), `en-${n}`);
    expect((await registrations(s, "eve")).regs.length).toBe(2);

    await s.admin("/users/alice");
    expect(await s.daemon.stop()).toBe(0);

    const lines = s.daemon
      .logs()
      .split("\n")
      .filter((l) => l !== "");
    expect(lines.length).toBeGreaterThan(50);
    // one event per line, each a logfmt line
    for (const l of lines) expect(l).toMatch(/^ts=\S+ level=(debug|info|warn|error) msg=/);
    const forbidden = [
      ...Object.values(BODIES),
      SECRET_A,
      SECRET_C,
      "secret-eve-",
      COMPONENT_SECRET,
      ADMIN_TOKEN,
      key,
      key.slice(0, 12), // no part of the key either
      TOKEN_A,
      TOKEN_C,
      TOKEN_A.slice(6, -4), // the node is shortened: first 6 … last 4
    ];
    for (const l of lines) for (const f of forbidden) if (l.includes(f)) throw new Error(`log line leaks ${JSON.stringify(f)}: ${l}`);

    // the story, at info: who, which registration, why
    const regA = `registration=${APP_DOMAIN}<a1b2c3…ff00`;
    const info = lines.filter((l) => l.includes("level=info"));
    expect(
      linesWith(info, "registration added", "user=alice", "host=localhost", regA, "publish_options=present", "encrypted=false"),
    ).toHaveLength(1);
    expect(linesWith(info, "registration added", "user=dave", "encrypted=true")).toHaveLength(1);
    expect(
      linesWith(info, "push failed: retry scheduled", "user=alice", regA, "trigger=offline", "error=wait/resource-constraint"),
    ).toHaveLength(1);
    expect(linesWith(info, "push failed: retry scheduled", "user=alice", "error=timeout").length).toBeGreaterThanOrEqual(2);
    expect(linesWith(info, "push timed out: no answer from the app service", "user=alice", regA, "trigger=offline")).toHaveLength(1);
    expect(linesWith(info, "push failed", "user=alice", "error=cancel/item-not-found")).toHaveLength(1);
    expect(
      linesWith(info, "registration removed", "user=alice", regA, "reason=rejected", 'error="app service answered cancel/item-not-found"'),
    ).toHaveLength(1);
    expect(linesWith(info, "registration removed", "user=carol", "reason=admin")).toHaveLength(1);
    expect(linesWith(info, "registration removed", "user=dave", "reason=disabled")).toHaveLength(1);
    expect(
      linesWith(
        info,
        "registration evicted: the user enabled more than push_max_devices",
        "user=eve",
        `registration=${APP_DOMAIN}<eve-1`,
        "reason=evicted",
      ),
    ).toHaveLength(1);
    // successes are counted, not logged at info
    expect(info.filter((l) => l.includes("push delivered") || l.includes("push sent"))).toEqual([]);
    // at debug: each event with the core's decision, each publish sent and delivered
    const debug = lines.filter((l) => l.includes("level=debug"));
    expect(linesWith(debug, "event", "type=offline", "user=alice", "decided=").length).toBeGreaterThanOrEqual(5);
    expect(linesWith(debug, "event", "type=enable", "user=carol", "decided=store")).toHaveLength(1);
    expect(linesWith(debug, "push sent", "user=carol", "trigger=session-queue").length).toBeGreaterThanOrEqual(1);
    expect(linesWith(debug, "push delivered", "user=dave", "latency_ms=").length).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
