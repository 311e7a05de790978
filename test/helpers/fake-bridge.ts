/**
 * A scripted XEP-0114 server that plays Prosody *and* the bridge module for the daemon
 * (docs/bridge-protocol.md): it accepts the component handshake (sha1(streamId + secret) hex),
 * answers the daemon's hello with a valid hello result, answers `publish-as-host` commands with a
 * `publish-result` event (by default: a `result` from the app service) and `hibernation-timeout`
 * with an empty result, and records acknowledgements. Every other stanza from the daemon goes to
 * the listeners, so a test can match replies to the IQs it sent. Raw bytes can be written to the
 * current connection, which is what a fuzz test needs.
 *
 * Sequence numbers: a test numbers the events it writes 1, 2, 3 … as if it were the only sender;
 * the fake's own events take seqs in the same sequence on the wire, so each test event goes out
 * renumbered past them (createSeqMap below), and `acks` reports in the test's numbers.
 * @module
 */
import { createHash } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";

import { Element } from "ltx";
import SaxLtx from "ltx/src/parsers/ltx.js";

import { BRIDGE_VERSION } from "../../src/xmpp/ns.ts";

export const NS_BRIDGE = "urn:cloud-notifyd:bridge:1";
const NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams";

export interface FakeBridgeOptions {
  secret: string;
  host?: string;
  componentDomain?: string;
  epoch?: string;
  /** Answer for a `publish-as-host` inner IQ; default a `result` from the inner IQ's `to`. null = never answer. */
  publishReply?: (inner: Element) => Element | null;
}

export interface BridgeConnection {
  readonly index: number;
  readonly authenticated: boolean;
  readonly closed: boolean;
  /** Hello IQs answered on this connection. */
  readonly hellos: number;
  /** Stream error conditions the daemon sent on this connection. */
  readonly streamErrors: string[];
  readonly closedPromise: Promise<void>;
  /** Writes raw bytes; false when the socket is gone. */
  write(data: string | Uint8Array): boolean;
  /** Resolves when the socket's write buffer has drained. */
  drained(): Promise<void>;
  destroy(): void;
}

export interface FakeBridge {
  readonly port: number;
  readonly host: string;
  readonly componentDomain: string;
  readonly epoch: string;
  readonly connections: BridgeConnection[];
  /** Highest acknowledged seq per epoch (for the fake's epoch: in the test's numbering). */
  readonly acks: Map<string, number>;
  /** Publish-as-host commands seen (inner IQs). */
  readonly publishes: Element[];
  /** Every other stanza from the daemon after the handshake. */
  onStanza(fn: (el: Element, conn: BridgeConnection) => void): () => void;
  /** The newest connection that has answered at least one hello, waiting for it (after `after` connections). */
  ready(afterIndex?: number, timeoutMs?: number): Promise<BridgeConnection>;
  /** Writes to the newest connection. */
  write(data: string | Uint8Array): boolean;
  close(): Promise<void>;
}

