import { expect, test } from "bun:test";
import {
  APP,
  HOST,
  enable,
  enableEl,
  fixture,
  fresh,
  load,
  only,
  registration,
  requestEnable,
  run,
  sessionRef,
  started,
  xml,
} from "./harness.ts";

const alice = sessionRef("alice", "s1");

function errorOf(jid: string | null, node: string | null = null, inner = "") {
  const state = fresh();
  load(state, "alice");
  const actions = requestEnable(state, alice, enableEl(jid, node, inner));
  expect(only(actions, "store")).toHaveLength(0);
  return only(actions, "reply")[0]?.error;
}

test("B3 enable without jid is modify/bad-request 'Missing jid' and changes nothing", () => {
  expect(errorOf(null)).toEqual({ type: "modify", condition: "bad-request", text: "Missing jid" });
});

test("B4 enable with the requesting session's full JID is modify/bad-request", () => {
  expect(errorOf(alice.fullJid)?.condition).toBe("bad-request");
});

test("D1 the user's own bare JID and the server domain are modify/bad-request", () => {
  expect(errorOf(`alice@${HOST}`)).toEqual({ type: "modify", condition: "bad-request", text: "JID must be different from ours" });
  expect(errorOf(`Alice@${HOST.toUpperCase()}/other`)?.condition).toBe("bad-request");
  expect(errorOf(HOST)?.condition).toBe("bad-request");
});

test("D1 an unparseable jid is modify/jid-malformed", () => {
  for (const jid of ["", "a b@x", "@x", "x@", "x/", 'us"er@x', "a@b@c", "x..y"]) {
    expect(errorOf(jid)).toEqual({ type: "modify", condition: "jid-malformed", text: "Invalid jid" });
  }
});

test("D4 a valid enable asks the store first and changes no state before store-done", () => {
  const state = fresh();
  load(state, "alice");
  const actions = requestEnable(state, alice, enableEl(APP, "n1"), 5000);
  expect(actions).toHaveLength(1);
  const store = only(actions, "store")[0];
  expect(store?.opId).toBeString();
  expect(store?.ops).toEqual([
    { op: "upsert", registration: registration("alice", APP, "n1", { language: "en", resource: "s1", createdAt: 5000, updatedAt: 5000 }) },
  ]);
  expect(state.users.get("alice")?.regs.size).toBe(0);
});

test("B5 enable without node gives identifier 'jid<' and a publish without node", () => {
  const state = fresh();
  load(state, "alice");
  const done = enable(state, alice, null);
  expect(only(done, "reply")[0]).toEqual({ type: "reply", requestId: expect.any(String), bound: `${APP}<` });
  const pub = only(
    run(state, { type: "offline", now: 2000, user: "alice", copy: { stanza: fixture("message-body"), key: "k" } }),
    "publish",
  )[0];
  expect(pub?.publish.node).toBeNull();
});

test("B6 publish options: the first jabber:x:data child is stored serialised, escaped", () => {
  const state = fresh();
  load(state, "alice");
  const actions = requestEnable(state, alice, fixture("enable-with-options"));
  const op = only(actions, "store")[0]?.ops[0];
  expect(op?.op).toBe("upsert");
  const stored = op?.op === "upsert" ? op.registration.publishOptions : null;
  expect(stored).toBe(
    '<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var="secret"><value>eruio234vzxc2kla-91&amp;&lt;x&gt;</value></field></x>',
  );
  // round trip: the stored text parses back to the same tree
  expect(xml(stored ?? "").toString()).toBe(stored ?? "");
});

test("B6 no form → no publish options", () => {
  const state = fresh();
  load(state, "alice");
  const op = only(requestEnable(state, alice, enableEl(APP, "n", `<x xmlns="urn:other"/>`)), "store")[0]?.ops[0];
  expect(op?.op === "upsert" ? op.registration.publishOptions : "x").toBeNull();
});

test("D2 publish options larger than maxPublishOptionsBytes are modify/not-acceptable", () => {
  const big = `<x xmlns="jabber:x:data" type="submit"><field var="secret"><value>${"é".repeat(4100)}</value></field></x>`;
  const error = errorOf(APP, "n", big);
  expect(error?.type).toBe("modify");
  expect(error?.condition).toBe("not-acceptable");
  expect(error?.text).toContain("8192");
});

test("D2 a node longer than maxNodeLength is modify/not-acceptable", () => {
  expect(errorOf(APP, "n".repeat(1025))?.condition).toBe("not-acceptable");
  const state = fresh();
  load(state, "alice");
  expect(only(requestEnable(state, alice, enableEl(APP, "n".repeat(1024))), "store")).toHaveLength(1);
});

