// The component stream's logic against a fake transport and a fake clock (test/helpers/fake-io.ts):
// no TCP, no sleeps. The same behaviour over real sockets: component.test.ts.
import { describe, expect, test } from "bun:test";

import { Element } from "ltx";

import { createComponent, STOP_TIMEOUT_MS, type Component, type ComponentOptions } from "../../src/xmpp/component.ts";
import { handshakeDigest } from "../../src/xmpp/component/handshake.ts";
import { createWriteQueue, takeBatch, WRITE_BATCH_BYTES } from "../../src/xmpp/component/write-queue.ts";
import { createFakeClock, createFakeTransport, type FakeAttempt, type FakeClock, type FakeTransport, settle } from "../helpers/fake-io.ts";

const DOMAIN = "push.example.com";
const SECRET = "s3cret";
const STREAM_OPEN = `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='${DOMAIN}'>`;

interface LogLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

interface Rig {
  c: Component;
  clock: FakeClock;
  transport: FakeTransport;
  logs: LogLine[];
  problems(): LogLine[];
  attempt(i: number): FakeAttempt;
}

function rig(overrides: Partial<ComponentOptions> = {}): Rig {
  const clock = createFakeClock();
  const transport = createFakeTransport();
  const logs: LogLine[] = [];
  const c = createComponent(
    {
      host: "xmpp.test",
      port: 5347,
      domain: DOMAIN,
      secret: SECRET,
      backoff: { initialMs: 20, maxMs: 100 },
      random: () => 0.5,
      keepaliveMs: 0,
      log: (level, msg, fields) => logs.push(fields === undefined ? { level, msg } : { level, msg, fields }),
      ...overrides,
    },
    { transport, clock },
  );
  return {
    c,
    clock,
    transport,
    logs,
    problems: () => logs.filter((l) => l.level === "warn" || l.level === "error"),
    attempt(i) {
      const a = transport.attempts[i];
      if (a === undefined) throw new Error(`no attempt ${i}`);
      return a;
    },
  };
}

/** Starts the component and takes attempt `i` through open, stream header and handshake. */
async function online(r: Rig, i = 0): Promise<FakeAttempt> {
  if (i === 0) r.c.start();
  const a = r.attempt(i);
  a.open();
  a.greet(`id-${i}`);
  a.send("<handshake/>");
  await settle();
  expect(r.c.state).toBe("online");
  return a;
}

function message(id: string, body = "hi"): Element {
  return new Element("message", { to: "user@example.com", id }).c("body").t(body).root();
}

