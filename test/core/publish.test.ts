import { expect, test } from "bun:test";
import type { CoreConfig } from "../../src/core/types.ts";
import {
  APP,
  chat,
  copyOf,
  enable,
  fixture,
  fresh,
  load,
  only,
  publishes,
  pushCounts,
  registration,
  run,
  sessionRef,
  started,
} from "./harness.ts";

function oneReg(over: Partial<CoreConfig> = {}, options: string | null = null) {
  const state = fresh(over);
  load(state, "alice", [registration("alice", APP, "n1", { publishOptions: options })]);
  return state;
}

function offline(over: Partial<CoreConfig>, name: string, options: string | null = null) {
  const state = oneReg(over, options);
  return run(state, { type: "offline", now: 10, user: "alice", copy: copyOf(fixture(name), name) });
}

test("B24 the same stanza is not pushed twice to the same registration", () => {
  const state = oneReg();
  const copy = chat("k1");
  expect(publishes(run(state, { type: "offline", now: 1, user: "alice", copy }))).toHaveLength(1);
  expect(publishes(run(state, { type: "offline", now: 2, user: "alice", copy }))).toHaveLength(0);
});

test("D8 one stanza key is pushed once per registration across offline, archive and session paths", () => {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "a"), registration("alice", APP, "b")]);
  const s = sessionRef("alice", "s1");
  started(state, s, 0, `${APP}<a`);
  const copy = chat("same-key");
  const viaSession = run(state, { type: "hibernation-started", now: 1, user: "alice", sessionId: "s1", queue: [copy] });
  expect(publishes(viaSession).map((p) => p.identifier)).toEqual([`${APP}<a`]);
  const viaArchive = run(state, { type: "archived", now: 2, user: "alice", copy, archiveId: "mam1" });
  expect(publishes(viaArchive).map((p) => p.identifier)).toEqual([`${APP}<b`]);
  const viaOffline = run(state, { type: "offline", now: 3, user: "alice", copy });
  expect(publishes(viaOffline)).toHaveLength(0);
  expect(only(viaOffline, "metric").map((m) => m.name)).toContain("pushes_deduplicated_total");
});

test("B25 sender and body are left out by default (D17 privacy)", () => {
  const summary = publishes(offline({}, "message-body"))[0]?.summary;
  expect(summary?.lastMessageSender).toBeNull();
  expect(summary?.lastMessageBody).toBe("New Message!");
});

test("B25 with_sender puts the stanza's from; for carbons the wrapper's from", () => {
  expect(publishes(offline({ pushNotificationWithSender: true }, "message-body"))[0]?.summary.lastMessageSender).toBe(
    "bob@example.net/laptop",
  );
  expect(publishes(offline({ pushNotificationWithSender: true }, "carbon-received"))[0]?.summary.lastMessageSender).toBe(
    "alice@example.com",
  );
});

test("B25 with_body puts the outer body; absent for carbons and importance is not consulted", () => {
  const withBody = { pushNotificationWithBody: true };
  expect(publishes(offline(withBody, "message-body"))[0]?.summary.lastMessageBody).toBe("Hello Alice");
  const carbon = publishes(offline(withBody, "carbon-received"))[0];
  expect(carbon?.summary.lastMessageBody).toBeNull();
  expect(carbon?.important).toBe(false);
  expect(publishes(offline(withBody, "headline"))[0]?.summary.lastMessageBody).toBe("News");
});

test("B26 publish carries the summary fields, node, options, to=reg.jid and a 64-hex id", () => {
  const form = `<x xmlns="jabber:x:data" type="submit"/>`;
  const pub = publishes(offline({}, "message-body", form))[0];
  expect(pub).toEqual({
    id: expect.stringMatching(/^[0-9a-f]{64}$/),
    user: "alice",
    identifier: `${APP}<n1`,
    to: APP,
    node: "n1",
    summary: { messageCount: "1", pendingSubscriptionCount: null, lastMessageSender: null, lastMessageBody: "New Message!" },
    publishOptions: form,
    important: true,
    trigger: "offline",
    payload: [],
    deadline: 10 + 60000,
  });
});

