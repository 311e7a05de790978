/**
 * The Prosody bridge (contrib/prosody/mod_cloud_notifyd.lua) against a real Prosody (0.12 and 13):
 * the test plays the daemon over a raw XEP-0114 socket, slixmpp clients play the users.
 * Protocol: docs/bridge-protocol.md.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { Element, parse } from "ltx";
import { disposeProsody, startProsody, type ProsodyInstance } from "../helpers/prosody.ts";
import { describeProsody, type ProsodyVersion, serverPattern } from "../helpers/prosody-versions.ts";
import { connectComponent, nextId, type TestComponent } from "../helpers/xml-socket.ts";
import { startClient, type TestClient } from "../helpers/xmpp-client.ts";
import { BRIDGE_VERSION } from "../../src/xmpp/ns.ts";

const NS = "urn:cloud-notifyd:bridge:1";
const NS_PUSH = "urn:xmpp:push:0";
const SECRET = "bridge-secret";
const APP_SECRET = "app-secret";
const PW = "pw";

setDefaultTimeout(15000);

function helloIq(p: ProsodyInstance, version = BRIDGE_VERSION, features: string[] = [NS_PUSH]): Element {
  const iq = new Element("iq", { type: "get", from: p.componentDomain, to: p.host, id: nextId("hello") });
  const hello = iq.c("hello", { xmlns: NS, version });
  for (const f of features) hello.c("feature", { var: f });
  return iq;
}

function eventOf(el: Element): Element | undefined {
  return el.name === "message" ? el.getChild("event", NS) : undefined;
}

function isEvent(type: string, pred: (ev: Element) => boolean = () => true): (el: Element) => boolean {
  return (el) => {
    const ev = eventOf(el);
    return ev !== undefined && ev.attrs.type === type && pred(ev);
  };
}

async function waitEvent(c: TestComponent, type: string, pred: (ev: Element) => boolean = () => true, timeoutMs = 5000): Promise<Element> {
  const el = await c.waitFor(isEvent(type, pred), timeoutMs, `${type} event`);
  return eventOf(el) as Element;
}

function ack(c: TestComponent, p: ProsodyInstance, epoch: string, seq: number): void {
  const msg = new Element("message", { from: p.componentDomain, to: p.host });
  msg.c("ack", { xmlns: NS, epoch, seq: String(seq) });
  c.send(msg);
}

function discoXml(id: string, to: string): string {
  return `<iq type='get' id='${id}' to='${to}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`;
}

function enableXml(id: string, node = "n1"): string {
  return `<iq type='set' id='${id}'><enable xmlns='${NS_PUSH}' jid='app.localhost' node='${node}'/></iq>`;
}

/** Answers the next bridge `request` IQ with a `response` wrapping `inner`; returns the request. */
async function answerRequest(c: TestComponent, inner: Element, bound?: string): Promise<Element> {
  const req = await c.waitFor(
    (el) => el.name === "iq" && el.attrs.type === "set" && el.getChild("request", NS) !== undefined,
    5000,
    "bridge request",
  );
  const reply = new Element("iq", { type: "result", from: req.attrs.to, to: req.attrs.from, id: req.attrs.id });
  const response = reply.c("response", { xmlns: NS, ...(bound !== undefined ? { bound } : {}) });
  response.cnode(inner);
  c.send(reply);
  return req;
}

async function noStanza(c: TestComponent, match: (el: Element) => boolean, ms: number): Promise<void> {
  await expect(c.waitFor(match, ms)).rejects.toThrow("timed out");
}

/** A Prosody with the bridge and the test app service `app.localhost`. */
function bridgeProsody(version: ProsodyVersion, hostConfig: string, users: Array<[string, string]> = []): Promise<ProsodyInstance> {
  return startProsody({
    version,
    componentSecret: SECRET,
    bridge: true,
    hostConfig,
    extraConfig: `Component "app.localhost"\n  component_secret = "${APP_SECRET}"\n`,
    users,
  });
}

/** Connects as the daemon, says hello and collects the replayed events until the stream is quiet. */
async function connectAndHello(p: ProsodyInstance): Promise<{ c: TestComponent; hello: Element; replayed: Element[] }> {
  const c = await connectComponent({ port: p.componentPort, domain: p.componentDomain, secret: SECRET });
  const reply = await c.iq(helloIq(p));
  await Bun.sleep(400);
  const at = c.received.indexOf(reply);
  const replayed = c.received
    .slice(at + 1)
    .map(eventOf)
    .filter((e): e is Element => e !== undefined);
  return { c, hello: reply.getChild("hello", NS) as Element, replayed };
}

