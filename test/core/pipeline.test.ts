import { expect, test } from "bun:test";
import { accountFeatures } from "../../src/core/features.ts";
import { extensionsFor, NS_PUSH_PRIORITY, PRIORITY_EXTENSION, type PushExtension } from "../../src/core/pipeline.ts";
import { initState } from "../../src/core/state.ts";
import { APP, chat, chatState, config, load, only, publishes, registration, run, SEED } from "./harness.ts";

function stateWith(extensions: readonly PushExtension[], over = {}) {
  const state = initState(config(over), { idSeed: SEED, extensions });
  load(state, "alice", [registration("alice", APP, "n1")]);
  return state;
}

test("D16 E2 priority: an important push carries <priority>high</priority>, an unimportant one nothing", () => {
  const state = stateWith([PRIORITY_EXTENSION]);
  const important = publishes(run(state, { type: "offline", now: 1, user: "alice", copy: chat("m1") }))[0];
  expect(important?.payload).toEqual([{ name: "priority", attrs: { xmlns: NS_PUSH_PRIORITY }, children: ["high"] }]);
  const other = publishes(run(state, { type: "offline", now: 2, user: "alice", copy: chatState("c1") }))[0];
  expect(other?.payload).toEqual([]);
});

test("D16 the configuration picks the extensions: none by default (exact B26 shape), priority when push_priority", () => {
  expect(extensionsFor(config())).toEqual([]);
  expect(extensionsFor(config({ pushPriority: true }))).toEqual([PRIORITY_EXTENSION]);
  expect(initState(config({ pushPriority: true }), { idSeed: SEED }).extensions).toEqual([PRIORITY_EXTENSION]);
});

test("D16 a filter vetoes a push: nothing is sent, history records 'vetoed' with the reason (B28)", () => {
  const muteAll: PushExtension = { name: "mute", features: [], filter: (d) => (d.trigger === "offline" ? "muted sender" : null) };
  const state = stateWith([muteAll]);
  const actions = run(state, { type: "offline", now: 5, user: "alice", copy: chat("m1") });
  expect(publishes(actions)).toEqual([]);
  expect(only(actions, "history")).toEqual([
    {
      type: "history",
      at: 5,
      user: "alice",
      identifier: `${APP}<n1`,
      publishId: null,
      trigger: "offline",
      important: true,
      outcome: "vetoed",
      error: "mute: muted sender",
    },
  ]);
  expect(state.pending.size).toBe(0);
  // the ping path is not vetoed by this filter
  expect(publishes(run(state, { type: "ping", now: 6, user: "alice" }))).toHaveLength(1);
});

test("D16 every filter runs before any build stage; build stages run in list order", () => {
  const order: string[] = [];
  const a: PushExtension = {
    name: "a",
    features: [],
    filter: () => (order.push("filter a"), null),
    build: (d) => (order.push("build a"), d),
  };
  const b: PushExtension = {
    name: "b",
    features: [],
    filter: () => (order.push("filter b"), null),
    build: (d) => (order.push("build b"), { ...d, summary: { ...d.summary, messageCount: "7" } }),
  };
  const pub = publishes(run(stateWith([a, b]), { type: "offline", now: 1, user: "alice", copy: chat("m") }))[0];
  expect(order).toEqual(["filter a", "filter b", "build a", "build b"]);
  expect(pub?.summary.messageCount).toBe("7");
});

test("B2 enabled extensions add their account disco features after urn:xmpp:push:0", () => {
  expect(accountFeatures([])).toEqual(["urn:xmpp:push:0"]);
  expect(accountFeatures([PRIORITY_EXTENSION])).toEqual(["urn:xmpp:push:0", NS_PUSH_PRIORITY]);
});
