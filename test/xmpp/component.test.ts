import { afterEach, describe, expect, test } from "bun:test";

import { Element } from "ltx";

import { createComponent, STOP_TIMEOUT_MS, type Component, type ComponentOptions } from "../../src/xmpp/component.ts";
import { startFakeXmppServer, waitUntil, type FakeXmppServer } from "../helpers/fake-xmpp-server.ts";

const DOMAIN = "push.example.com";
const SECRET = "s3cret";
const BODY = "secret body text ünïcødé 😀";

interface LogLine {
  level: "debug" | "info" | "warn" | "error";
  msg: string;
  fields?: Record<string, unknown>;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fakeServer(options: Partial<Parameters<typeof startFakeXmppServer>[0]> = {}): Promise<FakeXmppServer> {
  const server = await startFakeXmppServer({ secret: SECRET, domain: DOMAIN, ...options });
  cleanups.push(() => server.close());
  return server;
}

function component(port: number, overrides: Partial<ComponentOptions> = {}): { c: Component; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const c = createComponent({
    host: "127.0.0.1",
    port,
    domain: DOMAIN,
    secret: SECRET,
    backoff: { initialMs: 20, maxMs: 100 },
    random: () => 0.5,
    log: (level, msg, fields) => logs.push(fields === undefined ? { level, msg } : { level, msg, fields }),
    ...overrides,
  });
  cleanups.push(() => c.stop());
  return { c, logs };
}

function problems(logs: LogLine[]): LogLine[] {
  return logs.filter((l) => l.level === "warn" || l.level === "error");
}

function message(id: string, body = BODY): Element {
  return new Element("message", { to: "user@example.com", id }).c("body").t(body).root();
}

async function online(c: Component): Promise<void> {
  await waitUntil(() => c.state === "online", 3000, "component online");
}

describe("createComponent", () => {
  test("start() opens the stream, sends sha1(id + secret) and goes online on <handshake/>", async () => {
    const server = await fakeServer();
    const { c, logs } = component(server.port);
    const onlineCalls: number[] = [];
    c.onOnline(() => onlineCalls.push(Date.now()));
    expect(c.state).toBe("disconnected");
    c.start();
    const conn = await server.connection(0);
    expect(await conn.handshake).toBe("accepted");
    await online(c);
    expect(conn.to).toBe(DOMAIN);
    expect(conn.received).toContain("xmlns='jabber:component:accept'");
    expect(onlineCalls).toHaveLength(1);
    expect(c.lastError).toBeNull();
    expect(c.stats()).toMatchObject({ connects: 1, queuedBytes: 0 });
    expect(c.stats().lastConnectedAt).toBeNumber();
    expect(problems(logs)).toEqual([]);
  });

  test("onStanza() gets stanzas whole when the server splits them at every 3 bytes, inside UTF-8 characters", async () => {
    const server = await fakeServer();
    const { c, logs } = component(server.port);
    const got: Element[] = [];
    c.onStanza((el) => got.push(el));
    c.start();
    const conn = await server.connection(0);
    await online(c);
    const stanzas = [message("a"), new Element("iq", { type: "get", id: "b" }).c("ping", { xmlns: "urn:xmpp:ping" }).root(), message("c")];
    await conn.sendSplit(stanzas.map((s) => s.toString()).join(" "), 3, 0);
    await waitUntil(() => got.length === 3, 3000, "three stanzas");
    expect(got.map((el) => el.toString())).toEqual(stanzas.map((s) => s.toString()));
    expect(got[0]?.getChildText("body")).toBe(BODY);
    expect(JSON.stringify(logs)).not.toContain("secret body");
  });

  test("onStanza() is not called for stanzas the server sends before the handshake succeeds", async () => {
    const server = await fakeServer({ auth: "ignore" });
    const { c } = component(server.port);
    const got: Element[] = [];
    c.onStanza((el) => got.push(el));
    c.start();
    const conn = await server.connection(0);
    await conn.handshake;
    conn.send("<message id='early'/><handshake/><message id='late'/>");
    await waitUntil(() => got.length === 1, 3000, "one stanza");
    expect(got[0]?.attrs.id).toBe("late");
  });

  test("a throwing stanza handler is logged and the connection stays up", async () => {
    const server = await fakeServer();
    const { c, logs } = component(server.port);
    const got: string[] = [];
    c.onStanza(() => {
      throw new Error("boom");
    });
    c.onStanza((el) => got.push(el.attrs.id));
    c.start();
    const conn = await server.connection(0);
    await online(c);
    conn.send("<iq id='1' type='get'/><iq id='2' type='get'/>");
    await waitUntil(() => got.length === 2, 3000, "two stanzas");
    expect(c.state).toBe("online");
    expect(problems(logs).map((l) => l.msg)).toEqual(["XMPP stanza handler failed", "XMPP stanza handler failed"]);
  });

  test("send() delivers 20 MB in order through partial writes while the server reads slowly", async () => {
    const server = await fakeServer();
    const maxQueueBytes = 2 * 1024 * 1024;
    const { c } = component(server.port, { maxQueueBytes });
    c.start();
    const conn = await server.connection(0);
    await online(c);
    conn.pause();
    const filler = "x".repeat(10_000);
    const total = 2000; // ~20 MB
    let refused = 0;
    let maxQueued = 0;
    let reader = true;
    const slowReader = (async () => {
      while (reader) {
        await Bun.sleep(10);
        conn.resume();
        await Bun.sleep(2);
        conn.pause();
      }
      conn.resume();
    })();
    for (let i = 0; i < total; ) {
      if (c.send(message(String(i), filler))) {
        i += 1;
        maxQueued = Math.max(maxQueued, c.stats().queuedBytes);
      } else {
        refused += 1;
        await waitUntil(() => c.stats().queuedBytes < maxQueueBytes / 2, 5000, "queue drain");
      }
    }
    const expectedBytes = Array.from({ length: total }, (_, i) => message(String(i), filler).toString()).join("");
    reader = false;
    await slowReader;
    await waitUntil(() => conn.afterHandshake.length >= expectedBytes.length, 8000, "all bytes");
    expect(refused).toBeGreaterThan(0); // the queue bound was hit: send() said no instead of buffering
    expect(maxQueued).toBeGreaterThan(0); // writes were partial: bytes waited in our queue
    expect(maxQueued).toBeLessThanOrEqual(maxQueueBytes);
    expect(conn.afterHandshake.replaceAll(/^ +| +$/g, "")).toBe(expectedBytes);
    expect(c.stats().queuedBytes).toBe(0);
  }, 15_000);

  test("send() returns false and logs once when the write queue is full", async () => {
    const server = await fakeServer();
    const { c, logs } = component(server.port, { maxQueueBytes: 64 * 1024 });
    c.start();
    const conn = await server.connection(0);
    await online(c);
    conn.pause();
    const big = message("big", "y".repeat(16 * 1024));
    const results = Array.from({ length: 2000 }, () => c.send(big));
    expect(results).toContain(false);
    expect(c.stats().queuedBytes).toBeLessThanOrEqual(64 * 1024);
    expect(problems(logs).map((l) => l.msg)).toEqual(["XMPP write queue full: dropping stanzas"]);
    conn.resume();
  });

  test("send() returns false when not online", async () => {
    const server = await fakeServer({ auth: "ignore" });
    const { c } = component(server.port);
    expect(c.send(message("1"))).toBe(false);
    c.start();
    await (await server.connection(0)).handshake;
    expect(c.state).toBe("authenticating");
    expect(c.send(message("2"))).toBe(false);
  });

  test("an oversize stanza gets a policy-violation stream error and a reconnect, without buffering it", async () => {
    const server = await fakeServer();
    const { c, logs } = component(server.port, { maxStanzaBytes: 4096 });
    const offline: string[] = [];
    c.onOffline((reason) => offline.push(reason));
    c.start();
    const conn = await server.connection(0);
    await online(c);
    conn.send("<message><body>");
    let sent = 0;
    const piece = "z".repeat(16 * 1024);
    while (!conn.closed && sent < 64 * 1024 * 1024) {
      conn.send(piece);
      sent += piece.length;
      await Bun.sleep(1);
    }
    expect(sent).toBeLessThan(1024 * 1024); // the client hung up long before a hostile peer stopped
    expect(conn.received).toContain(
      "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
    );
    expect(offline).toEqual(["policy-violation"]);
    await server.connection(1);
    await online(c);
    expect(c.stats().connects).toBe(2);
    expect(problems(logs)).toHaveLength(1);
    expect(problems(logs)[0]?.msg).toBe("XMPP component disconnected: policy-violation");
  });

  test("a wrong secret sets lastError not-authorized, logs one line per attempt and retries with backoff", async () => {
    const server = await fakeServer();
    const { c, logs } = component(server.port, { secret: "wrong" });
    c.start();
    await waitUntil(() => problems(logs).length >= 3, 3000, "three refusals");
    const lines = problems(logs);
    const connections = server.connections.length;
    expect(c.lastError).toBe("not-authorized");
    expect(c.state).not.toBe("online");
    expect(lines).toHaveLength(3);
    expect(connections).toBe(3);
    for (let i = 0; i < 3; i++) expect(await server.connections[i]?.handshake).toBe("refused");
    expect(lines.every((l) => l.level === "error" && l.msg.includes("not-authorized"))).toBe(true);
    // random() = 0.5, initial 20 ms, doubling, capped at 100 ms
    expect(lines.map((l) => l.fields?.retryInMs)).toEqual([10, 20, 40]);
    expect(JSON.stringify(logs)).not.toContain("wrong");
    expect(c.stats().connects).toBe(0);
  });

  test("a refused connection is retried until the server is there", async () => {
    const probe = await startFakeXmppServer({ secret: SECRET });
    const port = probe.port;
    await probe.close();
    const { c, logs } = component(port);
    c.start();
    await waitUntil(() => problems(logs).length >= 2, 3000, "two refusals");
    expect(c.lastError).toBe("connection refused");
    expect(problems(logs).every((l) => l.msg === "XMPP component disconnected: connection refused")).toBe(true);
    const server = await fakeServer({ port });
    await server.connection(0);
    await online(c);
    expect(c.lastError).toBeNull();
  });

  test("a dropped connection is reported offline and reconnected", async () => {
    const server = await fakeServer();
    const { c } = component(server.port);
    const offline: string[] = [];
    let onlineCount = 0;
    c.onOffline((reason) => offline.push(reason));
    c.onOnline(() => (onlineCount += 1));
    c.start();
    await online(c);
    (await server.connection(0)).destroy();
    await server.connection(1);
    await waitUntil(() => onlineCount === 2, 3000, "second online");
    expect(offline).toEqual(["connection lost"]);
    expect(c.stats().connects).toBe(2);
  });

  test("the server closing the stream with </stream:stream> leads to a reconnect", async () => {
    const server = await fakeServer();
    const { c } = component(server.port);
    const offline: string[] = [];
    c.onOffline((reason) => offline.push(reason));
    c.start();
    await online(c);
    const first = await server.connection(0);
    first.closeStream();
    await server.connection(1);
    await online(c);
    expect(offline).toEqual(["stream closed by server"]);
    await first.closedPromise;
    expect(first.received.endsWith("</stream:stream>")).toBe(true);
  });

  test("a stream error from the server sets lastError to its condition and reconnects", async () => {
    const server = await fakeServer();
    const { c, logs } = component(server.port);
    c.start();
    await online(c);
    (await server.connection(0)).streamError("system-shutdown");
    await waitUntil(() => c.state !== "online", 3000, "offline");
    expect(c.lastError).toBe("system-shutdown");
    await server.connection(1);
    await online(c);
    expect(problems(logs).map((l) => l.msg)).toEqual(["XMPP component disconnected: system-shutdown"]);
  });

  test("a server that never answers the handshake hits connectTimeoutMs and is retried", async () => {
    const server = await fakeServer({ auth: "ignore" });
    const { c } = component(server.port, { connectTimeoutMs: 100 });
    c.start();
    const first = await server.connection(0);
    await first.closedPromise;
    expect(c.lastError).toBe("connect timeout");
    server.auth = "accept";
    await server.connection(1);
    await online(c);
  });

  test("stop() sends </stream:stream>, closes and does not reconnect", async () => {
    const server = await fakeServer();
    const { c } = component(server.port);
    const offline: string[] = [];
    c.onOffline((reason) => offline.push(reason));
    c.start();
    await online(c);
    const conn = await server.connection(0);
    expect(c.send(message("last"))).toBe(true);
    await c.stop();
    await conn.closedPromise;
    expect(c.state).toBe("stopped");
    expect(conn.afterHandshake.endsWith(`${message("last").toString()}</stream:stream>`)).toBe(true);
    expect(offline).toEqual(["stopped"]);
    expect(c.send(message("after"))).toBe(false);
    await Bun.sleep(150);
    expect(server.connections).toHaveLength(1);
    c.start();
    await Bun.sleep(50);
    expect(server.connections).toHaveLength(1);
  });

  test("stop() resolves within STOP_TIMEOUT_MS when the server does not read", async () => {
    const server = await fakeServer();
    const { c, logs } = component(server.port, { maxQueueBytes: 4 * 1024 * 1024 });
    c.start();
    await online(c);
    const conn = await server.connection(0);
    conn.pause();
    const big = message("big", "q".repeat(64 * 1024));
    while (c.send(big)) {
      // fill the queue until send() says no
    }
    expect(c.stats().queuedBytes).toBeGreaterThan(0);
    const started = Date.now();
    await c.stop();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(STOP_TIMEOUT_MS - 50);
    expect(took).toBeLessThan(STOP_TIMEOUT_MS + 1000);
    conn.resume(); // a paused node:net socket does not notice the peer is gone
    await conn.closedPromise;
    expect(c.state).toBe("stopped");
    expect(problems(logs).map((l) => l.msg)).toContain("XMPP component closed without a clean stream end");
  });

  test("stop() while waiting to reconnect cancels the retry", async () => {
    const server = await fakeServer({ auth: "refuse" });
    const { c, logs } = component(server.port, { backoff: { initialMs: 200, maxMs: 200 } });
    c.start();
    await waitUntil(() => problems(logs).length === 1, 3000, "first refusal");
    await c.stop();
    await Bun.sleep(250);
    expect(server.connections).toHaveLength(1);
    expect(c.state).toBe("stopped");
  });

  test("stop() twice returns the same settled promise", async () => {
    const server = await fakeServer();
    const { c } = component(server.port);
    c.start();
    await online(c);
    const first = c.stop();
    const second = c.stop();
    expect(second).toBe(first);
    await first;
  });

  test("whitespace keepalives are sent while online", async () => {
    const server = await fakeServer();
    const { c } = component(server.port, { keepaliveMs: 20 });
    c.start();
    await online(c);
    const conn = await server.connection(0);
    await conn.waitFor((x) => x.afterHandshake.length >= 3);
    expect(conn.afterHandshake).toMatch(/^ {3,}$/);
  });
});
