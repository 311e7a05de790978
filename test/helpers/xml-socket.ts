/**
 * A minimal raw XEP-0114 component client, for tests only: handshake, stanza send, and
 * waiting for stanzas that match a predicate. Not the daemon's connection (src/xmpp/).
 * @module
 */
import { createHash } from "node:crypto";
import { connect, type Socket } from "node:net";
import { Element } from "ltx";
import SaxLtx from "ltx/src/parsers/ltx.js";

interface Waiter {
  match: (el: Element) => boolean;
  resolve: (el: Element) => void;
}

export interface TestComponent {
  domain: string;
  /** Every stanza received, in order. */
  received: Element[];
  send(stanza: Element | string): void;
  /** The first stanza (already received or future) matching `match`, not yet taken by another wait. */
  waitFor(match: (el: Element) => boolean, timeoutMs?: number, what?: string): Promise<Element>;
  /** Sends an IQ and resolves with its reply (matched by id). */
  iq(stanza: Element, timeoutMs?: number): Promise<Element>;
  /** Sets up an automatic handler for incoming stanzas (return true = handled). */
  onStanza(handler: (el: Element) => boolean | void): void;
  close(): Promise<void>;
  /** Destroys the TCP socket without closing the stream. */
  kill(): void;
  closed: Promise<void>;
}

let idCounter = 0;
export function nextId(prefix = "t"): string {
  idCounter += 1;
  return `${prefix}${idCounter}`;
}

/** Connects to Prosody's component port and authenticates as `domain`. */
export async function connectComponent(opts: { port: number; domain: string; secret: string }): Promise<TestComponent> {
  const socket: Socket = connect({ host: "127.0.0.1", port: opts.port });
  socket.setEncoding("utf8");
  const parser = new SaxLtx();
  const received: Element[] = [];
  const unclaimed: Element[] = [];
  const waiters: Waiter[] = [];
  const handlers: Array<(el: Element) => boolean | void> = [];
  let depth = 0;
  let current: Element | null = null;
  let streamId: string | null = null;
  let onHeader: ((id: string) => void) | null = null;
  let onHandshake: ((err: Error | null) => void) | null = null;

  function dispatch(el: Element): void {
    if (el.name === "handshake") {
      onHandshake?.(null);
      return;
    }
    if (el.name === "stream:error") {
      onHandshake?.(new Error(`Cannot authenticate component: ${el.toString()}`));
      return;
    }
    received.push(el);
    for (const handler of handlers) if (handler(el)) return;
    const index = waiters.findIndex((w) => w.match(el));
    if (index >= 0) {
      const [waiter] = waiters.splice(index, 1);
      waiter?.resolve(el);
      return;
    }
    unclaimed.push(el);
  }

  parser.on("startElement", (name, attrs) => {
    depth += 1;
    if (depth === 1) {
      streamId = attrs.id ?? "";
      onHeader?.(streamId);
      return;
    }
    const el = new Element(name, attrs);
    if (current) current = current.cnode(el) as Element;
    else current = el;
  });
  parser.on("endElement", () => {
    depth -= 1;
    if (depth === 0) return;
    if (!current) return;
    if (depth === 1) {
      const done = current;
      current = null;
      dispatch(done);
    } else {
      current = current.parent as Element;
    }
  });
  parser.on("text", (text) => {
    if (current) current.t(text);
  });

  const closed = new Promise<void>((ok) => socket.once("close", () => ok()));
  socket.on("data", (data: string) => parser.write(data));
  socket.on("error", () => {});

  await new Promise<void>((ok, fail) => {
    socket.once("connect", () => ok());
    socket.once("error", fail);
  });
  const id = await new Promise<string>((ok) => {
    onHeader = ok;
    socket.write(
      `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='${opts.domain}'>`,
    );
  });
  const digest = createHash("sha1")
    .update(id + opts.secret)
    .digest("hex");
  await new Promise<void>((ok, fail) => {
    onHandshake = (err) => (err ? fail(err) : ok());
    socket.write(`<handshake>${digest}</handshake>`);
    setTimeout(() => fail(new Error("Cannot authenticate component: no handshake reply")), 5000);
  });
  onHandshake = null;

  function send(stanza: Element | string): void {
    socket.write(stanza.toString());
  }

  function waitFor(match: (el: Element) => boolean, timeoutMs = 5000, what = "stanza"): Promise<Element> {
    const index = unclaimed.findIndex(match);
    if (index >= 0) {
      const [el] = unclaimed.splice(index, 1);
      return Promise.resolve(el as Element);
    }
    return new Promise((ok, fail) => {
      const waiter: Waiter = {
        match,
        resolve: (el) => {
          clearTimeout(timer);
          ok(el);
        },
      };
      const timer = setTimeout(() => {
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
        fail(new Error(`Cannot receive ${what}: timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.push(waiter);
    });
  }

  return {
    domain: opts.domain,
    received,
    send,
    waitFor,
    iq(stanza, timeoutMs = 5000) {
      const stanzaId = stanza.attrs.id ?? nextId("iq");
      stanza.attrs.id = stanzaId;
      const reply = waitFor(
        (el) => el.name === "iq" && el.attrs.id === stanzaId && (el.attrs.type === "result" || el.attrs.type === "error"),
        timeoutMs,
        `reply to iq ${stanzaId}`,
      );
      send(stanza);
      return reply;
    },
    onStanza(handler) {
      handlers.push(handler);
    },
    async close() {
      if (!socket.destroyed) {
        socket.end("</stream:stream>");
        await Promise.race([closed, Bun.sleep(1000)]);
        socket.destroy();
      }
    },
    kill() {
      socket.destroy();
    },
    closed,
  };
}
