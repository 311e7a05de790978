/**
 * D21: after an unclean Prosody stop the bridge reports each user with messages in offline
 * storage (docs/behaviour.md, bridge-protocol.md §2 offline-pending); the core pushes once unless
 * the user's last push is newer than the newest stored message.
 */
import { expect, test } from "bun:test";

import type { Event, StanzaCopy } from "../../src/core/types.ts";
import { APP, chat, chatState, fresh, load, publishes, registration, run } from "./harness.ts";

const T = 1_700_000_000_000;

function pending(over: { lastPushAt?: number; latestAt?: number; copy?: StanzaCopy | null; user?: string } = {}): Event {
  return {
    type: "offline-pending",
    now: T + 60_000,
    user: over.user ?? "alice",
    count: 3,
    latestAt: over.latestAt ?? T,
    lastPushAt: over.lastPushAt ?? Number.NEGATIVE_INFINITY,
    copy: over.copy === undefined ? chat("newest") : over.copy,
  };
}

function twoDevices() {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "phone"), registration("alice", APP, "tablet")]);
  return state;
}

test("D21 a user never pushed since the newest offline message is pushed once on every registration", () => {
  const out = publishes(run(twoDevices(), pending()));
  expect(out.map((p) => p.node).sort()).toEqual(["phone", "tablet"]);
  expect(out.every((p) => p.trigger === "recovered" && p.important)).toBe(true);
});

test("D21 a push newer than the newest stored message (by more than a second) means nothing was missed", () => {
  expect(publishes(run(twoDevices(), pending({ lastPushAt: T + 1500 })))).toHaveLength(0);
});

test("D21 a push in the same second as the newest stored message still pushes (offline storage keeps whole seconds)", () => {
  expect(publishes(run(twoDevices(), pending({ lastPushAt: T + 500 })))).toHaveLength(2);
});

test("D21 D8 the very stanza already pushed by its own offline event is not pushed again", () => {
  const state = twoDevices();
  const copy = chat("same-key");
  expect(publishes(run(state, { type: "offline", now: T, user: "alice", copy }))).toHaveLength(2);
  expect(publishes(run(state, pending({ copy })))).toHaveLength(0);
});

test("D21 without a copy of the message the push counts as important; a user without registrations gets none", () => {
  const state = twoDevices();
  expect(publishes(run(state, pending({ copy: null }))).every((p) => p.important)).toBe(true);
  const nobody = fresh();
  load(nobody, "bob", []);
  expect(publishes(run(nobody, pending({ user: "bob" })))).toHaveLength(0);
});

test("D21 the newest stored message is classified as usual: a chat state alone is not important", () => {
  const out = publishes(run(twoDevices(), pending({ copy: chatState("cs") })));
  expect(out).toHaveLength(2);
  expect(out.every((p) => !p.important)).toBe(true);
});
