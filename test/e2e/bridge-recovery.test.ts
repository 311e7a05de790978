/**
 * The bridge (contrib/prosody/mod_cloud_notifyd.lua) on a real Prosody, the test playing the
 * daemon over a raw XEP-0114 socket (docs/bridge-protocol.md, version 3):
 * - D22 copies are cut to the limits the daemon states at hello, so no message a user can send
 *   makes an event the daemon's parser must refuse (a 63-deep chat message stopped every push);
 * - D22 an event still unacknowledged at 5 hellos in a row is quarantined (counted, never again);
 * - D21 after `kill -9` of Prosody the bridge says `unclean='true'` and reports every user with
 *   offline messages (`offline-pending`, with a copy of the newest), and after a clean restart not.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Element } from "ltx";

import { BRIDGE_VERSION } from "../../src/xmpp/ns.ts";
import { disposeProsody, type ProsodyInstance, startProsody } from "../helpers/prosody.ts";
import { describeProsody } from "../helpers/prosody-versions.ts";
import { connectComponent, nextId, type TestComponent } from "../helpers/xml-socket.ts";
import { startClient, type TestClient } from "../helpers/xmpp-client.ts";

const NS = "urn:cloud-notifyd:bridge:1";
const SECRET = "recovery-secret";
const PW = "pw";

setDefaultTimeout(30000);

function helloIq(p: ProsodyInstance, limits?: { depth: number; bytes: number; copies: number }): Element {
  const iq = new Element("iq", { type: "get", from: p.componentDomain, to: p.host, id: nextId("hello") });
  const hello = iq.c("hello", { xmlns: NS, version: BRIDGE_VERSION });
  hello.c("feature", { var: "urn:xmpp:push:0" });
  if (limits) hello.c("limits", { depth: String(limits.depth), bytes: String(limits.bytes), copies: String(limits.copies) });
  return iq;
}

async function hello(c: TestComponent, p: ProsodyInstance, limits?: { depth: number; bytes: number; copies: number }): Promise<Element> {
  const reply = await c.iq(helloIq(p, limits));
  expect(reply.attrs.type).toBe("result");
  return reply.getChild("hello", NS) as Element;
}

function eventOf(el: Element): Element | undefined {
  return el.name === "message" ? el.getChild("event", NS) : undefined;
}

async function nextEvent(c: TestComponent, type: string, timeoutMs = 8000): Promise<Element> {
  const el = await c.waitFor((s) => eventOf(s)?.attrs.type === type, timeoutMs, `${type} event`);
  return eventOf(el) as Element;
}

/** Nesting depth of an element (itself = 1). */
function depthOf(el: Element): number {
  let deepest = 0;
  for (const child of el.children) if (typeof child !== "string") deepest = Math.max(deepest, depthOf(child));
  return deepest + 1;
}

function ack(c: TestComponent, p: ProsodyInstance, epoch: string, seq: number): void {
  const msg = new Element("message", { from: p.componentDomain, to: p.host });
  msg.c("ack", { xmlns: NS, epoch, seq: String(seq) });
  c.send(msg);
}

function nestedMessage(to: string, depth: number, id: string): string {
  // depth counts the <message> itself: message > x × (depth - 2) > body
  return `<message type='chat' to='${to}' id='${id}'>${"<x xmlns='urn:deep'>".repeat(depth - 2)}<body>deep</body>${"</x>".repeat(depth - 2)}</message>`;
}

