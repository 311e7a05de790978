/**
 * A synthetic bridge: a Bun TCP server on 127.0.0.1 that speaks the server side of XEP-0114
 * to the daemon and plays both Prosody + mod_cloud_notifyd (docs/bridge-protocol.md): it
 * answers the daemon's hello (§1), sends events (§2) and bridged client requests (§3), and
 * answers every publish-as-host (§4) at once with a publish-result event carrying an app
 * service's `result`, as the bridge does. Incoming stanzas are split with the benchmark
 * scanner, not parsed.
 * @module
 */
import { createHash } from "node:crypto";
import type { Socket, TCPSocketListener } from "bun";

import { BRIDGE_VERSION } from "../../src/xmpp/ns.ts";
import { attrOf, createStanzaScanner, escapeAttr, type StanzaScanner } from "./xml-scan.ts";
import { createWriter, type SocketWriter } from "./writer.ts";

export const NS_BRIDGE = "urn:cloud-notifyd:bridge:1";

export interface SyntheticBridgeOptions {
  host: string;
  componentDomain: string;
  secret: string;
  /** The bridge epoch reported in hello and used in events (default: random). */
  epoch?: string;
  /** Answer publishes automatically (default true). */
  answerPublishes?: boolean;
}

export interface BridgeCounters {
  publishes: number;
  publishResultsSent: number;
  ackedSeq: number;
  responses: number;
  other: number;
  firstPublishAt: number;
  lastPublishAt: number;
  /** The first publish-as-host stanza received, verbatim (for the raw write benchmark). */
  sample: string | null;
}

export interface SyntheticBridge {
  port: number;
  epoch: string;
  counters: BridgeCounters;
  /** Resolves when the daemon is authenticated and its hello has been answered. */
  ready: Promise<void>;
  /** Queues raw XML to the daemon. */
  send(xml: string): void;
  /** Waits until fewer than `bytes` are queued towards the daemon. */
  whenBelow(bytes: number): Promise<void>;
  /** Next bridge sequence number (starting at 1). */
  nextSeq(): number;
  /** Sends a bridge `<request>` IQ and resolves with the daemon's response stanza text. */
  request(xml: string, id: string): Promise<string>;
  /** Called for every publish-as-host, after it was counted (and answered). */
  onPublish(fn: (outerId: string, innerId: string, to: string, at: number) => void): void;
  /** Called with every acknowledged seq. */
  onAck(fn: (seq: number) => void): void;
  close(): void;
}

