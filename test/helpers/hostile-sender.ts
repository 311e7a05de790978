/**
 * Sends hostile-corpus cases (test/fixtures/hostile/corpus.ts) as one attacker account, each
 * followed by a ping on the same stream, so that when `send` returns Prosody has handled the
 * case (stanzas of one stream are processed in order) or has closed the attacker's stream.
 * Two paths: slixmpp (test/clients/client.py, a real client library) for well-formed cases,
 * a raw SASL PLAIN socket (c2s-raw-socket.ts) for byte-level ones. A closed stream is
 * reopened on the next case that needs it.
 *
 * Each case is followed by whitespace (allowed between stanzas, RFC 6120 §4.7.5) twice as long
 * as its longest markup token: Expat 2.6+ (Prosody 13 on Debian 13) defers parsing a large
 * token (a start tag with a 4.5 KB attribute, a CDATA section) until the buffer has grown,
 * so without more bytes on the stream such a case never reaches Prosody's stanza handler.
 * @module
 */
import type { HostileCase } from "../fixtures/hostile/corpus.ts";
import { connectRawC2s, type RawC2s } from "./c2s-raw-socket.ts";
import type { ClientEvent, TestClient } from "./xmpp-client.ts";

export interface SendOutcome {
  path: "slixmpp" | "raw-socket";
  /** accepted: the ping after it was answered; closed: Prosody ended the attacker's stream; no-reply: neither in time. */
  sender: "accepted" | "closed" | "no-reply";
  /** Prosody's stream error (raw path), or the slixmpp disconnect. */
  detail: string | null;
  ms: number;
}

export interface HostileSender {
  send(c: HostileCase): Promise<SendOutcome>;
  close(): Promise<void>;
}

export interface HostileSenderOptions {
  port: number;
  host: string;
  user: string;
  password: string;
  /** Starts a slixmpp client for the attacker (the push stack's `client`, without stream management). */
  startClient(resource: string): Promise<TestClient>;
}

/** How long Prosody may take to handle one case (50,000 children cost it about 5 s with MAM on). */
const SLOW_MS = 30000;

export function createHostileSender(opts: HostileSenderOptions): HostileSender {
  let client: TestClient | null = null;
  let clientGone = false;
  let raw: RawC2s | null = null;
  let serial = 0;

  async function liveClient(): Promise<TestClient> {
    if (client !== null && !clientGone) return client;
    await client?.kill().catch(() => {});
    serial += 1;
    client = await opts.startClient(`lib${serial}`);
    clientGone = false;
    return client;
  }

  async function liveRaw(): Promise<RawC2s> {
    if (raw !== null && !raw.closed) return raw;
    raw?.destroy();
    serial += 1;
    raw = await connectRawC2s({ port: opts.port, host: opts.host, user: opts.user, password: opts.password, resource: `raw${serial}` });
    return raw;
  }

  function padding(c: HostileCase): string {
    const token = longestToken(c);
    return token > 1024 ? " ".repeat(2 * token + 1024) : "";
  }

  function size(c: HostileCase): number {
    return typeof c.xml === "string" ? c.xml.length : c.xml.byteLength;
  }

  async function viaClient(c: HostileCase, id: string): Promise<SendOutcome> {
    const t0 = performance.now();
    const cl = await liveClient();
    const seen = cl.events.length;
    const timeout = SLOW_MS;
    const gone = (e: ClientEvent) => e.event === "disconnected";
    cl.command({ cmd: "raw", xml: c.xml as string });
    const pad = padding(c);
    if (pad !== "") cl.command({ cmd: "raw", xml: pad });
    cl.command({ cmd: "raw", xml: `<iq type='get' id='${id}' to='${opts.host}'><ping xmlns='urn:xmpp:ping'/></iq>` });
    const deadline = Date.now() + timeout;
    for (;;) {
      const recent = cl.events.slice(seen);
      if (recent.some((e) => e.event === "iq" && e.id === id))
        return { path: "slixmpp", sender: "accepted", detail: null, ms: performance.now() - t0 };
      if (recent.some(gone)) {
        clientGone = true;
        return { path: "slixmpp", sender: "closed", detail: "slixmpp: disconnected", ms: performance.now() - t0 };
      }
      if (Date.now() > deadline) {
        clientGone = true; // unknown state: start a fresh client next time
        return { path: "slixmpp", sender: "no-reply", detail: null, ms: performance.now() - t0 };
      }
      await Bun.sleep(5);
    }
  }

  async function viaRaw(c: HostileCase, id: string): Promise<SendOutcome> {
    const t0 = performance.now();
    const sock = await liveRaw();
    const before = sock.received().length;
    await sock.write(c.xml, c.chunkBytes);
    const pad = padding(c);
    if (pad !== "") await sock.write(pad);
    // A stream left inside an unterminated construct (CDATA, a second header) never answers.
    const answer = await sock.ping(id, size(c) > 4096 ? SLOW_MS : 3000);
    const error =
      sock
        .received()
        .slice(before)
        .match(/<stream:error[\s\S]*?<\/stream:error>/)?.[0]
        ?.slice(0, 300) ?? null;
    if (answer !== "ok") {
      sock.destroy(); // a stream left mid-element or closed: reopen next time
      raw = null;
    }
    const sender = answer === "ok" ? "accepted" : answer === "closed" ? "closed" : "no-reply";
    return { path: "raw-socket", sender, detail: error, ms: performance.now() - t0 };
  }

  return {
    send(c) {
      const id = `hostile-ping-${(serial += 1)}`;
      return c.raw ? viaRaw(c, id) : viaClient(c, id);
    },
    async close() {
      raw?.destroy();
      await client?.kill().catch(() => {});
    },
  };
}

const TOKEN = /<!\[CDATA\[[\s\S]*?\]\]>|<[^>]*>/g;

/** Length of the case's longest tag or CDATA section (what Expat parses as one token). */
export function longestToken(c: HostileCase): number {
  const text = typeof c.xml === "string" ? c.xml : Buffer.from(c.xml).toString("latin1");
  let longest = 0;
  for (const m of text.matchAll(TOKEN)) if (m[0].length > longest) longest = m[0].length;
  return longest;
}
