/**
 * The daemon's side of the bridge protocol (docs/bridge-protocol.md) with ONE host's bridge: hello
 * and version check on every (re)connect, (epoch, seq) deduplication of replayed events,
 * acknowledgements, and routing of that host's stanzas to the runtime. bridge-link.ts keeps one
 * peer per configured host and routes stanzas to them by sender.
 *
 * Sequence numbers must be exactly the next one expected in the hello's epoch: a replayed event
 * (seq already seen) is a duplicate; a gap, a jump or an unknown epoch is a protocol error,
 * answered by a new hello (resync: the bridge replays what it holds, and its hello says from which
 * seq), never by dropping events silently. An event the daemon cannot use is acknowledged,
 * counted and logged, so that no single stanza can stop the pipeline.
 * @module
 */
import type { Element } from "ltx";

import { assertNever } from "../assert-never.ts";
import type { Event } from "../core/types.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { BRIDGE_VERSION } from "../xmpp/ns.ts";
import { helloRefusalHint } from "./hello-hint.ts";
import { type Inbound, type ModuleReport, parseInbound, refusedEvent } from "../xmpp/parse-bridge.ts";
import { refusalReply } from "../xmpp/refusals.ts";
import { renderAck, renderHello } from "../xmpp/render.ts";
import { ackText } from "../xmpp/render-text.ts";
import type { Runtime } from "./runtime.ts";

const ACK_EVERY = 100;
/**
 * An acknowledgement of its own waits this long for a command to ride on (takeAck): each one
 * costs Prosody a stanza to parse and route (≈ 190k instructions, docs/performance.md), and
 * while pushes keep coming they carry every ack. Later acks only keep events in the bridge's
 * buffer a little longer; a replay after a broken link is deduplicated (D8, D22).
 */
const ACK_DELAY_MS = 1000;

export type BridgeStatus =
  | { state: "waiting"; reason: string }
  | { state: "ready"; epoch: string; server: string | null }
  | { state: "incompatible"; reason: string };

export interface BridgePeerOptions {
  runtime: Runtime;
  send: (el: Element) => boolean;
  log: Logger;
  metrics: Metrics;
  host: string;
  componentDomain: string;
  features: readonly string[];
  /** What the component stream's parser accepts in one stanza; stated in every hello. */
  limits: { depth: number; bytes: number; copies: number };
  now?: () => number;
  /** The bridge's report of its host's modules (hello and `modules` events; bridge-modules.ts). */
  onModules?: (report: ModuleReport) => void;
}

export interface BridgePeer {
  readonly host: string;
  /** Call when the component stream is authenticated: sends hello. */
  online(): void;
  /** The bridge asked for a hello (e.g. its module was reloaded while the stream stayed up). */
  helloRequested(): void;
  offline(reason: string): void;
  /** Every stanza from the component stream; `refused` when the stream parser had to cut it. */
  receive(el: Element, refused?: string): void;
  status(): BridgeStatus;
  /**
   * The acknowledgement of every event processed and not yet acknowledged, as the `<ack/>` text
   * to put first in a command message to this host's bridge ("" when there is none): the
   * command carries it and no ack of its own is sent (docs/bridge-protocol.md §2).
   */
  takeAck(): string;
  stop(): void;
}