describeProsody("bridge limits, quarantine and unclean-stop recovery", (version) => {
  let p: ProsodyInstance;
  let sender: TestClient | null = null;
  let daemon: TestComponent | null = null;

  beforeAll(async () => {
    p = await startProsody({
      version,
      componentSecret: SECRET,
      bridge: true,
      users: [["sender", PW], ["alice", PW], ["bob", PW], ...Array.from({ length: 10 }, (_, i): [string, string] => [`r${i}`, PW])],
    });
  }, 60000);

  afterAll(async () => {
    await sender?.quit().catch(() => {});
    await daemon?.close().catch(() => {});
    if (p) await disposeProsody(p);
  }, 30000);

  async function connectSender(): Promise<TestClient> {
    sender = await startClient({ jid: "sender@localhost/s", password: PW, port: p.c2sPort, sm: false });
    return sender;
  }

  test("D22 a copy nested deeper than the daemon's limit is cut to fit it (63 and 500 levels, default and stated limits)", async () => {
    daemon = await connectComponent({ port: p.componentPort, domain: p.componentDomain, secret: SECRET });
    const h = await hello(daemon, p);
    const s = await connectSender();
    for (const depth of [63, 500]) {
      s.command({ cmd: "raw", xml: nestedMessage("alice@localhost", depth, `deep${depth}`) });
      const ev = await nextEvent(daemon, "offline");
      const wrapper = daemon.received.at(-1) as Element;
      expect(depthOf(wrapper)).toBeLessThanOrEqual(64);
      expect(ev.getChild("message")?.attrs.id).toBe(`deep${depth}`);
      ack(daemon, p, h.attrs.epoch as string, Number(ev.attrs.seq));
    }
    // A daemon that states a smaller limit gets smaller copies.
    await hello(daemon, p, { depth: 16, bytes: 1 << 20, copies: 1000 });
    s.command({ cmd: "raw", xml: nestedMessage("alice@localhost", 40, "deep40") });
    await nextEvent(daemon, "offline");
    expect(depthOf(daemon.received.at(-1) as Element)).toBeLessThanOrEqual(16);
    await hello(daemon, p); // back to the defaults for the next tests
  });

  test("D22 an event unacknowledged at 5 hellos in a row is quarantined; the events behind it flow", async () => {
    const c = daemon as TestComponent;
    const s = sender as TestClient;
    const h0 = await hello(c, p);
    expect(Number(h0.attrs.first)).toBeGreaterThan(0);
    s.command({ cmd: "message", to: "bob@localhost", body: "stuck one", id: "stuck" });
    const stuck = await nextEvent(c, "offline");
    s.command({ cmd: "message", to: "bob@localhost", body: "behind it", id: "behind" });
    await nextEvent(c, "offline");
    let quarantined = Number(h0.attrs.quarantined ?? 0);
    for (let i = 0; i < 6; i++) {
      const h = await hello(c, p); // never acknowledging
      quarantined = Number(h.attrs.quarantined);
    }
    expect(quarantined).toBe(Number(h0.attrs.quarantined ?? 0) + 1);
    const h = await hello(c, p);
    expect(Number(h.attrs.first)).toBe(Number(stuck.attrs.seq) + 1);
    const log = await p.log();
    expect(log).toMatch(new RegExp(`Quarantined event ${stuck.attrs.seq} \\(offline, [0-9]+ bytes\\)`));
    expect(log).not.toContain("stuck one"); // never the content
    // acknowledge everything so far
    await Bun.sleep(300);
    const last = c.received
      .map(eventOf)
      .filter((e): e is Element => e !== undefined)
      .at(-1) as Element;
    ack(c, p, h.attrs.epoch as string, Number(last.attrs.seq));
  });

  test("D22 a copy bigger than the daemon's stated size limit comes as a marker, and the event fits the limit", async () => {
    const s = (sender ?? (await connectSender())) as TestClient;
    const h = await hello(daemon as TestComponent, p, { depth: 64, bytes: 65_536, copies: 1000 }); // the smallest limit a daemon can state
    // A copy just under the bridge's 64 KiB copy cap: whole, it and the event around it would pass the limit.
    s.command({ cmd: "message", to: "alice@localhost", body: "y".repeat(65_300), id: "too-big" });
    const wrapper = await (daemon as TestComponent).waitFor(
      (el) => eventOf(el)?.getChild("message")?.attrs.id === "too-big",
      8000,
      "the offline event of the big message",
    );
    const ev = eventOf(wrapper) as Element;
    expect(ev.attrs.type).toBe("offline");
    expect(Buffer.byteLength(wrapper.toString())).toBeLessThanOrEqual(65_536);
    const copy = ev.getChild("message");
    expect(copy?.attrs.id).toBe("too-big");
    expect(copy?.getChildText("body")).toBe("…"); // a marker: the body is shortened, the stanza still classifies
    ack(daemon as TestComponent, p, h.attrs.epoch as string, Number(ev.attrs.seq));
    await hello(daemon as TestComponent, p); // back to the defaults for the next tests
  });

  test("D21 after kill -9 of Prosody the bridge reports unclean and every user with offline messages, with the newest one", async () => {
    const s = sender as TestClient;
    s.command({ cmd: "message", to: "alice@localhost", body: "first", id: "a1" });
    s.command({ cmd: "message", to: "alice@localhost", body: "newest", id: "a2" });
    s.command({ cmd: "message", to: "bob@localhost", body: "for bob", id: "b1" });
    const reply = await s.iq(`<iq type='get' id='ping1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`, "ping1");
    expect(reply.type).toBe("result");
    await Bun.sleep(300); // let the offline store writes land
    const pid = Number(readFileSync(join(p.dir, "prosody.pid"), "utf8").trim());
    process.kill(pid, "SIGKILL");
    await daemon?.closed;
    await sender?.quit().catch(() => {});
    await p.restart();

    daemon = await connectComponent({ port: p.componentPort, domain: p.componentDomain, secret: SECRET });
    const h = await hello(daemon, p);
    expect(h.attrs.unclean).toBe("true");
    const pendings: Element[] = [];
    for (let i = 0; i < 3 && pendings.length < 2; i++) {
      const ev = await nextEvent(daemon, "offline-pending");
      pendings.push(...ev.getChildren("pending", NS));
      ack(daemon, p, h.attrs.epoch as string, Number(ev.attrs.seq)); // else it is saved and replayed after the next restart
    }
    const byUser = new Map(pendings.map((x) => [String(x.attrs.user), x]));
    expect([...byUser.keys()].sort()).toEqual(["alice", "bob"]);
    const alice = byUser.get("alice") as Element;
    expect(Number(alice.attrs.count)).toBeGreaterThanOrEqual(2);
    expect(alice.getChild("message")?.attrs.id).toBe("a2");
    expect(Math.abs(Number(alice.attrs.latest) - Date.now())).toBeLessThan(120_000);
    expect(await p.log()).toMatch(/stopped without saving its events: reported 2 users with offline messages/);
  }, 60000);

  test("D21 after a clean restart there is no unclean flag and no offline-pending event", async () => {
    await daemon?.close();
    await p.restart();
    daemon = await connectComponent({ port: p.componentPort, domain: p.componentDomain, secret: SECRET });
    const h = await hello(daemon, p);
    expect(h.attrs.unclean).toBeUndefined();
    await expect(nextEvent(daemon, "offline-pending", 1500)).rejects.toThrow("timed out");
  }, 60000);

  test("D21 D22 recovered entries beyond half the size limit are spread over events: each keeps its user, count and latest, no event passes the limit", async () => {
    await daemon?.close();
    const s = await connectSender();
    const users = Array.from({ length: 10 }, (_, i) => `r${i}`);
    const big = "x".repeat(60_000); // copied whole (under 64 KiB); ten of them are more than half of the 1 MiB limit
    for (const user of users) s.command({ cmd: "message", to: `${user}@localhost`, body: big, id: `big-${user}` });
    const reply = await s.iq(`<iq type='get' id='ping2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`, "ping2");
    expect(reply.type).toBe("result");
    await Bun.sleep(500);
    // No daemon while the messages arrive: their offline events wait in the buffer and die with the kill.
    process.kill(Number(readFileSync(join(p.dir, "prosody.pid"), "utf8").trim()), "SIGKILL");
    await sender?.quit().catch(() => {});
    await p.restart();

    daemon = await connectComponent({ port: p.componentPort, domain: p.componentDomain, secret: SECRET });
    const h = await hello(daemon, p);
    expect(h.attrs.unclean).toBe("true");
    const byUser = new Map<string, Element>();
    const sizes: number[] = [];
    while (users.some((u) => !byUser.has(u))) {
      const ev = await nextEvent(daemon, "offline-pending");
      sizes.push(Buffer.byteLength(ev.parent?.toString() ?? ev.toString()));
      for (const entry of ev.getChildren("pending", NS)) {
        expect(entry.attrs.user).toBeDefined(); // a marker of the entry would have lost it
        byUser.set(String(entry.attrs.user), entry);
      }
      ack(daemon, p, h.attrs.epoch as string, Number(ev.attrs.seq));
    }
    expect(sizes.length).toBeGreaterThanOrEqual(2);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(1024 * 1024);
    for (const user of users) {
      const entry = byUser.get(user) as Element;
      expect(Number(entry.attrs.count)).toBe(1);
      expect(Number(entry.attrs.latest)).toBeGreaterThan(0);
      expect(entry.getChild("message")?.attrs.id).toBe(`big-${user}`);
      expect(entry.getChild("message")?.getChildText("body")).toBe(big);
    }
  }, 60000);
});
