// A scripted XMPP server speaking the server side of XEP-0114 (Jabber Component Protocol)
// on 127.0.0.1, for testing src/xmpp/component.ts over real loopback sockets.
// https://xmpp.org/extensions/xep-0114.html
//
// node:net is used here (not Bun.listen) because it buffers writes and has pause()/resume(),
// which is what a test needs to play a slow reader.

import { createHash } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";

export type AuthMode = "accept" | "refuse" | "ignore";

export interface FakeServerOptions {
  secret: string;
  domain?: string;
  /** accept: `<handshake/>`; refuse: `<stream:error><not-authorized/>` and close; ignore: no answer. */
  auth?: AuthMode;
  /** Port to listen on; default 0 (any free port). */
  port?: number;
}

export interface FakeConnection {
  readonly index: number;
  /** Everything received so far, decoded as UTF-8. */
  readonly received: string;
  /** Everything received after the handshake element. */
  readonly afterHandshake: string;
  readonly receivedBytes: number;
  /** The `to` attribute of the client's stream header, once seen. */
  readonly to: string | null;
  readonly streamId: string;
  readonly authenticated: boolean;
  readonly closed: boolean;
  /** Resolves with the full handshake outcome. */
  readonly handshake: Promise<"accepted" | "refused" | "ignored">;
  /** Resolves when the socket has closed. */
  readonly closedPromise: Promise<void>;
  send(data: string | Uint8Array): void;
  /** Writes `data` in pieces of `pieceBytes` bytes, waiting `delayMs` between them. */
  sendSplit(data: string | Uint8Array, pieceBytes: number, delayMs?: number): Promise<void>;
  streamError(condition: string): void;
  /** Sends `</stream:stream>` and half-closes. */
  closeStream(): void;
  /** Drops the TCP connection without any XML. */
  destroy(): void;
  pause(): void;
  resume(): void;
  waitFor(predicate: (conn: FakeConnection) => boolean, timeoutMs?: number): Promise<void>;
}

export interface FakeXmppServer {
  readonly port: number;
  readonly connections: FakeConnection[];
  auth: AuthMode;
  /** Resolves with connection number `index` (0-based), waiting for it to arrive. */
  connection(index: number, timeoutMs?: number): Promise<FakeConnection>;
  close(): Promise<void>;
}

const NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams";

export function handshakeDigest(streamId: string, secret: string): string {
  return createHash("sha1")
    .update(streamId + secret)
    .digest("hex");
}

export async function waitUntil(check: () => boolean, timeoutMs = 3000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Cannot wait for ${what}: timed out after ${timeoutMs} ms`);
    await Bun.sleep(5);
  }
}

export async function startFakeXmppServer(options: FakeServerOptions): Promise<FakeXmppServer> {
  const { secret, domain = "push.example.com" } = options;
  const connections: FakeConnection[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer();
  const state = { auth: options.auth ?? ("accept" as AuthMode) };

  server.on("connection", function onConnection(socket) {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    connections.push(acceptConnection(socket, connections.length, { secret, domain, auth: () => state.auth }));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("Cannot start fake XMPP server: no port");

  return {
    port: address.port,
    connections,
    get auth() {
      return state.auth;
    },
    set auth(mode: AuthMode) {
      state.auth = mode;
    },
    async connection(index, timeoutMs = 3000) {
      await waitUntil(() => connections.length > index, timeoutMs, `connection #${index}`);
      return connections[index] as FakeConnection;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface AcceptOptions {
  secret: string;
  domain: string;
  auth: () => AuthMode;
}

function acceptConnection(socket: Socket, index: number, options: AcceptOptions): FakeConnection {
  const decoder = new TextDecoder("utf-8");
  const streamId = `fake-${index}-${Math.random().toString(36).slice(2)}`;
  const parts: string[] = [];
  let cache: string | null = "";
  let receivedBytes = 0;
  let to: string | null = null;
  let headerAnswered = false;
  let handshakeEnd = -1;
  let authenticated = false;
  let closed = false;
  let settleHandshake: (outcome: "accepted" | "refused" | "ignored") => void = () => {};
  const handshake = new Promise<"accepted" | "refused" | "ignored">((resolve) => (settleHandshake = resolve));
  const closedPromise = new Promise<void>((resolve) => socket.on("close", () => resolve()));

  function received(): string {
    if (cache === null) {
      cache = parts.join("");
      parts.length = 0;
      parts.push(cache);
    }
    return cache;
  }

  function write(data: string | Uint8Array): void {
    if (!socket.destroyed && socket.writable) socket.write(data);
  }

  function onHeader(text: string): void {
    const header = /<stream:stream\b[^>]*>/.exec(text);
    if (header === null) return;
    headerAnswered = true;
    to = /\bto=['"]([^'"]*)['"]/.exec(header[0])?.[1] ?? null;
    write(
      `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' ` +
        `xmlns='jabber:component:accept' from='${options.domain}' id='${streamId}'>`,
    );
  }

  function onHandshake(text: string): void {
    const match = /<handshake>([^<]*)<\/handshake>/.exec(text);
    if (match === null) return;
    handshakeEnd = match.index + match[0].length;
    const mode = options.auth();
    const digestOk = match[1] === handshakeDigest(streamId, options.secret);
    if (mode === "ignore") return settleHandshake("ignored");
    if (mode === "accept" && digestOk && to === options.domain) {
      authenticated = true;
      write("<handshake/>");
      return settleHandshake("accepted");
    }
    write(`<stream:error><not-authorized xmlns='${NS_STREAMS}'/></stream:error></stream:stream>`);
    socket.end();
    settleHandshake("refused");
  }

  socket.on("data", function onData(chunk: Buffer) {
    receivedBytes += chunk.length;
    parts.push(decoder.decode(chunk, { stream: true }));
    cache = null;
    if (handshakeEnd >= 0) return;
    const text = received();
    if (!headerAnswered) onHeader(text);
    if (headerAnswered) onHandshake(text);
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    closed = true;
    settleHandshake("ignored");
  });

  const conn: FakeConnection = {
    index,
    streamId,
    handshake,
    closedPromise,
    get received() {
      return received();
    },
    get afterHandshake() {
      return handshakeEnd < 0 ? "" : received().slice(handshakeEnd);
    },
    get receivedBytes() {
      return receivedBytes;
    },
    get to() {
      return to;
    },
    get authenticated() {
      return authenticated;
    },
    get closed() {
      return closed;
    },
    send: write,
    async sendSplit(data, pieceBytes, delayMs = 1) {
      const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
      for (let at = 0; at < bytes.length; at += pieceBytes) {
        write(bytes.subarray(at, at + pieceBytes));
        await Bun.sleep(delayMs);
      }
    },
    streamError(condition) {
      write(`<stream:error><${condition} xmlns='${NS_STREAMS}'/></stream:error></stream:stream>`);
      socket.end();
    },
    closeStream() {
      write("</stream:stream>");
      socket.end();
    },
    destroy() {
      socket.destroy();
    },
    pause() {
      socket.pause();
    },
    resume() {
      socket.resume();
    },
    async waitFor(predicate, timeoutMs = 3000) {
      await waitUntil(() => predicate(conn), timeoutMs, `connection #${index} state`);
    },
  };
  return conn;
}