describe("handshake", () => {
  test("opens the stream, answers the header's id with sha1(id + secret), goes online on <handshake/>", async () => {
    const r = rig();
    const onlineAt: number[] = [];
    r.c.onOnline(() => onlineAt.push(r.clock.now()));
    r.c.start();
    expect(r.c.state).toBe("connecting");
    const a = r.attempt(0);
    expect([a.host, a.port]).toEqual(["xmpp.test", 5347]);
    a.open();
    expect(r.c.state).toBe("authenticating");
    expect(a.socket.noDelay).toBe(true);
    expect(a.socket.written).toBe(STREAM_OPEN);
    a.greet("abc123");
    expect(a.socket.written).toBe(`${STREAM_OPEN}<handshake>${handshakeDigest("abc123", SECRET)}</handshake>`);
    expect(handshakeDigest("abc123", SECRET)).toBe(new Bun.CryptoHasher("sha1").update(`abc123${SECRET}`).digest("hex"));
    expect(r.c.send(message("early"))).toBe(false);
    a.send("<handshake/>");
    expect(r.c.state).toBe("online");
    expect(onlineAt).toEqual([r.clock.now()]);
    expect(r.c.stats()).toEqual({ connects: 1, queuedBytes: 0, lastConnectedAt: r.clock.now() });
    expect(r.c.lastError).toBeNull();
    expect(r.problems()).toEqual([]);
  });

  test("stanzas before the handshake are ignored; a <handshake/> before the header does not authenticate", async () => {
    const r = rig();
    const got: string[] = [];
    r.c.onStanza((el) => got.push(el.attrs.id));
    r.c.start();
    const a = r.attempt(0);
    a.open();
    a.send("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='x'>");
    a.send("<message id='early'/>");
    a.send("<handshake/><message id='late'/>");
    expect(got).toEqual(["late"]);
  });

  test("not-authorized: one error line per attempt, lastError, and a retry after the backoff delay", async () => {
    const r = rig();
    r.c.start();
    for (let i = 0; i < 3; i++) {
      const a = r.attempt(i);
      a.open();
      a.greet();
      a.send("<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
      expect(a.socket.ended).toBe(true);
      expect(a.socket.written.endsWith("</stream:stream>")).toBe(true);
      const delay = [10, 20, 40][i] as number;
      r.clock.advance(delay - 1);
      expect(r.transport.attempts).toHaveLength(i + 1);
      r.clock.advance(1);
      expect(r.transport.attempts).toHaveLength(i + 2);
    }
    expect(r.c.lastError).toBe("not-authorized");
    expect(r.problems().map((l) => [l.level, l.fields?.retryInMs, l.fields?.attempt])).toEqual([
      ["error", 10, 1],
      ["error", 20, 2],
      ["error", 40, 3],
    ]);
    expect(r.problems().every((l) => l.msg.includes("not-authorized"))).toBe(true);
    expect(JSON.stringify(r.logs)).not.toContain(SECRET);
    expect(r.c.stats().connects).toBe(0);
  });

  test("a stream header without id is answered by an invalid-xml stream error", () => {
    const r = rig();
    r.c.start();
    const a = r.attempt(0);
    a.open();
    a.send("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'>");
    expect(a.socket.written).toEndWith(
      "<stream:error><invalid-xml xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
    );
    expect(r.c.lastError).toBe("invalid-xml");
    expect(r.problems()[0]?.fields?.detail).toBe("stream header has no id");
  });

  test("no answer within connectTimeoutMs: connect timeout, and a late connect is dropped", async () => {
    const r = rig({ connectTimeoutMs: 500 });
    r.c.start();
    r.clock.advance(499);
    expect(r.c.state).toBe("connecting");
    r.clock.advance(1);
    expect(r.c.lastError).toBe("connect timeout");
    expect(r.c.state).toBe("disconnected");
    r.attempt(0).open(); // the socket arrives after the timeout
    await settle();
    expect(r.attempt(0).socket.terminated).toBe(true);
    r.clock.advance(10);
    expect(r.transport.attempts).toHaveLength(2);
  });
});

describe("reconnect", () => {
  test("refused connections back off with full jitter, doubling up to maxMs, and reset once online", async () => {
    const r = rig();
    r.c.start();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      r.attempt(i).refuse();
      await settle();
      delays.push(r.problems().at(-1)?.fields?.retryInMs as number);
      r.clock.advance(delays[i] as number);
    }
    expect(delays).toEqual([10, 20, 40, 50, 50, 50]); // random() 0.5 × min(100, 20 × 2^n)
    expect(r.c.lastError).toBe("connection refused");
    expect(r.problems().every((l) => l.msg === "XMPP component disconnected: connection refused")).toBe(true);
    await online(r, 6);
    expect(r.c.lastError).toBeNull();
    r.attempt(6).handlers.close();
    expect(r.problems().at(-1)?.fields?.retryInMs).toBe(10); // attempt counter back at 0
  });

  test("a connect error without ECONNREFUSED is 'connection failed' with the code as detail", async () => {
    const r = rig();
    r.c.start();
    r.attempt(0).refuse("EHOSTUNREACH");
    await settle();
    expect(r.c.lastError).toBe("connection failed");
    expect(r.problems()[0]?.fields?.detail).toBe("EHOSTUNREACH");
  });

  test("a lost connection is reported offline once and reconnected", async () => {
    const r = rig();
    const offline: string[] = [];
    r.c.onOffline((reason) => offline.push(reason));
    const a = await online(r);
    a.handlers.error(new Error("ECONNRESET"));
    a.handlers.close(); // a second ending of the same attempt changes nothing
    expect(offline).toEqual(["connection lost"]);
    expect(r.problems()).toHaveLength(1);
    expect(r.c.send(message("x"))).toBe(false);
    r.clock.advance(10);
    await online(r, 1);
    expect(r.c.stats().connects).toBe(2);
  });

  test("the server closing TCP before the handshake is 'connection closed by server'", () => {
    const r = rig();
    r.c.start();
    r.attempt(0).open();
    r.attempt(0).handlers.end();
    expect(r.c.lastError).toBe("connection closed by server");
  });
});

