/**
 * The component stream's public shape (re-exported by ../component.ts) and its settings once
 * defaults are applied.
 * @module
 */
import type { Element } from "ltx";

import type { BackoffOptions } from "../backoff.ts";

export type LogFn = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

export interface ComponentOptions {
  host: string;
  port: number; // XMPP server's component port
  domain: string; // component JID, e.g. push.example.com
  secret: string;
  maxStanzaBytes?: number; // default 1 MiB
  keepaliveMs?: number; // whitespace ping interval, default 60000; 0 disables
  backoff?: { initialMs?: number; maxMs?: number }; // default 1000 .. 60000, full jitter
  connectTimeoutMs?: number; // TCP connect + stream open + handshake, default 10000
  maxQueueBytes?: number; // write queue bound, default 16 MiB
  log: LogFn;
  random?: () => number;
}

export type ComponentState = "connecting" | "authenticating" | "online" | "disconnected" | "stopped";

export interface Component {
  start(): void; // connect; reconnects forever until stop()
  stop(): Promise<void>; // sends </stream:stream>, closes, no reconnect
  send(stanza: Element | string): boolean; // queued (write queue w/ backpressure); false if not online or full. A string must be one well-formed stanza.
  readonly state: ComponentState;
  readonly lastError: string | null; // why the last attempt ended; null once online again
  /** Every depth-1 stanza after auth; `refused` says why a stanza was cut (nested too deep, see stream-parser.ts). */
  onStanza(fn: (el: Element, refused?: string) => void): void;
  onOnline(fn: () => void): void;
  onOffline(fn: (reason: string) => void): void;
  stats(): { connects: number; queuedBytes: number; lastConnectedAt: number | null };
}

/** ComponentOptions with every default applied. */
export interface ComponentSettings {
  host: string;
  port: number;
  domain: string;
  secret: string;
  maxStanzaBytes: number;
  keepaliveMs: number;
  backoff: BackoffOptions;
  connectTimeoutMs: number;
  maxQueueBytes: number;
  log: LogFn;
}