test("B27 important iff the body field has a value", () => {
  expect(publishes(offline({}, "message-body"))[0]?.important).toBe(true);
  const unimportant = publishes(offline({}, "chat-state"))[0];
  expect(unimportant?.important).toBe(false);
  expect(unimportant?.summary.lastMessageBody).toBeNull();
});

test("D10 an empty important body disables the placeholder and the push is not important", () => {
  const pub = publishes(offline({ pushNotificationImportantBody: "" }, "omemo-2"))[0];
  expect(pub?.summary.lastMessageBody).toBeNull();
  expect(pub?.important).toBe(false);
});

test("B28 (D16: no veto hook) every push is sent and recorded in history as sent", () => {
  const state = oneReg();
  const actions = run(state, { type: "offline", now: 10, user: "alice", copy: copyOf(fixture("message-body"), "message-body") });
  const pub = publishes(actions)[0];
  expect(pushCounts(actions)).toEqual(["sent"]);
  // recorded once, at its outcome: never answered before the daemon stopped, it stays "sent"
  expect(only(run(state, { type: "shutdown", now: 10, graceMs: 0 }), "history")).toEqual([
    {
      type: "history",
      at: 10,
      user: "alice",
      identifier: `${APP}<n1`,
      publishId: pub?.id ?? "",
      trigger: "offline",
      important: true,
      outcome: "sent",
      sentAt: 10,
    },
  ]);
});

test("D16 the pipeline is typed data: a push yields exactly publish and metric actions (its history record comes with its outcome)", () => {
  expect(offline({}, "message-body").map((a) => a.type)).toEqual(["publish", "metric"]);
});

test("B29 a publish is tracked as pending under its id", () => {
  const state = oneReg();
  const pub = publishes(run(state, { type: "offline", now: 1, user: "alice", copy: chat("k") }))[0];
  expect(state.pending.get(pub?.id ?? "")?.identifier).toBe(`${APP}<n1`);
  expect(state.users.get("alice")?.pendingPublishes).toBe(1);
});

test("D9 message-count counts push-worthy stanzas since a bound device was last connected", () => {
  const state = oneReg();
  const counts = [chat("a"), fixture("chat-state"), chat("b")].map((stanza, i) => {
    const copy = "key" in stanza ? stanza : copyOf(stanza, `cs${i}`);
    return publishes(run(state, { type: "offline", now: i, user: "alice", copy }))[0]?.summary.messageCount;
  });
  expect(counts).toEqual(["1", "1", "2"]);
  const s = sessionRef("alice", "s1");
  started(state, s, 10, `${APP}<n1`);
  expect(publishes(run(state, { type: "offline", now: 11, user: "alice", copy: chat("c") }))[0]?.summary.messageCount).toBe("1");
});

test("D9 enabling resets the count of the registration (the device is connected)", () => {
  const state = oneReg();
  run(state, { type: "offline", now: 1, user: "alice", copy: chat("a") });
  enable(state, sessionRef("alice", "s1"), "n1", 5);
  expect(state.users.get("alice")?.regs.get(`${APP}<n1`)?.count).toBe(0);
});

test("D15 (adapter side) the publish action names only the target; the sender address is the adapter's choice", () => {
  const pub = publishes(offline({}, "message-body"))[0];
  expect(pub).not.toHaveProperty("from");
  expect(pub?.to).toBe(APP);
});

test("D17 no body ever reaches history, metrics or logs even with with_body", () => {
  const actions = offline({ pushNotificationWithBody: true }, "message-body");
  const nonPublish = JSON.stringify(actions.filter((a) => a.type !== "publish"));
  expect(nonPublish).not.toContain("Hello Alice");
});
