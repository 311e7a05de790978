/**
 * A raw client-to-server TCP socket for byte-level tests: opens the stream, authenticates with
 * SASL PLAIN (no TLS: the test Prosody allows plain auth on loopback), binds a resource, and
 * then writes whatever bytes the test wants, optionally in small pieces. Replies are matched
 * on the received text with regular expressions, which is enough for Prosody's predictable
 * answers; this is not an XMPP client (that is test/clients/client.py).
 * @module
 */
import { connect, type Socket } from "node:net";

export interface RawC2s {
  /** Every byte received so far, decoded as UTF-8. */
  received(): string;
  readonly closed: boolean;
  /** Writes `data` at once, or in pieces of `chunkBytes` (each its own write, flushed in order). */
  write(data: Uint8Array | string, chunkBytes?: number): Promise<void>;
  /** Sends an XEP-0199 ping to the server; "ok" on its result, "closed" if the stream ended first. */
  ping(id: string, timeoutMs?: number): Promise<"ok" | "closed" | "timeout">;
  /** The `<stream:error>` Prosody sent, if any (first 300 characters). */
  streamError(): string | null;
  destroy(): void;
}

function streamHeader(host: string): string {
  return `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${host}' version='1.0'>`;
}

/** Connects to `port`, logs in as `user@host` with `password` and binds `resource`. */
export async function connectRawC2s(opts: {
  port: number;
  host: string;
  user: string;
  password: string;
  resource: string;
  timeoutMs?: number;
}): Promise<RawC2s> {
  const socket: Socket = connect({ host: "127.0.0.1", port: opts.port });
  socket.setNoDelay(true);
  let text = "";
  let closed = false;
  const decoder = new TextDecoder("utf-8");
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  socket.on("data", (d: Buffer) => {
    text += decoder.decode(d, { stream: true });
    notify();
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    closed = true;
    notify();
  });
  await new Promise<void>((ok, fail) => {
    socket.once("connect", () => ok());
    socket.once("error", (err) => fail(new Error(`Cannot connect a raw c2s socket: ${err.message}`)));
  });

  /** Resolves with the match once `re` matches the received text after `from`. */
  function waitText(re: RegExp, from: number, timeoutMs: number, what: string): Promise<RegExpMatchArray> {
    return new Promise((ok, fail) => {
      const check = () => {
        const m = text.slice(from).match(re);
        if (m) {
          waiters.delete(check);
          clearTimeout(timer);
          ok(m);
        } else if (closed) {
          waiters.delete(check);
          clearTimeout(timer);
          fail(new Error(`Cannot ${what}: the server closed the stream: ${text.slice(-300)}`));
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        fail(new Error(`Cannot ${what}: no answer within ${timeoutMs} ms: ${text.slice(-300)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  }

  const timeout = opts.timeoutMs ?? 5000;
  try {
    let mark = text.length;
    socket.write(streamHeader(opts.host));
    await waitText(/<mechanism>PLAIN<\/mechanism>[\s\S]*<\/stream:features>/, mark, timeout, "read the stream features");
    mark = text.length;
    const auth = Buffer.from(`\0${opts.user}\0${opts.password}`).toString("base64");
    socket.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${auth}</auth>`);
    const sasl = await waitText(
      /<(success|failure)[\s>/][\s\S]*?(\/>|<\/success>|<\/failure>)/,
      mark,
      timeout,
      `authenticate ${opts.user}`,
    );
    if (sasl[1] === "failure") throw new Error(`Cannot authenticate ${opts.user}: ${sasl[0].slice(0, 200)}`);
    mark = text.length;
    socket.write(streamHeader(opts.host));
    await waitText(/<bind[\s\S]*<\/stream:features>/, mark, timeout, "read the post-auth features");
    mark = text.length;
    socket.write(
      `<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${opts.resource}</resource></bind></iq>`,
    );
    await waitText(
      /<iq[^>]*id=['"]bind-1['"][^>]*type=['"]result['"]|<iq[^>]*type=['"]result['"][^>]*id=['"]bind-1['"]/,
      mark,
      timeout,
      "bind a resource",
    );
  } catch (err) {
    socket.destroy();
    throw err;
  }

  function writeAll(piece: Uint8Array | string): Promise<void> {
    return new Promise((ok) => {
      if (closed || socket.destroyed) return ok();
      socket.write(piece, () => ok());
    });
  }

  return {
    received: () => text,
    get closed() {
      return closed;
    },
    async write(data, chunkBytes) {
      const buf = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
      if (chunkBytes === undefined) return writeAll(buf);
      for (let at = 0; at < buf.length && !closed; at += chunkBytes) await writeAll(buf.subarray(at, at + chunkBytes));
    },
    async ping(id, timeoutMs = 10000) {
      if (closed) return "closed";
      const mark = text.length;
      socket.write(`<iq type='get' id='${id}' to='${opts.host}'><ping xmlns='urn:xmpp:ping'/></iq>`);
      const re = new RegExp(`<iq[^>]*id=['"]${id}['"]`);
      try {
        await waitText(re, mark, timeoutMs, `receive the reply to ping ${id}`);
        return "ok";
      } catch {
        return closed ? "closed" : "timeout";
      }
    },
    streamError() {
      const m = text.match(/<stream:error[\s\S]*?<\/stream:error>/);
      return m ? m[0].slice(0, 300) : null;
    },
    destroy() {
      socket.destroy();
    },
  };
}