export async function waitFor(check: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Cannot wait for ${what}: timed out after ${timeoutMs} ms`);
    await Bun.sleep(2);
  }
}

export async function startFakeBridge(opts: FakeBridgeOptions): Promise<FakeBridge> {
  const host = opts.host ?? "localhost";
  const componentDomain = opts.componentDomain ?? "push.localhost";
  const epoch = opts.epoch ?? `epoch-${Math.random().toString(36).slice(2)}`;
  const publishReply =
    opts.publishReply ?? ((inner: Element) => new Element("iq", { type: "result", from: inner.attrs.to, to: host, id: inner.attrs.id }));
  const connections: BridgeConnection[] = [];
  const listeners = new Set<(el: Element, conn: BridgeConnection) => void>();
  const acks = new Map<string, number>();
  const seqs = createSeqMap();
  const EVENT_HEAD = `<message from='${host}' to='${componentDomain}'><event xmlns='${NS_BRIDGE}' epoch='${epoch}' seq='`;
  const EVENT_SEQ = new RegExp(`${EVENT_HEAD.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}([0-9]{1,15})'`, "g");
  /** A test's event seqs of this epoch, renumbered for the wire (bytes stay bytes: read as latin1). */
  function toWire(data: string | Uint8Array): string | Uint8Array {
    const text = typeof data === "string" ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("latin1");
    let changed = false;
    const out = text.replace(EVENT_SEQ, (whole, digits: string) => {
      const seq = Number(digits);
      const wire = seqs.toWire(seq);
      if (wire === seq) return whole;
      changed = true;
      return `${EVENT_HEAD}${wire}'`;
    });
    if (!changed) return data;
    return typeof data === "string" ? out : Buffer.from(out, "latin1");
  }
  const publishes: Element[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer();

  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    connections.push(accept(socket, connections.length));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("Cannot start fake bridge: no port");

  function accept(socket: Socket, index: number): BridgeConnection {
    const streamId = `fb-${index}-${Math.random().toString(36).slice(2)}`;
    const parser = new SaxLtx();
    let depth = 0;
    let current: Element | null = null;
    let authenticated = false;
    let closed = false;
    let hellos = 0;
    const streamErrors: string[] = [];
    const closedPromise = new Promise<void>((ok) => socket.on("close", () => ok()));
    socket.on("error", () => {});
    socket.on("close", () => (closed = true));

    const conn: BridgeConnection = {
      index,
      get authenticated() {
        return authenticated;
      },
      get closed() {
        return closed;
      },
      get hellos() {
        return hellos;
      },
      streamErrors,
      closedPromise,
      write(data) {
        if (socket.destroyed || !socket.writable) return false;
        socket.write(toWire(data));
        return true;
      },
      drained() {
        if (socket.destroyed || socket.writableLength === 0) return Promise.resolve();
        return new Promise<void>((ok) => {
          const done = () => {
            socket.off("drain", done);
            socket.off("close", done);
            ok();
          };
          socket.on("drain", done);
          socket.on("close", done);
        });
      },
      destroy() {
        socket.destroy();
      },
    };

    function send(el: Element): void {
      conn.write(el.toString());
    }

    function onStanza(el: Element): void {
      if (el.name === "handshake") {
        const digest = createHash("sha1")
          .update(streamId + opts.secret)
          .digest("hex");
        if (el.getText() === digest) {
          authenticated = true;
          conn.write("<handshake/>");
        } else {
          conn.write(`<stream:error><not-authorized xmlns='${NS_STREAMS}'/></stream:error></stream:stream>`);
          socket.end();
        }
        return;
      }
      if (el.name === "stream:error") {
        const condition = el.children.find((c): c is Element => typeof c !== "string" && c.name !== "text");
        streamErrors.push(condition?.name ?? "undefined-condition");
        return;
      }
      if (!authenticated) return;
      if (el.name === "iq" && (el.attrs.type === "get" || el.attrs.type === "set")) {
        const hello = el.getChild("hello", NS_BRIDGE);
        if (hello !== undefined) {
          hellos += 1;
          const reply = new Element("iq", { type: "result", from: host, to: el.attrs.from, id: el.attrs.id });
          // The fake keeps no buffer: every event written is gone from its view, so the replay
          // (of nothing) starts after the highest seq written (bridge-protocol.md §1, `first`).
          reply.c("hello", {
            xmlns: NS_BRIDGE,
            version: BRIDGE_VERSION,
            server: "FakeBridge 1",
            epoch,
            dropped: "0",
            first: String(seqs.next),
          });
          return send(reply);
        }
        if (el.getChild("hibernation-timeout", NS_BRIDGE) !== undefined) {
          return send(new Element("iq", { type: "result", from: host, to: el.attrs.from, id: el.attrs.id }));
        }
      }
      if (el.name === "message") {
        const pah = el.getChild("publish-as-host", NS_BRIDGE);
        if (pah !== undefined) {
          const inner = pah.getChild("iq");
          if (inner !== undefined) publishes.push(inner);
          const answer = inner === undefined ? null : publishReply(inner);
          if (answer === null) return;
          // The outcome as the bridge reports it (bridge-protocol.md §4): a publish-result event,
          // next in the sequence on the wire. Written as is: it is not a test's event to renumber.
          const event = new Element("message", { from: host, to: componentDomain });
          event
            .c("event", { xmlns: NS_BRIDGE, epoch, seq: String(seqs.own()), type: "publish-result", publish: String(answer.attrs.id) })
            .cnode(answer);
          if (!socket.destroyed && socket.writable) socket.write(event.toString());
          return;
        }
        const ack = el.getChild("ack", NS_BRIDGE);
        if (ack !== undefined) {
          const e = String(ack.attrs.epoch);
          const seq = e === epoch ? seqs.toTest(Number(ack.attrs.seq)) : Number(ack.attrs.seq);
          if (seq > (acks.get(e) ?? 0)) acks.set(e, seq);
          return;
        }
      }
      for (const fn of listeners) fn(el, conn);
    }

    parser.on("startElement", (name: string, attrs: Record<string, string>) => {
      depth += 1;
      if (depth === 1) {
        conn.write(
          `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' ` +
            `xmlns='jabber:component:accept' from='${componentDomain}' id='${streamId}'>`,
        );
        return;
      }
      const el = new Element(name, attrs);
      current = current === null ? el : (current.cnode(el) as Element);
    });
    parser.on("endElement", () => {
      depth -= 1;
      if (depth === 0 || current === null) return;
      if (depth === 1) {
        const done = current;
        current = null;
        onStanza(done);
      } else {
        current = current.parent as Element;
      }
    });
    parser.on("text", (text: string) => {
      if (current !== null) current.t(text);
    });
    const decoder = new TextDecoder();
    socket.on("data", (chunk: Buffer) => {
      try {
        parser.write(decoder.decode(chunk, { stream: true }));
      } catch {
        socket.destroy();
      }
    });
    return conn;
  }

  const bridge: FakeBridge = {
    port: address.port,
    host,
    componentDomain,
    epoch,
    connections,
    acks,
    publishes,
    onStanza(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    async ready(afterIndex = -1, timeoutMs = 10000) {
      let found: BridgeConnection | undefined;
      await waitFor(
        () => {
          const last = connections[connections.length - 1];
          if (last !== undefined && last.index > afterIndex && last.hellos > 0 && !last.closed) found = last;
          return found !== undefined;
        },
        timeoutMs,
        `a connection after #${afterIndex} with hello`,
      );
      return found as BridgeConnection;
    },
    write(data) {
      const last = connections[connections.length - 1];
      return last?.write(data) ?? false;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
  return bridge;
}

/**
 * Test seqs ↔ wire seqs for the fake's epoch. A test's seq n goes out as n plus the number of the
 * fake's own events sent before the test first wrote a seq ≥ n; so a test that counts 1, 2, 3 …
 * stays contiguous on the wire, and a replayed (duplicate) seq maps to the same wire seq again.
 * Seqs below 1 (not valid) go out unchanged.
 */
export function createSeqMap(): { readonly next: number; toWire(seq: number): number; own(): number; toTest(wire: number): number } {
  let highestTest = 0;
  let highestWire = 0;
  /** From test seq `from` on, add `by`; in ascending order of `from`. */
  const shifts: Array<{ from: number; by: number }> = [{ from: 1, by: 0 }];
  return {
    get next() {
      return highestWire + 1;
    },
    toWire(seq) {
      if (seq < 1) return seq;
      let by = 0;
      for (let i = shifts.length - 1; i >= 0; i--) {
        const shift = shifts[i] as { from: number; by: number };
        if (shift.from <= seq) {
          by = shift.by;
          break;
        }
      }
      highestTest = Math.max(highestTest, seq);
      highestWire = Math.max(highestWire, seq + by);
      return seq + by;
    },
    own() {
      highestWire += 1;
      const last = shifts[shifts.length - 1] as { from: number; by: number };
      const by = highestWire - highestTest;
      if (last.from === highestTest + 1) last.by = by;
      else shifts.push({ from: highestTest + 1, by });
      return highestWire;
    },
    toTest(wire) {
      for (let i = shifts.length - 1; i >= 0; i--) {
        const shift = shifts[i] as { from: number; by: number };
        if (shift.from + shift.by > wire) continue;
        const next = shifts[i + 1];
        return next === undefined ? wire - shift.by : Math.min(wire - shift.by, next.from - 1);
      }
      return 0;
    },
  };
}