describe("stream errors and stream end", () => {
  test("a stream error while online: lastError is its condition, offline, reconnect", async () => {
    const r = rig();
    const offline: string[] = [];
    r.c.onOffline((reason) => offline.push(reason));
    const a = await online(r);
    a.send(
      "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>bye</text></stream:error>",
    );
    expect(r.c.lastError).toBe("system-shutdown");
    expect(offline).toEqual(["system-shutdown"]);
    expect(r.problems().map((l) => l.msg)).toEqual(["XMPP component disconnected: system-shutdown"]);
    expect(a.socket.written).toEndWith("</stream:stream>");
    r.clock.advance(10);
    expect(r.transport.attempts).toHaveLength(2);
  });

  test("</stream:stream> from the server: 'stream closed by server', answered by our stream end", async () => {
    const r = rig();
    const a = await online(r);
    a.send("</stream:stream>");
    expect(r.c.lastError).toBe("stream closed by server");
    expect(a.socket.written).toEndWith("<handshake>" + handshakeDigest("id-0", SECRET) + "</handshake></stream:stream>");
  });

  test("an oversize stanza: policy-violation stream error, without waiting for its end", async () => {
    const r = rig({ maxStanzaBytes: 4096 });
    const a = await online(r);
    a.send(`<message><body>${"z".repeat(5000)}`);
    expect(a.socket.written).toEndWith(
      "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
    );
    expect(r.c.lastError).toBe("policy-violation");
  });

  test("a stanza nested too deep reaches onStanza with the parser's refusal", async () => {
    const r = rig();
    const got: Array<[string, string | undefined]> = [];
    r.c.onStanza((el, refused) => got.push([el.attrs.id, refused]));
    const a = await online(r);
    a.send(`<message id='deep'>${"<x>".repeat(80)}${"</x>".repeat(80)}</message><message id='flat'/>`);
    expect(got).toHaveLength(2);
    expect(got[0]?.[0]).toBe("deep");
    expect(got[0]?.[1]).toBeString();
    expect(got[1]).toEqual(["flat", undefined]);
    expect(r.c.state).toBe("online");
  });

  test("a throwing handler is logged and the stream stays up", async () => {
    const r = rig();
    r.c.onStanza(() => {
      throw new Error("boom");
    });
    const a = await online(r);
    a.send("<iq id='1' type='get'/>");
    expect(r.c.state).toBe("online");
    expect(r.problems().map((l) => [l.msg, l.fields?.error])).toEqual([["XMPP stanza handler failed", "boom"]]);
  });
});