export function startSyntheticBridge(opts: SyntheticBridgeOptions): SyntheticBridge {
  const { host, componentDomain, secret } = opts;
  const epoch = opts.epoch ?? `bench-${Date.now().toString(36)}`;
  const answer = opts.answerPublishes ?? true;
  const counters: BridgeCounters = {
    publishes: 0,
    publishResultsSent: 0,
    ackedSeq: 0,
    responses: 0,
    other: 0,
    firstPublishAt: 0,
    lastPublishAt: 0,
    sample: null,
  };
  const publishListeners: Array<(outerId: string, innerId: string, to: string, at: number) => void> = [];
  const ackListeners: Array<(seq: number) => void> = [];
  const pendingRequests = new Map<string, (text: string) => void>();
  let seq = 0;
  let writer: SocketWriter | null = null;
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((r) => (resolveReady = r));

  interface Conn {
    phase: "header" | "handshake" | "online";
    head: string;
    scanner: StanzaScanner;
    writer: SocketWriter;
    streamId: string;
  }
  const decoder = new TextDecoder();

  const server: TCPSocketListener<Conn> = Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = {
          phase: "header",
          head: "",
          scanner: createStanzaScanner({ header: false }),
          writer: createWriter(socket as Socket<unknown>),
          streamId: `syn-${Math.random().toString(36).slice(2)}`,
        };
      },
      drain(socket) {
        socket.data.writer.drain();
      },
      data(socket, chunk) {
        const c = socket.data;
        const text = decoder.decode(chunk, { stream: true });
        if (c.phase !== "online") return handshake(socket, c, text);
        online(c, text);
      },
      close() {},
      error() {},
    },
  });

  function handshake(socket: Socket<Conn>, c: Conn, text: string): void {
    c.head += text;
    if (c.phase === "header") {
      const m = /<stream:stream\b[^>]*>/.exec(c.head);
      if (m === null) return;
      c.head = c.head.slice(m.index + m[0].length);
      c.phase = "handshake";
      c.writer.write(
        `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' ` +
          `xmlns='jabber:component:accept' from='${componentDomain}' id='${c.streamId}'>`,
      );
    }
    const h = /<handshake>([^<]*)<\/handshake>/.exec(c.head);
    if (h === null) return;
    const expected = createHash("sha1")
      .update(c.streamId + secret)
      .digest("hex");
    if (h[1] !== expected) {
      c.writer.write("<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>");
      socket.end();
      return;
    }
    const rest = c.head.slice(h.index + h[0].length);
    c.head = "";
    c.phase = "online";
    writer = c.writer;
    c.writer.write("<handshake/>");
    if (rest.length > 0) online(c, rest);
  }

  function online(c: Conn, text: string): void {
    const out: string[] = [];
    for (const stanza of c.scanner.push(text)) {
      const pah = stanza.indexOf("<publish-as-host");
      if (pah > 0) {
        const now = performance.now();
        counters.publishes += 1;
        if (counters.firstPublishAt === 0) {
          counters.firstPublishAt = now;
          counters.sample = stanza;
        }
        counters.lastPublishAt = now;
        const outerId = attrOf(stanza, "id") ?? "";
        const innerAt = stanza.indexOf("<iq", pah);
        const innerId = attrOf(stanza, "id", innerAt) ?? "";
        const to = attrOf(stanza, "to", innerAt) ?? "";
        if (answer) {
          // As the real bridge does (protocol 2, §4): the outcome as an acknowledged event.
          out.push(
            `<message from='${host}' to='${componentDomain}'><event xmlns='${NS_BRIDGE}' epoch='${epoch}' seq='${++seq}' ` +
              `type='publish-result' publish='${escapeAttr(innerId)}'><iq xmlns='jabber:client' type='result' ` +
              `from='${escapeAttr(to)}' to='${host}' id='${escapeAttr(innerId)}'/></event></message>`,
          );
          counters.publishResultsSent += 1;
        }
        for (const fn of publishListeners) fn(outerId, innerId, to, now);
        continue;
      }
      if (stanza.startsWith("<message")) {
        const ackAt = stanza.indexOf("<ack");
        if (ackAt > 0) {
          const s = Number(attrOf(stanza, "seq", ackAt));
          if (s > counters.ackedSeq) counters.ackedSeq = s;
          for (const fn of ackListeners) fn(s);
          continue;
        }
      }
      if (stanza.startsWith("<iq")) {
        const helloAt = stanza.indexOf("<hello");
        if (helloAt > 0) {
          const id = attrOf(stanza, "id") ?? "";
          // Answers for whichever host the daemon greets: one synthetic bridge plays every VirtualHost.
          const helloHost = attrOf(stanza, "to") ?? host;
          out.push(
            `<iq type='result' from='${escapeAttr(helloHost)}' to='${componentDomain}' id='${escapeAttr(id)}'>` +
              `<hello xmlns='${NS_BRIDGE}' version='${BRIDGE_VERSION}' server='synthetic bridge' epoch='${epoch}' dropped='0'/></iq>`,
          );
          queueMicrotask(resolveReady);
          continue;
        }
        const id = attrOf(stanza, "id");
        const waiter = id === null ? undefined : pendingRequests.get(id);
        if (waiter !== undefined && id !== null) {
          pendingRequests.delete(id);
          counters.responses += 1;
          waiter(stanza);
          continue;
        }
        const type = attrOf(stanza, "type");
        if (type === "set" || type === "get") {
          // A command we do not model (e.g. hibernation-timeout): answer empty so the daemon is not left waiting.
          out.push(`<iq type='result' from='${host}' to='${componentDomain}' id='${escapeAttr(id ?? "")}'/>`);
        }
      }
      counters.other += 1;
    }
    if (out.length > 0) c.writer.write(out.join(""));
  }

  return {
    port: server.port,
    epoch,
    counters,
    ready,
    send(xml) {
      if (writer === null) throw new Error("Cannot send to the daemon: not connected");
      writer.write(xml);
    },
    whenBelow(bytes) {
      return writer === null ? Promise.resolve() : writer.whenBelow(bytes);
    },
    nextSeq: () => ++seq,
    request(xml, id) {
      return new Promise((resolve) => {
        pendingRequests.set(id, resolve);
        if (writer === null) throw new Error("Cannot send a request to the daemon: not connected");
        writer.write(xml);
      });
    },
    onPublish: (fn) => void publishListeners.push(fn),
    onAck: (fn) => void ackListeners.push(fn),
    close() {
      server.stop(true);
    },
  };
}

/** An `offline` event (§2) carrying a chat message with a unique id, as the bridge sends it. */
export function offlineEvent(o: {
  host: string;
  componentDomain: string;
  epoch: string;
  seq: number;
  user: string;
  msgId: string;
}): string {
  return (
    `<message from='${o.host}' to='${o.componentDomain}'><event xmlns='${NS_BRIDGE}' epoch='${o.epoch}' seq='${o.seq}' type='offline' user='${o.user}'>` +
    `<message xmlns='jabber:client' from='sender@remote.example/phone' to='${o.user}@${o.host}' type='chat' id='${o.msgId}'>` +
    `<body>Hi there, this is a benchmark message.</body><origin-id xmlns='urn:xmpp:sid:0' id='${o.msgId}'/>` +
    `<active xmlns='http://jabber.org/protocol/chatstates'/></message></event></message>`
  );
}

/** The host, component and secret every synthetic-bridge benchmark uses. */
export const BENCH_XMPP = { host: "localhost", componentDomain: "push.localhost", secret: "bench-secret" } as const;

/** The daemon's environment for talking to a synthetic bridge on `port`. */
export function daemonEnvFor(port: number): Record<string, string> {
  return {
    CLOUD_NOTIFYD_HOST: BENCH_XMPP.host,
    CLOUD_NOTIFYD_COMPONENT_DOMAIN: BENCH_XMPP.componentDomain,
    CLOUD_NOTIFYD_COMPONENT_PORT: String(port),
    CLOUD_NOTIFYD_COMPONENT_SECRET: BENCH_XMPP.secret,
  };
}
