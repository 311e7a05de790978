/**
 * A raw c2s client for benchmarks: stream open, SASL PLAIN, resource bind, then messages as fast
 * as the socket takes them. Plain TCP on loopback only (the test Prosody allows unencrypted PLAIN).
 * @module
 */
import type { Socket } from "bun";

import { createStanzaScanner, type StanzaScanner } from "./xml-scan.ts";
import { createWriter, type SocketWriter } from "./writer.ts";

export interface C2sSender {
  jid: string;
  /** Resolves with the first stanza received after bind (already or later) that `match` accepts; removes it from `received`. */
  waitFor(match: (stanza: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  /** Cuts the TCP connection without closing the stream (a device that loses its network: smacks hibernates the session). */
  drop(): void;
  /** Queues raw XML; returns once fewer than `highWater` bytes are queued (default 64 KiB). */
  send(xml: string, highWater?: number): Promise<void>;
  /** Stanzas received after bind. */
  received: string[];
  close(): void;
}

export interface SenderOptions {
  port: number;
  host: string;
  user: string;
  password: string;
  resource?: string;
  /** After bind: enable XEP-0198 stream management with resumption (`<enable resume='true'/>`). */
  sm?: boolean;
  /** After bind: send initial presence (so that messages to the bare JID reach this session). */
  presence?: boolean;
}

/**
 * Logs in, retrying a login that got no stream features (up to `attempts` times, 0.5 s apart): a
 * Prosody under load accepts connections on its c2s port (the kernel's backlog) before it serves them,
 * so the first login right after start can time out; the error names what was received instead.
 */
export async function connectSender(opts: SenderOptions, attempts = 4): Promise<C2sSender> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(opts);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (attempt >= attempts || !message.includes("no stream features")) throw err;
      console.error(`${message}; retrying (${attempt}/${attempts - 1})`);
      await Bun.sleep(500);
    }
  }
}

async function connectOnce(opts: SenderOptions): Promise<C2sSender> {
  const decoder = new TextDecoder();
  let scanner: StanzaScanner = createStanzaScanner({ header: true });
  const inbox: string[] = [];
  const received: string[] = [];
  let waiter: { match: (s: string) => boolean; resolve: (s: string) => void } | null = null;
  let writer: SocketWriter | null = null;
  let online = false;
  let closed = false;

  function deliver(stanza: string): void {
    if (online) {
      received.push(stanza);
      return;
    }
    if (waiter?.match(stanza)) {
      const w = waiter;
      waiter = null;
      w.resolve(stanza);
      return;
    }
    inbox.push(stanza);
  }

  const socket: Socket<undefined> = await Bun.connect({
    hostname: "127.0.0.1",
    port: opts.port,
    socket: {
      data(_s, chunk) {
        const text = decoder.decode(chunk, { stream: true });
        for (const stanza of scanner.push(text)) deliver(stanza);
      },
      drain: () => writer?.drain(),
      error() {},
      close() {
        closed = true;
      },
    },
  });
  writer = createWriter(socket as Socket<unknown>);
  const w = writer;

  function next(match: (s: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
    const i = inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as string);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiter = null;
        socket.end();
        const got =
          inbox.length > 0 ? `received ${inbox.join("").slice(0, 200)}` : closed ? "the connection was closed" : "nothing received";
        reject(new Error(`Cannot log in ${opts.user}: no ${what} within ${timeoutMs} ms (${got})`));
      }, timeoutMs);
      waiter = {
        match,
        resolve: (s) => {
          clearTimeout(timer);
          resolve(s);
        },
      };
    });
  }

  function openStream(): void {
    scanner = createStanzaScanner({ header: true });
    w.write(
      `<?xml version='1.0'?><stream:stream to='${opts.host}' xmlns='jabber:client' ` +
        `xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`,
    );
  }

  openStream();
  await next((s) => s.startsWith("<stream:features"), "stream features");
  const plain = Buffer.from(`\0${opts.user}\0${opts.password}`).toString("base64");
  w.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth>`);
  const auth = await next((s) => s.startsWith("<success") || s.startsWith("<failure"), "SASL answer");
  if (!auth.startsWith("<success")) throw new Error(`Cannot log in ${opts.user}: ${auth}`);
  openStream();
  await next((s) => s.startsWith("<stream:features"), "stream features after auth");
  w.write(
    `<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${opts.resource ?? "bench"}</resource></bind></iq>`,
  );
  const bound = await next((s) => s.startsWith("<iq") && s.includes("bind1"), "bind result");
  if (!bound.includes("result")) throw new Error(`Cannot bind ${opts.user}: ${bound}`);
  if (opts.sm) {
    w.write("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    const enabled = await next((s) => s.startsWith("<enabled") || s.startsWith("<failed"), "stream management answer");
    if (!enabled.startsWith("<enabled")) throw new Error(`Cannot enable stream management for ${opts.user}: ${enabled}`);
  }
  if (opts.presence) w.write("<presence/>");
  online = true;
  received.push(...inbox.splice(0));

  async function waitFor(match: (stanza: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = received.findIndex(match);
      if (i >= 0) return received.splice(i, 1)[0] as string;
      if (performance.now() > deadline) throw new Error(`Cannot get ${what} on ${opts.user}'s stream within ${timeoutMs} ms`);
      await Bun.sleep(1);
    }
  }

  return {
    jid: `${opts.user}@${opts.host}/${opts.resource ?? "bench"}`,
    waitFor,
    drop() {
      socket.terminate();
    },
    async send(xml, highWater = 64 * 1024) {
      w.write(xml);
      await w.whenBelow(highWater);
    },
    received,
    close() {
      socket.end("</stream:stream>");
    },
  };
}