describe("write queue", () => {
  test("stanzas sent in one turn go out in one write, after the turn", async () => {
    const r = rig();
    const a = await online(r);
    const before = a.socket.writes.length;
    expect(r.c.send(message("1"))).toBe(true);
    expect(r.c.send(message("2"))).toBe(true);
    expect(r.c.send("<iq type='get' id='3'/>")).toBe(true);
    expect(a.socket.writes.length).toBe(before);
    expect(r.c.stats().queuedBytes).toBeGreaterThan(0);
    await settle();
    expect(a.socket.writes.slice(before)).toEqual([`${message("1")}${message("2")}<iq type='get' id='3'/>`]);
    expect(r.c.stats().queuedBytes).toBe(0);
  });

  test("partial writes keep the tail queued until drain, in order, with exact byte counts", async () => {
    const r = rig();
    const a = await online(r);
    const before = a.socket.written.length;
    a.socket.capacity = 10;
    const text = message("ü", "ünïcødé 😀").toString();
    const bytes = new TextEncoder().encode(text).length;
    r.c.send(text);
    await settle();
    expect(r.c.stats().queuedBytes).toBe(bytes - 10);
    a.handlers.drain(); // no room yet: nothing more goes out
    expect(r.c.stats().queuedBytes).toBe(bytes - 10);
    a.socket.capacity = 7;
    a.handlers.drain();
    expect(r.c.stats().queuedBytes).toBe(bytes - 17);
    a.socket.capacity = Number.POSITIVE_INFINITY;
    a.handlers.drain();
    expect(r.c.stats().queuedBytes).toBe(0);
    expect(a.socket.written.slice(before)).toBe(text);
  });

  test("send() refuses beyond maxQueueBytes and logs once per episode", async () => {
    const r = rig({ maxQueueBytes: 1000 });
    const a = await online(r);
    a.socket.capacity = 0;
    const stanza = "x".repeat(300);
    expect([1, 2, 3, 4].map(() => r.c.send(stanza))).toEqual([true, true, true, false]);
    expect(r.c.send("y".repeat(100))).toBe(true); // 900 + 100 fits exactly
    expect(r.c.send("z")).toBe(false);
    await settle();
    expect(r.c.stats().queuedBytes).toBe(1000);
    expect(r.problems().map((l) => l.msg)).toEqual(["XMPP write queue full: dropping stanzas"]);
    a.socket.capacity = Number.POSITIVE_INFINITY;
    a.handlers.drain();
    expect(r.c.stats().queuedBytes).toBe(0);
    a.socket.capacity = 0;
    for (let i = 0; i < 5; i++) r.c.send(stanza);
    expect(r.problems()).toHaveLength(2); // a new episode after the drain
  });
});

describe("write queue alone", () => {
  test("takeBatch merges small chunks up to WRITE_BATCH_BYTES in place and leaves a big head alone", () => {
    const small = (): Uint8Array => new Uint8Array(20 * 1024);
    const queue: Uint8Array[] = [small(), small(), small(), small(), small()];
    const batch = takeBatch(queue);
    expect(batch.length).toBe(80 * 1024); // the fourth chunk crosses 64 KiB: merged, then stop
    expect(queue).toHaveLength(2);
    expect(queue[0] === batch).toBe(true);
    const big: Uint8Array = new Uint8Array(WRITE_BATCH_BYTES + 1);
    expect(takeBatch([big, small()]) === big).toBe(true);
  });

  test("a write that reports the socket closed stops the flush and keeps the bytes", () => {
    const deferred: (() => void)[] = [];
    let empties = 0;
    const q = createWriteQueue({
      maxBytes: 100,
      write: () => -1,
      onFull: () => {},
      onEmpty: () => empties++,
      defer: (fn) => deferred.push(fn),
    });
    expect(q.sendText("abc")).toBe(true);
    expect(deferred).toHaveLength(1);
    expect(q.sendText("def")).toBe(true);
    expect(deferred).toHaveLength(1); // one flush per turn
    deferred[0]?.();
    expect(q.queuedBytes).toBe(6);
    expect(empties).toBe(0);
    q.close();
    expect(q.queuedBytes).toBe(0);
  });
});

