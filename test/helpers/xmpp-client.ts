/**
 * Drives test/clients/client.py (a slixmpp client run by the system /usr/bin/python3) from tests:
 * JSON commands on its stdin, JSON events from its stdout.
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

const SCRIPT = resolve(import.meta.dir, "../clients/client.py");

export interface ClientEvent {
  event: string;
  [key: string]: unknown;
}

export interface TestClient {
  jid: string;
  events: ClientEvent[];
  command(cmd: Record<string, unknown>): void;
  /** The first event (already seen or future) matching, not yet taken by another wait. */
  waitFor(match: (e: ClientEvent) => boolean, timeoutMs?: number, what?: string): Promise<ClientEvent>;
  /** Sends raw XML of an IQ with the given id and resolves with its reply event. */
  iq(xml: string, id: string, timeoutMs?: number): Promise<ClientEvent>;
  /** SIGKILL: the TCP socket dies without a stream close. */
  kill(): Promise<void>;
  quit(): Promise<void>;
}

export async function startClient(opts: {
  jid: string;
  password: string;
  port: number;
  sm?: boolean;
  presence?: boolean;
  /** Wait for session start (default true). */
  waitOnline?: boolean;
}): Promise<TestClient> {
  const args = [SCRIPT, opts.jid, opts.password, String(opts.port)];
  if (opts.sm === false) args.push("--no-sm");
  if (opts.presence === false) args.push("--no-presence");
  const proc: ChildProcess = spawn("/usr/bin/python3", args, { stdio: ["pipe", "pipe", "pipe"] });
  const events: ClientEvent[] = [];
  const unclaimed: ClientEvent[] = [];
  const waiters: Array<{ match: (e: ClientEvent) => boolean; resolve: (e: ClientEvent) => void }> = [];
  let buffer = "";
  let stderr = "";
  const exited = new Promise<void>((ok) => proc.once("exit", () => ok()));

  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  proc.stdout?.on("data", (d: Buffer) => {
    buffer += d.toString();
    let nl = buffer.indexOf("\n");
    while (nl >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf("\n");
      if (!line.trim()) continue;
      let event: ClientEvent;
      try {
        event = JSON.parse(line) as ClientEvent;
      } catch {
        continue;
      }
      events.push(event);
      const index = waiters.findIndex((w) => w.match(event));
      if (index >= 0) {
        const [waiter] = waiters.splice(index, 1);
        waiter?.resolve(event);
      } else {
        unclaimed.push(event);
      }
    }
  });

  function waitFor(match: (e: ClientEvent) => boolean, timeoutMs = 8000, what = "event"): Promise<ClientEvent> {
    const index = unclaimed.findIndex(match);
    if (index >= 0) {
      const [event] = unclaimed.splice(index, 1);
      return Promise.resolve(event as ClientEvent);
    }
    return new Promise((ok, fail) => {
      const waiter = {
        match,
        resolve: (e: ClientEvent) => {
          clearTimeout(timer);
          ok(e);
        },
      };
      const timer = setTimeout(() => {
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
        fail(new Error(`Cannot receive ${what} on ${opts.jid}: timed out after ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
      }, timeoutMs);
      waiters.push(waiter);
    });
  }

  function command(cmd: Record<string, unknown>): void {
    proc.stdin?.write(`${JSON.stringify(cmd)}\n`);
  }

  const client: TestClient = {
    jid: opts.jid,
    events,
    command,
    waitFor,
    iq(xml, id, timeoutMs = 8000) {
      const reply = waitFor((e) => e.event === "iq" && e.id === id, timeoutMs, `reply to iq ${id}`);
      command({ cmd: "raw", xml });
      return reply;
    },
    async kill() {
      proc.kill("SIGKILL");
      await exited;
    },
    async quit() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      command({ cmd: "quit" });
      const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
  if (opts.waitOnline !== false) {
    await waitFor((e) => e.event === "session_start", 10000, "session start");
    if (opts.sm !== false) await waitFor((e) => e.event === "sm_enabled", 5000, "stream management");
  }
  return client;
}
