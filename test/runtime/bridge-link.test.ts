/**
 * The daemon's side of the bridge sequence (docs/bridge-protocol.md §1–2) without sockets: a
 * fake runtime records what reaches the core; stanzas go in as parsed elements.
 * D22: a gap, a jump or an unknown epoch is answered by a resync hello, never by dropping events
 * silently; an event the daemon cannot use is acknowledged in order; a stanza the stream parser
 * cut is refused, not fatal.
 */
import { describe, expect, test } from "bun:test";
import { type Element, parse } from "ltx";

import type { Event } from "../../src/core/types.ts";
import { createLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics.ts";
import { createBridgeLink } from "../../src/runtime/bridge-link.ts";
import type { Runtime } from "../../src/runtime/runtime.ts";
import { BRIDGE_VERSION, NS_BRIDGE } from "../../src/xmpp/ns.ts";

const HOST = "example.com";
const COMP = "push.example.com";

function setup() {
  const events: Event[] = [];
  const sent: Element[] = [];
  const logLines: string[] = [];
  const runtime = {
    post(event: Event, done?: () => void) {
      events.push(event);
      done?.();
    },
    barrier(done: () => void) {
      done();
    },
    dispatch(event: Event) {
      events.push(event);
      return Promise.resolve();
    },
  } as unknown as Runtime;
  const metrics = createMetrics();
  const log = createLogger({ level: "debug", write: (line: string) => logLines.push(line) });
  const link = createBridgeLink({
    runtime,
    send: (el) => {
      sent.push(el);
      return true;
    },
    log,
    metrics,
    hosts: [HOST],
    componentDomain: COMP,
    features: [],
    limits: { depth: 64, bytes: 1 << 20, copies: 1000 },
    now: () => 1000,
  });
  const hellos = () => sent.filter((el) => el.getChild("hello", NS_BRIDGE) !== undefined);
  const acks = () => sent.flatMap((el) => (el.getChild("ack", NS_BRIDGE) ? [Number(el.getChild("ack", NS_BRIDGE)!.attrs.seq)] : []));
  function helloResult(epoch: string, extra = ""): void {
    const id = hellos().at(-1)!.attrs.id;
    link.receive(
      parse(
        `<iq type='result' from='${HOST}' to='${COMP}' id='${id}'><hello xmlns='${NS_BRIDGE}' version='${BRIDGE_VERSION}' epoch='${epoch}' dropped='0'${extra}/></iq>`,
      ) as Element,
    );
  }
  function event(epoch: string, seq: number, user = "alice"): void {
    link.receive(
      parse(
        `<message from='${HOST}' to='${COMP}'><event xmlns='${NS_BRIDGE}' epoch='${epoch}' seq='${seq}' type='user-deleted' user='${user}'/></message>`,
      ) as Element,
    );
  }
  const users = () => events.filter((e) => e.type === "user-deleted").map((e) => (e as { user: string }).user.replace(`@${HOST}`, ""));
  return { link, events, sent, hellos, acks, helloResult, event, users, metrics, logLines };
}

describe("D22 bridge event sequence", () => {
  test("D22 events in order are processed and acknowledged; a replayed seq is a duplicate", async () => {
    const t = setup();
    t.link.online();
    t.helloResult("e1");
    t.event("e1", 1, "a");
    t.event("e1", 2, "b");
    t.event("e1", 2, "b-again");
    expect(t.users()).toEqual(["a", "b"]);
    t.link.stop(); // sends the pending ack
    expect(t.acks().at(-1)).toBe(2);
  });

  test("D23 a pending ack rides on the next command: taken once, no ack of its own follows, re-sent after a reconnect", () => {
    const t = setup();
    expect(t.link.takeAck(HOST)).toBe(""); // no hello yet
    t.link.online();
    t.helloResult("e1");
    expect(t.link.takeAck(HOST)).toBe(""); // nothing processed
    t.event("e1", 1, "a");
    t.event("e1", 2, "b");
    const carried = parse(`<message>${t.link.takeAck(HOST)}</message>`) as Element;
    expect(carried.getChild("ack", NS_BRIDGE)?.attrs).toMatchObject({ epoch: "e1", seq: "2" });
    expect(t.link.takeAck(HOST)).toBe(""); // taken once
    expect(t.link.takeAck("other.example")).toBe(""); // not a configured host
    t.link.stop(); // would send a pending ack: there is none
    expect(t.acks()).toEqual([]);
    // The command may have been lost with the stream: the next hello acknowledges again.
    t.link.offline("test");
    t.link.online();
    t.helloResult("e1");
    expect(t.acks()).toEqual([2]);
  });

  test("D22 a gap is answered by a resync hello; events until its result are left to the replay", () => {
    const t = setup();
    t.link.online();
    t.helloResult("e1");
    t.event("e1", 1, "a");
    t.event("e1", 3, "c"); // 2 is missing
    expect(t.hellos()).toHaveLength(2);
    t.event("e1", 4, "d"); // still waiting for the hello result: ignored, the bridge replays it
    expect(t.users()).toEqual(["a"]);
    t.helloResult("e1"); // the bridge replays from its first unacknowledged event
    t.event("e1", 2, "b");
    t.event("e1", 3, "c");
    t.event("e1", 4, "d");
    expect(t.users()).toEqual(["a", "b", "c", "d"]);
    expect(t.metrics.render()).toMatch(/cloud_notifyd_bridge_resyncs_total 1/);
  });

  test("D22 a forged high seq is not processed and does not make the daemon drop the next real events", () => {
    const t = setup();
    t.link.online();
    t.helloResult("e1");
    t.event("e1", 1, "a");
    t.event("e1", 999999, "forged");
    t.helloResult("e1");
    t.event("e1", 2, "b");
    expect(t.users()).toEqual(["a", "b"]);
  });

  test("D22 an event from an unknown epoch triggers a resync, not an epoch switch", () => {
    const t = setup();
    t.link.online();
    t.helloResult("e1");
    t.event("e2", 1, "x");
    expect(t.users()).toEqual([]);
    expect(t.hellos()).toHaveLength(2);
    t.helloResult("e2");
    t.event("e2", 1, "x");
    expect(t.users()).toEqual(["x"]);
  });

  test("D22 the hello's first tells where the replay starts (events before it were dropped or quarantined)", () => {
    const t = setup();
    t.link.online();
    t.helloResult("e1", " first='41' quarantined='1'");
    t.event("e1", 41, "a");
    expect(t.users()).toEqual(["a"]);
    expect(t.hellos()).toHaveLength(1);
    expect(t.metrics.render()).toMatch(/cloud_notifyd_bridge_quarantined_events\{host="example.com"\} 1/);
  });

  test("D22 an event the daemon cannot use is acknowledged, counted and logged once, and the next one flows", () => {
    const t = setup();
    t.link.online();
    t.helloResult("e1");
    t.link.receive(
      parse(
        `<message from='${HOST}' to='${COMP}'><event xmlns='${NS_BRIDGE}' epoch='e1' seq='1' type='exploded' user='alice'/></message>`,
      ) as Element,
    );
    t.event("e1", 2, "b");
    expect(t.users()).toEqual(["b"]);
    t.link.stop();
    expect(t.acks().at(-1)).toBe(2);
    expect(t.metrics.render()).toMatch(/cloud_notifyd_bridge_refused_events_total 1/);
    expect(t.logLines.filter((l) => l.includes("bridge event refused"))).toHaveLength(1);
  });

  test("D22 a bridge event the stream parser cut for nesting is refused and acknowledged, not fatal", () => {
    const t = setup();
    t.link.online();
    t.helloResult("e1");
    const cut = parse(
      `<message from='${HOST}' to='${COMP}'><event xmlns='${NS_BRIDGE}' epoch='e1' seq='1' type='offline' user='alice'><message xmlns='jabber:client'/></event></message>`,
    ) as Element;
    t.link.receive(cut, "stanza nesting exceeds 64");
    t.event("e1", 2, "b");
    expect(t.users()).toEqual(["b"]);
    t.link.stop();
    expect(t.acks().at(-1)).toBe(2);
  });

  test("D22 an IQ the stream parser cut for nesting gets a modify/policy-violation error", () => {
    const t = setup();
    t.link.online();
    const iq = parse(`<iq type='set' from='bob@example.com/r' to='${COMP}' id='deep1'><x xmlns='urn:x'/></iq>`) as Element;
    t.link.receive(iq, "stanza nesting exceeds 64");
    const reply = t.sent.find((el) => el.attrs.id === "deep1");
    expect(reply?.attrs.type).toBe("error");
    expect(reply?.getChild("error")?.attrs.type).toBe("modify");
    expect(reply?.getChild("error")?.getChild("policy-violation")).toBeDefined();
  });
});

describe("several hosts on one component stream (issue 13)", () => {
  function twoHosts() {
    const sent: Element[] = [];
    const events: Event[] = [];
    const logLines: string[] = [];
    const runtime = {
      post: (event: Event, done?: () => void) => {
        events.push(event);
        done?.();
      },
      barrier: (done: () => void) => done(),
      dispatch: (event: Event) => {
        events.push(event);
        return Promise.resolve();
      },
    } as unknown as Runtime;
    const link = createBridgeLink({
      runtime,
      send: (el) => {
        sent.push(el);
        return true;
      },
      log: createLogger({ level: "debug", write: (l: string) => logLines.push(l) }),
      metrics: createMetrics(),
      hosts: ["a.example", "b.example"],
      componentDomain: COMP,
      features: [],
      limits: { depth: 64, bytes: 1 << 20, copies: 1000 },
      now: () => 1000,
    });
    const helloTo = (host: string) => sent.filter((el) => el.attrs.to === host && el.getChild("hello", NS_BRIDGE) !== undefined);
    const result = (host: string, epoch: string) => {
      const id = helloTo(host).at(-1)!.attrs.id;
      link.receive(
        parse(
          `<iq type='result' from='${host}' to='${COMP}' id='${id}'><hello xmlns='${NS_BRIDGE}' version='${BRIDGE_VERSION}' epoch='${epoch}' dropped='0'/></iq>`,
        ) as Element,
      );
    };
    const event = (host: string, epoch: string, seq: number, user: string) =>
      link.receive(
        parse(
          `<message from='${host}' to='${COMP}'><event xmlns='${NS_BRIDGE}' epoch='${epoch}' seq='${seq}' type='user-deleted' user='${user}'/></message>`,
        ) as Element,
      );
    return { link, sent, events, logLines, helloTo, result, event };
  }

  test("each host's bridge gets its own hello and sequence; ready only when all are", () => {
    const t = twoHosts();
    t.link.online();
    expect(t.helloTo("a.example")).toHaveLength(1);
    expect(t.helloTo("b.example")).toHaveLength(1);
    t.result("a.example", "ea");
    expect(t.link.status()).toMatchObject({ state: "waiting" });
    expect((t.link.status() as { reason: string }).reason).toContain("b.example");
    t.result("b.example", "eb");
    expect(t.link.status().state).toBe("ready");
    // the same seq numbers on both hosts are different events
    t.event("a.example", "ea", 1, "alice");
    t.event("b.example", "eb", 1, "alice");
    expect(t.events.filter((e) => e.type === "user-deleted")).toHaveLength(2);
  });

  test("a bridge on a host that is not configured asking for a hello gets one log line and a refusal", () => {
    const t = twoHosts();
    t.link.online();
    for (let i = 0; i < 3; i++)
      t.link.receive(parse(`<message from='c.example' to='${COMP}'><hello-request xmlns='${NS_BRIDGE}'/></message>`) as Element);
    const refusals = t.sent.filter((el) => el.attrs.to === "c.example" && el.getChild("refused", NS_BRIDGE) !== undefined);
    expect(refusals).toHaveLength(3);
    expect(t.logLines.filter((l) => l.includes("c.example is not in hosts"))).toHaveLength(1);
  });

  test("a configured host's bridge that asks for a hello (module reloaded) gets a new one", () => {
    const t = twoHosts();
    t.link.online();
    t.result("a.example", "ea");
    t.link.receive(parse(`<message from='a.example' to='${COMP}'><hello-request xmlns='${NS_BRIDGE}'/></message>`) as Element);
    expect(t.helloTo("a.example")).toHaveLength(2);
  });
});