describe("keepalive", () => {
  test("one space every keepaliveMs while online, skipped while bytes wait, stopped when offline", async () => {
    const r = rig({ keepaliveMs: 1000 });
    const a = await online(r);
    const base = a.socket.written.length;
    r.clock.advance(999);
    expect(a.socket.written.length).toBe(base);
    r.clock.advance(1);
    expect(a.socket.written.slice(base)).toBe(" ");
    r.clock.advance(2000);
    expect(a.socket.written.slice(base)).toBe("   ");
    a.socket.capacity = 0;
    r.c.send("<message/>");
    await settle();
    r.clock.advance(3000);
    expect(a.socket.written.slice(base)).toBe("   "); // data waits: no keepalive
    a.socket.capacity = Number.POSITIVE_INFINITY;
    a.handlers.drain();
    a.handlers.close();
    const after = a.socket.written.length;
    r.clock.advance(5); // not yet time to reconnect
    r.clock.advance(5000);
    expect(a.socket.written.length).toBe(after);
  });

  test("keepaliveMs 0 sends none", async () => {
    const r = rig({ keepaliveMs: 0 });
    const a = await online(r);
    const base = a.socket.written.length;
    r.clock.advance(600_000);
    expect(a.socket.written.length).toBe(base);
  });
});

describe("stop()", () => {
  test("drains the queue, then </stream:stream>, half-closes, resolves when the server closes, never reconnects", async () => {
    const r = rig({ keepaliveMs: 1000 });
    const offline: string[] = [];
    r.c.onOffline((reason) => offline.push(reason));
    const a = await online(r);
    a.socket.capacity = 5;
    r.c.send(message("last"));
    let resolved = false;
    const stopped = r.c.stop().then(() => (resolved = true));
    expect(r.c.state).toBe("stopped");
    expect(offline).toEqual(["stopped"]);
    expect(r.c.send(message("after"))).toBe(false);
    expect(a.socket.ended).toBe(false); // bytes still waiting
    a.socket.capacity = Number.POSITIVE_INFINITY;
    a.handlers.drain();
    expect(a.socket.written).toEndWith(`${message("last")}</stream:stream>`);
    expect(a.socket.ended).toBe(true);
    await settle();
    expect(resolved).toBe(false);
    a.handlers.close();
    await stopped;
    expect(resolved).toBe(true);
    expect(a.socket.written.match(/<\/stream:stream>/g)).toHaveLength(1);
    r.clock.advance(60_000);
    expect(r.transport.attempts).toHaveLength(1);
    expect(r.problems()).toEqual([]);
    r.c.start();
    expect(r.transport.attempts).toHaveLength(1);
  });

  test("a server that does not read: stop() gives up after STOP_TIMEOUT_MS and drops the socket", async () => {
    const r = rig();
    const a = await online(r);
    a.socket.capacity = 0;
    r.c.send(message("stuck"));
    await settle();
    let resolved = false;
    const stopped = r.c.stop().then(() => (resolved = true));
    r.clock.advance(STOP_TIMEOUT_MS - 1);
    await settle();
    expect(resolved).toBe(false);
    r.clock.advance(1);
    await stopped;
    expect(a.socket.terminated).toBe(true);
    expect(r.c.state).toBe("stopped");
    expect(r.problems().map((l) => l.msg)).toEqual(["XMPP component closed without a clean stream end"]);
  });

  test("while waiting to reconnect: cancels the retry; while connecting: closes at once", async () => {
    const r = rig();
    r.c.start();
    r.attempt(0).refuse();
    await settle();
    await r.c.stop();
    r.clock.advance(1000);
    expect(r.transport.attempts).toHaveLength(1);
    expect(r.clock.pending).toBe(0);

    const r2 = rig();
    r2.c.start();
    await r2.c.stop();
    expect(r2.c.state).toBe("stopped");
    r2.attempt(0).open();
    expect(r2.attempt(0).socket.terminated).toBe(true);
    expect(r2.clock.pending).toBe(0);
  });

  test("twice returns the same promise", async () => {
    const r = rig();
    await online(r);
    const first = r.c.stop();
    expect(r.c.stop()).toBe(first);
    r.attempt(0).handlers.close();
    await first;
  });
});
