/**
 * The daemon's side of the bridge protocol (docs/bridge-protocol.md): hello and version check
 * on every (re)connect, (epoch, seq) deduplication of replayed events, acknowledgements, and
 * routing of every inbound stanza to the runtime.
 * @module
 */
import type { Element } from "ltx";

import type { Event } from "../core/types.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { BRIDGE_VERSION } from "../xmpp/ns.ts";
import { parseInbound, type HelloSession } from "../xmpp/parse-bridge.ts";
import { renderAck, renderHello } from "../xmpp/render.ts";
import type { Runtime } from "./runtime.ts";

const ACK_EVERY = 100;
const ACK_DELAY_MS = 200;

export type BridgeStatus =
  | { state: "waiting"; reason: string }
  | { state: "ready"; epoch: string; server: string | null }
  | { state: "incompatible"; reason: string };

export interface BridgeLinkOptions {
  runtime: Runtime;
  send: (el: Element) => boolean;
  log: Logger;
  metrics: Metrics;
  host: string;
  componentDomain: string;
  features: readonly string[];
  now?: () => number;
}

export interface BridgeLink {
  /** Call when the component stream is authenticated: sends hello. */
  online(): void;
  offline(reason: string): void;
  /** Every stanza from the component stream. */
  receive(el: Element): void;
  status(): BridgeStatus;
  stop(): void;
}

export function createBridgeLink(opts: BridgeLinkOptions): BridgeLink {
  const { runtime, send, log, metrics } = opts;
  const now = opts.now ?? Date.now;
  const ctx = { host: opts.host, componentDomain: opts.componentDomain };
  let status: BridgeStatus = { state: "waiting", reason: "component not connected" };
  let helloId: string | null = null;
  let helloCounter = 0;
  let epoch: string | null = null;
  let lastSeq = 0;
  let processedSeq = 0;
  let ackedSeq = 0;
  let ackTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the current stream came online: publishes sent before it are re-sent after hello. */
  let onlineAt = 0;

  function sendAck(): void {
    if (ackTimer !== null) clearTimeout(ackTimer);
    ackTimer = null;
    if (epoch === null || processedSeq <= ackedSeq) return;
    if (send(renderAck({ ...ctx, epoch, seq: processedSeq }))) ackedSeq = processedSeq;
  }

  function processed(eventEpoch: string, seq: number): void {
    if (eventEpoch !== epoch || seq <= processedSeq) return;
    processedSeq = seq;
    if (processedSeq - ackedSeq >= ACK_EVERY) sendAck();
    else if (ackTimer === null) ackTimer = setTimeout(sendAck, ACK_DELAY_MS);
  }

  function onEvent(eventEpoch: string, seq: number, event: Event): void {
    if (eventEpoch !== epoch) {
      // A new bridge epoch (Prosody or the module restarted): its sequence starts again.
      epoch = eventEpoch;
      lastSeq = processedSeq = ackedSeq = 0;
    }
    if (seq <= lastSeq) {
      metrics.inc("cloud_notifyd_bridge_duplicate_events_total");
      processed(eventEpoch, seq);
      return;
    }
    lastSeq = seq;
    metrics.inc("cloud_notifyd_events_total", { type: event.type });
    runtime.post(event, () => processed(eventEpoch, seq));
  }

  function onHello(version: string, helloEpoch: string, server: string | null, dropped: number, sessions: HelloSession[], known: string[]): void {
    if (version !== BRIDGE_VERSION) {
      const reason = `bridge speaks protocol version ${version}, daemon needs ${BRIDGE_VERSION}`;
      status = { state: "incompatible", reason };
      log.error("bridge protocol version mismatch", { bridge: version, daemon: BRIDGE_VERSION });
      return;
    }
    if (helloEpoch !== epoch) {
      epoch = helloEpoch;
      lastSeq = processedSeq = ackedSeq = 0;
    }
    metrics.set("cloud_notifyd_bridge_dropped_events", dropped);
    if (dropped > 0) log.warn("bridge dropped events while the daemon was away", { dropped });
    status = { state: "ready", epoch: helloEpoch, server };
    sendAck(); // events processed before a reconnect were maybe never acknowledged
    log.info("bridge ready", { server, epoch: helloEpoch, sessions: sessions.length });
    for (const s of sessions) {
      void runtime.dispatch({
        type: "session-started",
        now: now(),
        session: { user: s.user, sessionId: s.sessionId, fullJid: s.fullJid, clientId: s.clientId ?? null },
        boundIdentifier: s.bound === "" ? null : s.bound,
      });
    }
    // Publishes sent over an earlier stream that the bridge does not know died with it: send them again.
    void runtime.dispatch({ type: "link-restored", now: now(), sentBefore: onlineAt, known: new Set(known) });
    void runtime.dispatch({
      type: "sessions-snapshot",
      now: now(),
      sessions: sessions.map((s) => ({
        session: { user: s.user, sessionId: s.sessionId, fullJid: s.fullJid, clientId: s.clientId ?? null },
        bound: s.bound === "" ? null : s.bound,
        hibernating: s.hibernating,
      })),
    });
  }

  function receive(el: Element): void {
    const inbound = parseInbound(el, { ...ctx, now: now() });
    switch (inbound.kind) {
      case "event":
        onEvent(inbound.epoch, inbound.seq, inbound.event);
        return;
      case "request":
        metrics.inc("cloud_notifyd_client_requests_total", { kind: inbound.event.type, outcome: "received" });
        runtime.post(inbound.event);
        return;
      case "hello-result":
        if (inbound.iqId !== helloId) return;
        onHello(inbound.version, inbound.epoch, inbound.server, inbound.dropped, inbound.sessions, inbound.known);
        return;
      case "publish-reply":
        runtime.post(
          inbound.ok
            ? { type: "publish-result", now: now(), publishId: inbound.publishId, from: inbound.from }
            : {
                type: "publish-error",
                now: now(),
                publishId: inbound.publishId,
                from: inbound.from,
                errorType: inbound.errorType,
                condition: inbound.condition,
                text: inbound.text,
              },
        );
        return;
      case "publish-timeout":
        // The core's own deadline (D11) records the timeout; nothing to do here.
        return;
      case "iq-error":
        if (inbound.iqId === helloId) {
          status = { state: "incompatible", reason: `hello refused: ${inbound.errorType}/${inbound.condition}` };
          log.error("bridge refused hello", { condition: inbound.condition, text: inbound.text });
        } else {
          log.warn("bridge command failed", { id: inbound.iqId, error: `${inbound.errorType}/${inbound.condition}`, text: inbound.text });
        }
        return;
      case "iq-result":
        return;
      case "disco-info":
        send(inbound.reply);
        return;
      case "invalid":
        if (inbound.reply !== null) send(inbound.reply);
        metrics.inc("cloud_notifyd_invalid_stanzas_total");
        log.warn("invalid stanza", { reason: inbound.reason });
        return;
      default:
        return assertNever(inbound);
    }
  }

  return {
    online() {
      onlineAt = now();
      helloId = `hello-${++helloCounter}`;
      status = { state: "waiting", reason: "waiting for the bridge's hello" };
      send(renderHello({ ...ctx, iqId: helloId, features: opts.features }));
    },
    offline(reason) {
      status = { state: "waiting", reason: `component not connected: ${reason}` };
      helloId = null;
      // An ack may have been lost with the stream: acknowledge again after the next hello.
      ackedSeq = 0;
    },
    receive,
    status: () => status,
    stop() {
      sendAck();
    },
  };
}

function assertNever(x: never): never {
  throw new Error(`Cannot route stanza: unknown ${JSON.stringify(x)}`);
}
