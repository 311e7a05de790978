/**
 * The component stream's lifecycle: one connection attempt at a time (connection.ts), reconnect
 * with jittered exponential backoff (../backoff.ts), clean close on stop(). Every way an attempt
 * can end (refused, timeout, lost, stream error, not-authorized, oversize stanza, server closing
 * the stream) arrives here as one failure, which logs exactly one warn/error line and schedules
 * the next attempt. The transport and the clock are injected (io.ts).
 * @module
 */
import type { Element } from "ltx";

import { backoffDelay } from "../backoff.ts";
import { type Connection, errorMessage, openConnection } from "./connection.ts";
import type { Failure } from "./handshake.ts";
import type { Clock, TimerHandle, Transport } from "./io.ts";
import type { Component, ComponentSettings, ComponentState } from "./types.ts";

export function createLifecycle(settings: ComponentSettings, transport: Transport, clock: Clock): Component {
  const { host, port, domain, log } = settings;
  const stanzaHandlers: ((el: Element, refused?: string) => void)[] = [];
  const onlineHandlers: (() => void)[] = [];
  const offlineHandlers: ((reason: string) => void)[] = [];
  let state: ComponentState = "disconnected";
  let lastError: string | null = null;
  let started = false;
  let conn: Connection | null = null;
  let attempt = 0;
  let reconnectTimer: TimerHandle | null = null;
  let connects = 0;
  let lastConnectedAt: number | null = null;
  let queueFullLogged = false;
  let stopping: Promise<void> | null = null;

  function connect(): void {
    reconnectTimer = null;
    state = "connecting";
    conn = openConnection(settings, transport, clock, {
      opened: () => {
        state = "authenticating";
      },
      online: goOnline,
      stanza: (el, refused) => {
        for (const fn of stanzaHandlers) callSafely("stanza", () => fn(el, refused));
      },
      failed,
      queueFull: (queuedBytes) => {
        if (!queueFullLogged) log("warn", "XMPP write queue full: dropping stanzas", { queuedBytes });
        queueFullLogged = true;
      },
      drained: () => {
        queueFullLogged = false; // drained: the next overflow is a new episode worth one line
      },
    });
  }

  /** A throwing listener must not take the connection down with it. */
  function callSafely(kind: "stanza" | "online" | "offline", call: () => void): void {
    try {
      call();
    } catch (err) {
      log("error", `XMPP ${kind} handler failed`, { error: errorMessage(err) });
    }
  }

  function goOnline(): void {
    state = "online";
    lastError = null;
    attempt = 0;
    connects += 1;
    lastConnectedAt = clock.now();
    log("info", "XMPP component online", { domain, host, port });
    for (const fn of onlineHandlers) callSafely("online", fn);
  }

  function failed(failure: Failure, wasOnline: boolean): void {
    if (state === "stopped") return;
    lastError = failure.reason;
    state = "disconnected";
    const retryInMs = backoffDelay(attempt, settings.backoff);
    attempt += 1;
    reconnectTimer = clock.setTimeout(connect, retryInMs);
    const fields = { domain, host, port, retryInMs, attempt, ...(failure.detail ? { detail: failure.detail } : {}) };
    if (failure.reason === "not-authorized") {
      log("error", "XMPP server refused the component handshake (not-authorized): check the component secret and domain", fields);
    } else {
      log("warn", `XMPP component disconnected: ${failure.reason}`, fields);
    }
    if (wasOnline) for (const fn of offlineHandlers) callSafely("offline", () => fn(failure.reason));
  }

  function stopConnection(): Promise<void> {
    const c = conn;
    const wasOnline = state === "online";
    state = "stopped";
    if (reconnectTimer !== null) clock.clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (c === null || c.ended) return Promise.resolve();
    if (wasOnline) for (const fn of offlineHandlers) callSafely("offline", () => fn("stopped"));
    return c.stop();
  }

  return {
    start() {
      if (started || state === "stopped") return;
      started = true;
      connect();
    },
    stop() {
      stopping ??= stopConnection();
      return stopping;
    },
    send(stanza) {
      const c = conn;
      if (c === null || state !== "online") return false;
      return c.send(typeof stanza === "string" ? stanza : stanza.toString());
    },
    get state() {
      return state;
    },
    get lastError() {
      return lastError;
    },
    onStanza: (fn) => void stanzaHandlers.push(fn),
    onOnline: (fn) => void onlineHandlers.push(fn),
    onOffline: (fn) => void offlineHandlers.push(fn),
    stats: () => ({ connects, queuedBytes: conn?.queuedBytes ?? 0, lastConnectedAt }),
  };
}