export function createBridgePeer(opts: BridgePeerOptions): BridgePeer {
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
  /** A resync hello is out: events are ignored until its result (the bridge replays them then). */
  let resyncing = false;
  /** A hello is out and not yet answered. */
  let awaitingHello = false;
  /** The epoch whose unclean-stop report was logged already. */
  let uncleanEpoch: string | null = null;
  /** When the current stream came online: publishes sent before it are re-sent after hello. */
  let onlineAt = 0;

  /** The ack due now, its timer cleared: the epoch and seq, or null when everything processed is acknowledged. */
  function ackDue(): { epoch: string; seq: number } | null {
    if (ackTimer !== null) clearTimeout(ackTimer);
    ackTimer = null;
    return epoch === null || processedSeq <= ackedSeq ? null : { epoch, seq: processedSeq };
  }

  function sendAck(): void {
    const due = ackDue();
    if (due !== null && send(renderAck({ ...ctx, ...due }))) {
      ackedSeq = due.seq;
      metrics.inc("cloud_notifyd_bridge_acks_total", { how: "own" });
    }
  }

  function processed(eventEpoch: string, seq: number): void {
    if (eventEpoch !== epoch || seq <= processedSeq) return;
    processedSeq = seq;
    if (processedSeq - ackedSeq >= ACK_EVERY) sendAck();
    else if (ackTimer === null) ackTimer = setTimeout(sendAck, ACK_DELAY_MS);
  }

  /** Whether an event with this epoch and seq is the next one; a duplicate or a protocol error is handled here. */
  function next(eventEpoch: string, seq: number): boolean {
    if (resyncing || helloId === null) return false;
    if (eventEpoch === epoch && seq <= lastSeq) {
      metrics.inc("cloud_notifyd_bridge_duplicate_events_total");
      processed(eventEpoch, seq);
      return false;
    }
    if (eventEpoch !== epoch || seq !== lastSeq + 1) {
      resync(eventEpoch !== epoch ? "event from an unknown epoch" : `expected seq ${lastSeq + 1}, got ${seq}`);
      return false;
    }
    lastSeq = seq;
    return true;
  }

  function resync(reason: string): void {
    metrics.inc("cloud_notifyd_bridge_resyncs_total");
    log.warn("bridge sequence broken: asking the bridge to resynchronise", { reason });
    resyncing = true;
    sendHello();
  }

  function onEvent(eventEpoch: string, seq: number, event: Event): void {
    if (!next(eventEpoch, seq)) return;
    metrics.inc("cloud_notifyd_events_total", { type: event.type });
    runtime.post(event, () => processed(eventEpoch, seq));
  }

  function onEvents(eventEpoch: string, seq: number, events: Event[]): void {
    if (!next(eventEpoch, seq)) return;
    for (const event of events) metrics.inc("cloud_notifyd_events_total", { type: event.type });
    for (const [i, event] of events.entries()) runtime.post(event, i === events.length - 1 ? () => processed(eventEpoch, seq) : undefined);
    if (events.length === 0) runtime.barrier(() => processed(eventEpoch, seq));
  }

  /** An event the daemon cannot use: acknowledged in order (after the events before it), counted, logged. */
  function onRefused(eventEpoch: string, seq: number, reason: string): void {
    if (!next(eventEpoch, seq)) return;
    metrics.inc("cloud_notifyd_bridge_refused_events_total");
    log.warn("bridge event refused", { seq, reason });
    runtime.barrier(() => processed(eventEpoch, seq));
  }

  function onHello(hello: Extract<Inbound, { kind: "hello-result" }>): void {
    const { version, epoch: helloEpoch, server, dropped, sessions, known } = hello;
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
    resyncing = false;
    // Events before `first` were acknowledged, dropped (buffer full) or quarantined by the bridge:
    // the replay starts there.
    if (hello.first !== null && hello.first - 1 > lastSeq) lastSeq = processedSeq = hello.first - 1;
    metrics.set("cloud_notifyd_bridge_dropped_events", { host: opts.host }, dropped);
    metrics.set("cloud_notifyd_bridge_quarantined_events", { host: opts.host }, hello.quarantined);
    if (dropped > 0) log.warn("bridge dropped events while the daemon was away", { dropped });
    if (hello.quarantined > 0) log.warn("bridge quarantined events that kept breaking the link", { quarantined: hello.quarantined });
    if (hello.unclean && uncleanEpoch !== helloEpoch) {
      uncleanEpoch = helloEpoch;
      log.warn(
        "Prosody stopped uncleanly before this start: the bridge reports users with offline messages, and each one not pushed since is pushed once",
        { epoch: helloEpoch },
      );
    }
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

  function receive(el: Element, refused?: string): void {
    const parseCtx = { ...ctx, now: now() };
    const inbound = refused === undefined ? parseInbound(el, parseCtx) : refusedEvent(el, refused, parseCtx);
    switch (inbound.kind) {
      case "event":
        onEvent(inbound.epoch, inbound.seq, inbound.event);
        return;
      case "event-batch":
        onEvents(inbound.epoch, inbound.seq, inbound.events);
        return;
      case "refused-event":
        onRefused(inbound.epoch, inbound.seq, inbound.reason);
        return;
      case "modules":
        opts.onModules?.(inbound.report); // bridge status, not for the core
        return;
      case "request":
        metrics.inc("cloud_notifyd_client_requests_total", { kind: inbound.event.type, outcome: "received" });
        runtime.post(inbound.event);
        return;
      case "hello-result":
        if (inbound.iqId !== helloId) return;
        awaitingHello = false;
        onHello(inbound);
        if (inbound.version === BRIDGE_VERSION) opts.onModules?.(inbound.modules);
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
      case "iq-error":
        if (inbound.iqId === helloId) {
          awaitingHello = false;
          // What to check: another protocol version, the module not loaded, another component (hello-hint.ts).
          const hint = helloRefusalHint(inbound, ctx);
          status = { state: "incompatible", reason: `hello refused: ${inbound.errorType}/${inbound.condition}${hint}` };
          log.error(`Cannot use the bridge: hello refused: ${inbound.errorType}/${inbound.condition}${hint}`);
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
        if (inbound.refusal !== null) send(refusalReply(inbound.refusal));
        metrics.inc("cloud_notifyd_invalid_stanzas_total");
        log.warn("invalid stanza", { reason: inbound.reason });
        return;
      default:
        return assertNever(inbound, "route stanza");
    }
  }

  function sendHello(): void {
    awaitingHello = true;
    helloId = `hello-${++helloCounter}`;
    send(renderHello({ ...ctx, iqId: helloId, features: opts.features, limits: opts.limits }));
  }

  return {
    host: opts.host,
    online() {
      onlineAt = now();
      resyncing = false;
      status = { state: "waiting", reason: "waiting for the bridge's hello" };
      sendHello();
    },
    offline(reason) {
      status = { state: "waiting", reason: `component not connected: ${reason}` };
      helloId = null;
      resyncing = false;
      awaitingHello = false;
      // An ack may have been lost with the stream: acknowledge again after the next hello.
      ackedSeq = 0;
    },
    helloRequested() {
      if (helloId === null || awaitingHello) return; // not online, or a hello is already on its way
      log.info("bridge asked for a hello", { host: opts.host });
      resyncing = true;
      sendHello();
    },
    receive,
    status: () => status,
    takeAck() {
      const due = helloId === null ? null : ackDue();
      if (due === null) return "";
      ackedSeq = due.seq;
      metrics.inc("cloud_notifyd_bridge_acks_total", { how: "carried" });
      // Lost with the command if the stream breaks: offline() forgets it and the next hello acks again.
      return ackText(due.epoch, due.seq);
    },
    stop() {
      sendAck();
    },
  };
}