describeProsody("bridge on a shared Prosody", (version) => {
  let p: ProsodyInstance;
  let daemon: TestComponent;
  let alice: TestClient;
  let bob: TestClient;
  let epoch = "";
  let aliceSession = "";

  beforeAll(async () => {
    p = await startProsody({
      version,
      componentSecret: SECRET,
      bridge: true,
      smacksHibernationTime: 3,
      hostConfig: "  cloud_notifyd_publish_timeout = 2\n  cloud_notifyd_request_timeout = 2",
      extraConfig: `Component "app.localhost"\n  component_secret = "${APP_SECRET}"\n`,
      users: [
        ["alice", PW],
        ["bob", PW],
        ["carol", PW],
        ["dave", PW],
      ],
    });
    alice = await startClient({ jid: "alice@localhost/phone", password: PW, port: p.c2sPort });
    bob = await startClient({ jid: "bob@localhost/pc", password: PW, port: p.c2sPort });
  }, 30000);

  afterAll(async () => {
    await alice?.quit();
    await bob?.quit();
    await daemon?.close();
    if (p) await disposeProsody(p);
  }, 20000);

  test("account disco contains urn:xmpp:push:0 before the component connects", async () => {
    const reply = await alice.iq(discoXml("d1", "alice@localhost"), "d1");
    expect(reply.type).toBe("result");
    const query = parse(String(reply.xml)).getChild("query");
    const vars = (query?.getChildren("feature") ?? []).map((f) => f.attrs.var);
    expect(vars).toContain(NS_PUSH);
  });

  test("enable while the daemon is not connected → wait/service-unavailable", async () => {
    const reply = await alice.iq(enableXml("e0"), "e0");
    expect(reply.type).toBe("error");
    const error = parse(String(reply.xml)).getChild("error");
    expect(error?.attrs.type).toBe("wait");
    expect(error?.getChild("service-unavailable")).toBeDefined();
  });

  test("hello round trip: version, epoch, server and session snapshot; buffered events replayed", async () => {
    daemon = await connectComponent({ port: p.componentPort, domain: p.componentDomain, secret: SECRET });
    const reply = await daemon.iq(helloIq(p, BRIDGE_VERSION, [NS_PUSH, "urn:example:ext:1"]));
    expect(reply.attrs.type).toBe("result");
    const hello = reply.getChild("hello", NS);
    expect(hello?.attrs.version).toBe(BRIDGE_VERSION);
    expect(hello?.attrs.server).toMatch(serverPattern(version));
    expect(hello?.attrs.dropped).toBe("0");
    epoch = hello?.attrs.epoch ?? "";
    expect(epoch.length).toBeGreaterThan(8);
    const sessions = hello?.getChildren("session") ?? [];
    const aliceSnap = sessions.find((s) => s.attrs.full === "alice@localhost/phone");
    expect(aliceSnap?.attrs.user).toBe("alice");
    expect(aliceSnap?.attrs.hibernating).toBeUndefined();
    expect(sessions.some((s) => s.attrs.full === "bob@localhost/pc")).toBe(true);
    // the session-started events from before the connection are replayed after the hello result
    const started = await waitEvent(daemon, "session-started", (ev) => ev.attrs.full === "alice@localhost/phone");
    expect(started.attrs.epoch).toBe(epoch);
    expect(started.attrs.seq).toBe("1");
    expect(started.attrs.session).toBe(aliceSnap?.attrs.id);
    aliceSession = started.attrs.session ?? "";
    const idx = daemon.received.indexOf(reply);
    expect(idx).toBeGreaterThanOrEqual(0);
    expect(daemon.received.findIndex((el) => eventOf(el) === started)).toBeGreaterThan(idx);
  });

  test("account disco also lists the features announced in the last hello", async () => {
    const reply = await alice.iq(discoXml("d2", "alice@localhost"), "d2");
    const vars = (parse(String(reply.xml)).getChild("query")?.getChildren("feature") ?? []).map((f) => f.attrs.var);
    expect(vars).toContain(NS_PUSH);
    expect(vars).toContain("urn:example:ext:1");
  });

  test("version mismatch → cancel/feature-not-implemented", async () => {
    const reply = await daemon.iq(helloIq(p, "99"));
    expect(reply.attrs.type).toBe("error");
    const error = reply.getChild("error");
    expect(error?.attrs.type).toBe("cancel");
    expect(error?.getChild("feature-not-implemented")).toBeDefined();
    expect(error?.getChildText("text")).toContain(`version ${BRIDGE_VERSION}`);
  });

  test("enable is forwarded with the session identity and the reply is delivered verbatim", async () => {
    const answered = answerRequest(daemon, new Element("iq", { xmlns: "jabber:client", type: "result" }), "app.localhost<n1");
    const reply = alice.iq(enableXml("e1"), "e1");
    const req = await answered;
    const request = req.getChild("request", NS);
    expect(req.attrs.from).toBe(p.host);
    expect(request?.attrs.user).toBe("alice");
    expect(request?.attrs.session).toBe(aliceSession);
    expect(request?.attrs.full).toBe("alice@localhost/phone");
    const inner = request?.getChild("iq");
    expect(inner?.attrs.id).toBe("e1");
    expect(inner?.getChild("enable", NS_PUSH)?.attrs.node).toBe("n1");
    const r = await reply;
    expect(r.type).toBe("result");
    // the binding is remembered on the session and reported in the next hello
    const hello = await daemon.iq(helloIq(p));
    const snap = hello
      .getChild("hello", NS)
      ?.getChildren("session")
      .find((s) => s.attrs.id === aliceSession);
    expect(snap?.attrs.bound).toBe("app.localhost<n1");
  });

  test("an error reply from the daemon is delivered to the client as the same error", async () => {
    const inner = new Element("iq", { xmlns: "jabber:client", type: "error" });
    inner
      .c("error", { type: "modify" })
      .c("not-acceptable", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" })
      .up()
      .c("text", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" })
      .t("publish-options too large");
    const answered = answerRequest(daemon, inner);
    const reply = alice.iq(enableXml("e2"), "e2");
    await answered;
    const r = await reply;
    expect(r.type).toBe("error");
    const error = parse(String(r.xml)).getChild("error");
    expect(error?.attrs.type).toBe("modify");
    expect(error?.getChild("not-acceptable")).toBeDefined();
    expect(error?.getChildText("text")).toBe("publish-options too large");
  });

  test("disable is forwarded; no daemon answer → wait/remote-server-timeout", async () => {
    const reply = alice.iq(`<iq type='set' id='x1'><disable xmlns='${NS_PUSH}' jid='app.localhost'/></iq>`, "x1");
    const req = await daemon.waitFor((el) => el.getChild("request", NS) !== undefined, 5000, "request");
    expect(req.getChild("request", NS)?.getChild("iq")?.getChild("disable", NS_PUSH)).toBeDefined();
    const r = await reply;
    const error = parse(String(r.xml)).getChild("error");
    expect(error?.attrs.type).toBe("wait");
    expect(error?.getChild("remote-server-timeout")).toBeDefined();
  });

  test("an enable IQ from another user to alice's bare JID is not forwarded", async () => {
    const r = await bob.iq(
      `<iq type='set' id='b1' to='alice@localhost'><enable xmlns='${NS_PUSH}' jid='app.localhost' node='evil'/></iq>`,
      "b1",
    );
    expect(r.type).toBe("error");
    await noStanza(daemon, (el) => el.getChild("request", NS) !== undefined, 700);
  });

  test("offline event for a message to an offline user; the message is still stored and delivered; no error to the sender", async () => {
    bob.command({ cmd: "message", to: "carol@localhost", body: "hello carol", id: "m-off-1" });
    const ev = await waitEvent(daemon, "offline", (e) => e.attrs.user === "carol");
    const copy = ev.getChild("message");
    expect(copy?.attrs.xmlns).toBe("jabber:client");
    expect(copy?.attrs.id).toBe("m-off-1");
    expect(copy?.getChildText("body")).toBe("hello carol");
    const carol = await startClient({ jid: "carol@localhost/c1", password: PW, port: p.c2sPort });
    try {
      const got = await carol.waitFor((e) => e.event === "message" && e.id === "m-off-1", 5000, "offline message");
      expect(got.body).toBe("hello carol");
    } finally {
      await carol.quit();
    }
    expect(bob.events.some((e) => e.event === "message" && e.type === "error")).toBe(false);
  });

  test("archived event with archive id for the recipient's copy only, when the user has a session", async () => {
    bob.command({ cmd: "message", to: "alice@localhost", body: "hi alice", id: "m-arc-1" });
    const ev = await waitEvent(daemon, "archived", (e) => e.attrs.user === "alice");
    expect(ev.attrs["archive-id"]?.length ?? 0).toBeGreaterThan(0);
    expect(ev.getChild("message")?.attrs.id).toBe("m-arc-1");
    await alice.waitFor((e) => e.event === "message" && e.id === "m-arc-1", 5000, "message");
    await noStanza(
      daemon,
      isEvent("archived", (e) => e.attrs.user === "bob"),
      500,
    );
  });

  test("no archived event for a user without a session", async () => {
    bob.command({ cmd: "message", to: "dave@localhost", body: "hi dave", id: "m-arc-2" });
    await waitEvent(daemon, "offline", (e) => e.attrs.user === "dave");
    await noStanza(
      daemon,
      isEvent("archived", (e) => e.attrs.user === "dave"),
      500,
    );
  });

  test("session-started and session-ended carry the same session id", async () => {
    const dave = await startClient({ jid: "dave@localhost/d1", password: PW, port: p.c2sPort, sm: false });
    const started = await waitEvent(daemon, "session-started", (e) => e.attrs.full === "dave@localhost/d1");
    expect(started.attrs.user).toBe("dave");
    await dave.quit();
    const ended = await waitEvent(daemon, "session-ended", (e) => e.attrs.user === "dave");
    expect(ended.attrs.session).toBe(started.attrs.session);
  });

  test("hibernation-started on a cut socket, stanza-queued while hibernating, hibernation-ended on resume", async () => {
    const tab = await startClient({ jid: "alice@localhost/tab", password: PW, port: p.c2sPort });
    const started = await waitEvent(daemon, "session-started", (e) => e.attrs.full === "alice@localhost/tab");
    const sid = started.attrs.session;
    tab.command({ cmd: "drop" });
    const hib = await waitEvent(daemon, "hibernation-started", (e) => e.attrs.session === sid);
    expect(hib.attrs.user).toBe("alice");
    bob.command({ cmd: "message", to: "alice@localhost/tab", body: "while asleep", id: "m-q-1" });
    const queued = await waitEvent(daemon, "stanza-queued", (e) => e.attrs.session === sid);
    expect(queued.getChild("message")?.attrs.id).toBe("m-q-1");
    tab.command({ cmd: "connect" });
    await tab.waitFor((e) => e.event === "resumed", 5000, "resumed");
    const ended = await waitEvent(daemon, "hibernation-ended", (e) => e.attrs.session === sid);
    expect(ended.attrs.user).toBe("alice");
    await tab.waitFor((e) => e.event === "message" && e.id === "m-q-1", 5000, "queued message after resume");
    await tab.quit();
    await waitEvent(daemon, "session-ended", (e) => e.attrs.session === sid);
  }, 20000);

  test("without a command the server's own hibernation timeout (3 s) ends the session", async () => {
    const t0 = Date.now();
    const tab = await startClient({ jid: "alice@localhost/t2", password: PW, port: p.c2sPort });
    const sid = (await waitEvent(daemon, "session-started", (e) => e.attrs.full === "alice@localhost/t2")).attrs.session;
    await tab.kill();
    await waitEvent(daemon, "hibernation-started", (e) => e.attrs.session === sid);
    const t1 = Date.now();
    await waitEvent(daemon, "session-ended", (e) => e.attrs.session === sid, 8000);
    expect(Date.now() - t1).toBeLessThan(6500);
    expect(Date.now() - t0).toBeGreaterThan(2500);
  }, 20000);

  test("D12 hibernation-timeout extend keeps the session past smacks_hibernation_time, then really ends it", async () => {
    const tab = await startClient({ jid: "alice@localhost/t3", password: PW, port: p.c2sPort });
    const sid = (await waitEvent(daemon, "session-started", (e) => e.attrs.full === "alice@localhost/t3")).attrs.session ?? "";
    await tab.kill();
    await waitEvent(daemon, "hibernation-started", (e) => e.attrs.session === sid);
    const t1 = Date.now();
    const cmd = new Element("iq", { type: "set", from: p.componentDomain, to: p.host, id: nextId("ht") });
    cmd.c("hibernation-timeout", { xmlns: NS, user: "alice", session: sid, seconds: "8" });
    const r = await daemon.iq(cmd);
    expect(r.attrs.type).toBe("result");
    // well past 3 s (+1 s watchdog slack): still alive and hibernating
    await noStanza(
      daemon,
      isEvent("session-ended", (e) => e.attrs.session === sid),
      6000,
    );
    const hello = await daemon.iq(helloIq(p));
    const snap = hello
      .getChild("hello", NS)
      ?.getChildren("session")
      .find((s) => s.attrs.id === sid);
    expect(snap?.attrs.hibernating).toBe("true");
    // the extended watchdog really destroys it
    await waitEvent(daemon, "session-ended", (e) => e.attrs.session === sid, 6000);
    expect(Date.now() - t1).toBeGreaterThan(7500);
    const after = await daemon.iq(helloIq(p));
    expect(
      after
        .getChild("hello", NS)
        ?.getChildren("session")
        .some((s) => s.attrs.id === sid),
    ).toBe(false);
  }, 30000);

  test("hibernation-timeout restore gives back the server's own timeout", async () => {
    const tab = await startClient({ jid: "alice@localhost/t4", password: PW, port: p.c2sPort });
    const sid = (await waitEvent(daemon, "session-started", (e) => e.attrs.full === "alice@localhost/t4")).attrs.session ?? "";
    await tab.kill();
    await waitEvent(daemon, "hibernation-started", (e) => e.attrs.session === sid);
    const extend = new Element("iq", { type: "set", from: p.componentDomain, to: p.host, id: nextId("ht") });
    extend.c("hibernation-timeout", { xmlns: NS, user: "alice", session: sid, seconds: "60" });
    expect((await daemon.iq(extend)).attrs.type).toBe("result");
    const restore = new Element("iq", { type: "set", from: p.componentDomain, to: p.host, id: nextId("ht") });
    restore.c("hibernation-timeout", { xmlns: NS, user: "alice", session: sid, restore: "true" });
    expect((await daemon.iq(restore)).attrs.type).toBe("result");
    const t1 = Date.now();
    await waitEvent(daemon, "session-ended", (e) => e.attrs.session === sid, 8000);
    expect(Date.now() - t1).toBeLessThan(6500);
  }, 20000);

  test("hibernation-timeout for an unknown or active session → cancel/item-not-found", async () => {
    for (const session of ["no-such-session", aliceSession]) {
      const cmd = new Element("iq", { type: "set", from: p.componentDomain, to: p.host, id: nextId("ht") });
      cmd.c("hibernation-timeout", { xmlns: NS, user: "alice", session, seconds: "60" });
      const r = await daemon.iq(cmd);
      expect(r.attrs.type).toBe("error");
      expect(r.getChild("error")?.getChild("item-not-found")).toBeDefined();
    }
  });

  test("D11 publish-as-host (a message): sent from the host domain; result, error and own timeout come back as buffered publish-result events", async () => {
    const app = await connectComponent({ port: p.componentPort, domain: "app.localhost", secret: APP_SECRET });
    const outcome = (id: string, ms = 5000) => waitEvent(daemon, "publish-result", (ev) => ev.attrs.publish === id, ms);
    function publish(id: string): Element {
      const cmd = new Element("message", { from: p.componentDomain, to: p.host, id: nextId("pub") });
      cmd
        .c("publish-as-host", { xmlns: NS })
        .c("iq", { xmlns: "jabber:client", type: "set", to: "app.localhost", id })
        .c("pubsub", { xmlns: "http://jabber.org/protocol/pubsub" })
        .c("publish", { node: "n1" });
      return cmd;
    }
    try {
      const id1 = "a".repeat(64);
      const pending1 = outcome(id1);
      daemon.send(publish(id1));
      const got = await app.waitFor((el) => el.name === "iq" && el.attrs.id === id1, 5000, "publish at app");
      expect(got.attrs.from).toBe(p.host);
      expect(got.getChild("pubsub")?.getChild("publish")?.attrs.node).toBe("n1");
      app.send(new Element("iq", { type: "result", from: "app.localhost", to: p.host, id: id1 }));
      const inner1 = (await pending1).getChild("iq");
      expect(inner1?.attrs.type).toBe("result");
      expect(inner1?.attrs.from).toBe("app.localhost");
      expect(inner1?.attrs.id).toBe(id1);

      const id2 = "b".repeat(64);
      const pending2 = outcome(id2);
      daemon.send(publish(id2));
      await app.waitFor((el) => el.name === "iq" && el.attrs.id === id2, 5000, "publish at app");
      const err = new Element("iq", { type: "error", from: "app.localhost", to: p.host, id: id2 });
      err
        .c("error", { type: "auth" })
        .c("not-authorized", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" })
        .up()
        .c("text", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" })
        .t("token expired");
      app.send(err);
      const error = (await pending2).getChild("iq")?.getChild("error");
      expect(error?.attrs.type).toBe("auth");
      expect(error?.getChild("not-authorized")).toBeDefined();
      expect(error?.getChildText("text")).toBe("token expired");

      const id3 = "c".repeat(64);
      const pending3 = outcome(id3, 6000); // the app never answers; bridge timeout is 2 s here
      daemon.send(publish(id3));
      expect((await pending3).attrs.timeout).toBe("true");
    } finally {
      await app.close();
    }
    // app service gone: Prosody's own error for it is returned verbatim
    const id4 = "d".repeat(64);
    const pending4 = outcome(id4);
    daemon.send(publish(id4));
    const inner4 = (await pending4).getChild("iq");
    expect(inner4?.attrs.type).toBe("error");
    expect(inner4?.getChild("error")?.getChild("remote-server-timeout")).toBeDefined();
  }, 20000);

  test("commands from anyone but the daemon are refused", async () => {
    const r = await bob.iq(`<iq type='get' id='h-evil' to='localhost'><hello xmlns='${NS}' version='1'/></iq>`, "h-evil");
    expect(r.type).toBe("error");
    expect(parse(String(r.xml)).getChild("error")?.getChild("forbidden")).toBeDefined();
    // a publish-as-host message from a user is not executed: nothing is forwarded or reported
    bob.command({
      cmd: "raw",
      xml: `<message to='localhost'><publish-as-host xmlns='${NS}'><iq xmlns='jabber:client' type='set' to='app.localhost' id='evil-1'><pubsub xmlns='http://jabber.org/protocol/pubsub'/></iq></publish-as-host></message>`,
    });
    await noStanza(
      daemon,
      isEvent("publish-result", (ev) => ev.attrs.publish === "evil-1"),
      1500,
    );
  });
});

describeProsody("bridge buffering while the daemon is away", (version) => {
  let p: ProsodyInstance;
  let bob: TestClient;

  beforeAll(async () => {
    p = await bridgeProsody(version, "  cloud_notifyd_buffer_size = 4", [
      ["bob", PW],
      ["carol", PW],
    ]);
    bob = await startClient({ jid: "bob@localhost/pc", password: PW, port: p.c2sPort });
  }, 30000);

  afterAll(async () => {
    await bob?.quit();
    if (p) await disposeProsody(p);
  }, 20000);

  function sendOffline(n: number, prefix: string): void {
    for (let i = 1; i <= n; i += 1) {
      bob.command({ cmd: "message", to: "carol@localhost", body: `msg ${i}`, id: `${prefix}-${i}` });
    }
  }

  test("events are buffered while disconnected and replayed in order after hello; acked events are not replayed", async () => {
    let { c, hello, replayed } = await connectAndHello(p);
    const epoch = hello.attrs.epoch ?? "";
    // bob's session-started was buffered before the connection
    expect(replayed.map((e) => e.attrs.type)).toEqual(["session-started"]);
    ack(c, p, epoch, Number(replayed[0]?.attrs.seq));
    await c.close();

    sendOffline(3, "buf");
    await Bun.sleep(500);
    ({ c, hello, replayed } = await connectAndHello(p));
    expect(hello.attrs.epoch).toBe(epoch);
    expect(replayed.map((e) => e.getChild("message")?.attrs.id)).toEqual(["buf-1", "buf-2", "buf-3"]);
    const seqs = replayed.map((e) => Number(e.attrs.seq));
    expect(seqs).toEqual([2, 3, 4]);
    ack(c, p, epoch, 2);
    await Bun.sleep(100);
    await c.close();

    ({ c, replayed } = await connectAndHello(p));
    expect(replayed.map((e) => Number(e.attrs.seq))).toEqual([3, 4]);
    ack(c, p, epoch, 4);
    // a live event while connected arrives at once
    sendOffline(1, "live");
    const live = await waitEvent(c, "offline", (e) => e.getChild("message")?.attrs.id === "live-1");
    expect(live.attrs.seq).toBe("5");
    ack(c, p, epoch, 5);
    await Bun.sleep(100);
    await c.close();
    expect(bob.events.some((e) => e.event === "message" && e.type === "error")).toBe(false);
  }, 20000);

  test("a full buffer drops the oldest events and counts them", async () => {
    sendOffline(6, "ovf");
    await Bun.sleep(500);
    const { c, hello, replayed } = await connectAndHello(p);
    expect(hello.attrs.dropped).toBe("2");
    expect(replayed.map((e) => e.getChild("message")?.attrs.id)).toEqual(["ovf-3", "ovf-4", "ovf-5", "ovf-6"]);
    expect(replayed.map((e) => Number(e.attrs.seq))).toEqual([8, 9, 10, 11]);
    await c.close();
    expect(bob.events.some((e) => e.event === "message" && e.type === "error")).toBe(false);
  }, 20000);

  test("D11 a publish the bridge forwarded is listed at every hello until its outcome is acknowledged; an outcome that arrives while the daemon is away is replayed", async () => {
    const app = await connectComponent({ port: p.componentPort, domain: "app.localhost", secret: APP_SECRET });
    let { c, hello, replayed } = await connectAndHello(p);
    try {
      const epoch = hello.attrs.epoch ?? "";
      ack(c, p, epoch, Math.max(0, ...replayed.map((e) => Number(e.attrs.seq))));
      const id = "e".repeat(64);
      const cmd = new Element("message", { from: p.componentDomain, to: p.host, id: nextId("pub") });
      cmd
        .c("publish-as-host", { xmlns: NS })
        .c("iq", { xmlns: "jabber:client", type: "set", to: "app.localhost", id })
        .c("pubsub", { xmlns: "http://jabber.org/protocol/pubsub" });
      c.send(cmd);
      await app.waitFor((el) => el.name === "iq" && el.attrs.id === id, 5000, "publish at app");
      const listed = () => hello.getChildren("publish").map((x) => x.attrs.id);
      await c.close();
      ({ c, hello } = await connectAndHello(p)); // still waiting for the app service
      expect(listed()).toEqual([id]);
      await c.close();
      app.send(new Element("iq", { type: "result", from: "app.localhost", to: p.host, id }));
      await Bun.sleep(300);
      ({ c, hello, replayed } = await connectAndHello(p)); // answered while the daemon was away
      expect(listed()).toEqual([id]);
      const outcome = replayed.find((e) => e.attrs.type === "publish-result");
      expect(outcome?.attrs.publish).toBe(id);
      expect(outcome?.getChild("iq")?.attrs.type).toBe("result");
      ack(c, p, epoch, Number(outcome?.attrs.seq));
      await Bun.sleep(100);
      await c.close();
      ({ c, hello } = await connectAndHello(p));
      expect(listed()).toEqual([]);
    } finally {
      await c.close();
      await app.close();
    }
  }, 20000);

  test("D23 an ack first in a publish-as-host message is honoured, and the publish still goes out", async () => {
    const app = await connectComponent({ port: p.componentPort, domain: "app.localhost", secret: APP_SECRET });
    const { c, hello, replayed } = await connectAndHello(p);
    const epoch = hello.attrs.epoch ?? "";
    let again: Awaited<ReturnType<typeof connectAndHello>> | null = null;
    try {
      const last = replayed.at(-1);
      if (last) ack(c, p, epoch, Number(last.attrs.seq)); // earlier tests' leftovers
      sendOffline(2, "ride");
      const first = await waitEvent(c, "offline", (e) => e.getChild("message")?.attrs.id === "ride-1");
      const second = await waitEvent(c, "offline", (e) => e.getChild("message")?.attrs.id === "ride-2");
      expect(Number(second.attrs.seq)).toBe(Number(first.attrs.seq) + 1);
      const id = "e".repeat(64);
      const cmd = new Element("message", { from: p.componentDomain, to: p.host, id: "ride-cmd" });
      cmd.c("ack", { xmlns: NS, epoch, seq: String(second.attrs.seq) });
      cmd
        .c("publish-as-host", { xmlns: NS })
        .c("iq", { xmlns: "jabber:client", type: "set", to: "app.localhost", id })
        .c("pubsub", { xmlns: "http://jabber.org/protocol/pubsub" })
        .c("publish", { node: "n1" });
      c.send(cmd);
      const got = await app.waitFor((el) => el.name === "iq" && el.attrs.id === id, 5000, "publish at app");
      expect(got.attrs.from).toBe(p.host);
      app.send(new Element("iq", { type: "result", from: "app.localhost", to: p.host, id }));
      const outcome = await waitEvent(c, "publish-result", (ev) => ev.attrs.publish === id);
      expect(Number(outcome.attrs.seq)).toBe(Number(second.attrs.seq) + 1);
      await c.close();
      // Reconnected: nothing up to the carried ack is replayed, the unacknowledged outcome is.
      again = await connectAndHello(p);
      expect(Number(again.hello.attrs.first)).toBe(Number(outcome.attrs.seq));
      expect(again.replayed.map((e) => e.attrs.type)).toEqual(["publish-result"]);
      ack(again.c, p, epoch, Number(outcome.attrs.seq));
      await Bun.sleep(100);
    } finally {
      await c.close();
      await again?.c.close();
      await app.close();
    }
  }, 20000);
});

describeProsody("bridge at server stop", (version) => {
  let p: ProsodyInstance;

  beforeAll(async () => {
    p = await bridgeProsody(version, "  cloud_notifyd_stop_wait = 1.5");
  }, 30000);

  afterAll(async () => {
    if (p) await disposeProsody(p);
  }, 20000);

  /** Connects as the daemon, says hello, acknowledges what was replayed; returns the replayed events. */
  async function daemonLink(): Promise<{ c: TestComponent; replayed: Element[] }> {
    const { c, hello, replayed } = await connectAndHello(p);
    const seqs = replayed.map((e) => Number(e.attrs.seq));
    if (seqs.length > 0) ack(c, p, hello.attrs.epoch ?? "", Math.max(...seqs));
    return { c, replayed };
  }

  function publishCommand(id: string): Element {
    const cmd = new Element("message", { from: p.componentDomain, to: p.host, id: nextId("pub") });
    cmd
      .c("publish-as-host", { xmlns: NS })
      .c("iq", { xmlns: "jabber:client", type: "set", to: "app.localhost", id })
      .c("pubsub", { xmlns: "http://jabber.org/protocol/pubsub" });
    return cmd;
  }

  /** Stops Prosody while a publish it forwarded is unanswered; `answerAfterMs` makes the app answer during the stop. */
  async function stopWithPublishOut(id: string, answerAfterMs: number | null): Promise<{ stopMs: number; outcome: Element | undefined }> {
    const app = await connectComponent({ port: p.componentPort, domain: "app.localhost", secret: APP_SECRET });
    const { c } = await daemonLink();
    c.send(publishCommand(id));
    await app.waitFor((el) => el.name === "iq" && el.attrs.id === id, 5000, "publish at app");
    const started = performance.now();
    const stopped = p.stop();
    if (answerAfterMs !== null) {
      await Bun.sleep(answerAfterMs);
      app.send(new Element("iq", { type: "result", from: "app.localhost", to: p.host, id }));
    }
    await stopped;
    const stopMs = performance.now() - started;
    await app.close();
    await c.close();
    await p.restart(); // starts it again (the stop above already happened)
    const { c: after, replayed } = await daemonLink();
    await after.close();
    return { stopMs, outcome: replayed.find((e) => e.attrs.type === "publish-result" && e.attrs.publish === id) };
  }

  test("D11 a stopping Prosody waits for the answer to a publish in flight and saves it as the outcome", async () => {
    const { stopMs, outcome } = await stopWithPublishOut("f".repeat(64), 400);
    expect(outcome?.attrs.timeout).toBeUndefined();
    expect(outcome?.getChild("iq")?.attrs.type).toBe("result");
    expect(stopMs).toBeLessThan(1400); // ended when the answer came, not at cloud_notifyd_stop_wait
  }, 30000);

  test("D11 an unanswered publish becomes a saved timeout after cloud_notifyd_stop_wait", async () => {
    const { stopMs, outcome } = await stopWithPublishOut("9".repeat(64), null);
    expect(outcome?.attrs.timeout).toBe("true");
    expect(stopMs).toBeGreaterThanOrEqual(1400);
  }, 30000);
});
