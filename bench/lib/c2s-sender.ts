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
  /** Queues raw XML; returns once fewer than `highWater` bytes are queued (default 64 KiB). */
  send(xml: string, highWater?: number): Promise<void>;
  /** Stanzas received after bind. */
  received: string[];
  close(): void;
}

export async function connectSender(opts: { port: number; host: string; user: string; password: string; resource?: string }): Promise<C2sSender> {
  const decoder = new TextDecoder();
  let scanner: StanzaScanner = createStanzaScanner({ header: true });
  const inbox: string[] = [];
  const received: string[] = [];
  let waiter: { match: (s: string) => boolean; resolve: (s: string) => void } | null = null;
  let writer: SocketWriter | null = null;
  let online = false;

  function deliver(stanza: string): void {
    if (online) {
      received.push(stanza);
      return;
    }
    if (waiter !== null && waiter.match(stanza)) {
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
      close() {},
    },
  });
  writer = createWriter(socket as Socket<unknown>);
  const w = writer;

  function next(match: (s: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
    const i = inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as string);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Cannot log in ${opts.user}: no ${what}`)), timeoutMs);
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
  online = true;

  return {
    jid: `${opts.user}@${opts.host}/${opts.resource ?? "bench"}`,
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