test("B7 (no veto hook, D16) a valid enable always reaches the store", () => {
  const state = fresh();
  load(state, "alice");
  expect(only(requestEnable(state, alice, enableEl(APP, "n")), "store")).toHaveLength(1);
});

test("B8 re-enable of the same identifier replaces it (last options win) and evicts nothing", () => {
  const state = fresh();
  load(state, "alice");
  enable(state, alice, "n1", 1000);
  const actions = requestEnable(state, alice, enableEl(APP, "n1", `<x xmlns="jabber:x:data" type="submit"/>`), 2000);
  const ops = only(actions, "store")[0]?.ops ?? [];
  expect(ops).toHaveLength(1);
  const reg = ops[0]?.op === "upsert" ? ops[0].registration : null;
  expect(reg?.publishOptions).toBe(`<x xmlns="jabber:x:data" type="submit"/>`);
  expect(reg?.createdAt).toBe(1000);
  expect(reg?.updatedAt).toBe(2000);
});

test("D3 at pushMaxDevices a new identifier evicts the one updated longest ago and unbinds its sessions", () => {
  const state = fresh({ pushMaxDevices: 2 });
  load(state, "alice", [registration("alice", APP, "newer", { updatedAt: 500 }), registration("alice", APP, "older", { updatedAt: 100 })]);
  const bob = sessionRef("alice", "s2");
  started(state, bob, 0, `${APP}<older`);
  const first = requestEnable(state, alice, enableEl(APP, "third"), 1000);
  const store = only(first, "store")[0];
  expect(store?.ops[1]).toEqual({ op: "delete", user: "alice", identifiers: [`${APP}<older`] });
  const done = run(state, { type: "store-done", now: 1000, opId: store?.opId ?? "", ok: true });
  expect(only(done, "removed")).toEqual([
    { type: "removed", at: 1000, user: "alice", identifier: `${APP}<older`, reason: "evicted", detail: null },
  ]);
  expect([...(state.users.get("alice")?.regs.keys() ?? [])].sort()).toEqual([`${APP}<newer`, `${APP}<third`]);
  expect(state.users.get("alice")?.sessions.get("s2")?.bound).toBeNull();
});

test("B9 store failure answers wait/internal-server-error and binds nothing (D4: nothing in memory)", () => {
  const state = fresh();
  load(state, "alice");
  const store = only(requestEnable(state, alice, enableEl(APP, "n1")), "store")[0];
  const done = run(state, { type: "store-done", now: 1, opId: store?.opId ?? "", ok: false, error: "disk full" });
  expect(only(done, "reply")[0]?.error).toEqual({ type: "wait", condition: "internal-server-error" });
  expect(state.users.get("alice")?.regs.size).toBe(0);
  expect(state.users.get("alice")?.sessions.get("s1")?.bound ?? null).toBeNull();
});

test("B10 on success the session is bound and the reply is an empty result with bound", () => {
  const state = fresh();
  load(state, "alice");
  started(state, alice);
  const done = enable(state, alice, "n1");
  const reply = only(done, "reply")[0];
  expect(reply?.error).toBeUndefined();
  expect(reply?.bound).toBe(`${APP}<n1`);
  expect(state.users.get("alice")?.sessions.get("s1")?.bound).toBe(`${APP}<n1`);
});

test("B11 re-enable from another session replaces the stored client info", () => {
  const state = fresh();
  load(state, "alice");
  enable(state, alice, "n1");
  const other = sessionRef("alice", "s9", "client-uuid");
  const op = only(requestEnable(state, other, enableEl(APP, "n1")), "store")[0]?.ops[0];
  const reg = op?.op === "upsert" ? op.registration : null;
  expect(reg?.clientId).toBe("client-uuid");
  expect(reg?.resource).toBeNull();
});

test("D5 re-enable resets the error count", () => {
  const state = fresh();
  load(state, "alice", [registration("alice", APP, "n1", { errorCount: 7, lastError: "cancel/x" })]);
  const op = only(requestEnable(state, alice, enableEl(APP, "n1")), "store")[0]?.ops[0];
  expect(op?.op === "upsert" ? op.registration.errorCount : -1).toBe(0);
  enable(state, alice, "n1");
  expect(state.users.get("alice")?.regs.get(`${APP}<n1`)?.reg.errorCount).toBe(0);
});

test("B12 a session enabling a second identifier is re-bound; the old one stays stored", () => {
  const state = fresh();
  load(state, "alice");
  enable(state, alice, "n1");
  enable(state, alice, "n2");
  const u = state.users.get("alice");
  expect(u?.sessions.get("s1")?.bound).toBe(`${APP}<n2`);
  expect(u?.regs.has(`${APP}<n1`)).toBe(true);
});
