/**
 * Stanzas from the component stream → plain data for the core and the shell (no I/O, never throws).
 * Bridge wire protocol: docs/bridge-protocol.md. Publish replies: behaviour.md §2.7, D15.
 *
 * Classification of one top-level stanza:
 * - `<message>` from the host with `<event xmlns=bridge>` → `event` (a core Event, with epoch/seq).
 * - `<iq type=set>` from the host with `<request xmlns=bridge>` → `request` (core enable/disable).
 * - `<iq type=result>` from the host: `<hello>` → `hello-result`; anything else → `iq-result`
 *   (matched by id by the shell). Publish outcomes the bridge forwarded arrive as events.
 * - `<iq type=error>` from the host → `iq-error` (exact type, condition, text).
 * - `<iq type=result|error>` from anyone else → `publish-reply` for a publish the component sent
 *   itself (D15 option): `publishId` is the IQ id, which is the publish id.
 * - `<iq type=get>` disco#info to the component's own domain → `disco-info` (a ready reply:
 *   identity component/generic, feature disco#info).
 * - everything else → `invalid` with a reason and, for IQ get/set, a typed refusal that
 *   refusals.ts turns into the error reply: `cancel/forbidden` (bridge namespace, wrong sender),
 *   `modify/bad-request` (malformed), `cancel/feature-not-implemented` (unknown bridge command),
 *   `cancel/service-unavailable` (not ours), `cancel/item-not-found` (disco#info with a node).
 *   A malformed *client* IQ inside a well-formed `<request>` is a `client` refusal
 *   (`modify/bad-request` wrapped in `<response>`) so the client gets a proper answer.
 *
 * Stanza copies get `xmlns='jabber:client'` set on their root when it is missing (the core reads
 * namespaces from `xmlns` attributes), and `key = stanzaKey(stanza)` (D8).
 * @module
 */
import type { Element } from "ltx";

import { localPartProblem, parseJid } from "../core/jid.ts";
import type { Event, SessionRef, StanzaCopy } from "../core/types.ts";
import { localName, readStanzaError } from "./errors.ts";
import { BRIDGE_VERSION, NS_BRIDGE, NS_CLIENT, NS_COMPONENT, NS_DISCO_INFO, NS_PUSH } from "./ns.ts";
import type { Refusal } from "./refusals.ts";
import { renderDiscoInfo } from "./render.ts";
import { stanzaKey } from "./stanza-key.ts";
import { contactsOf, withContact } from "./contacts.ts";

export type HelloSession = SessionRef & { bound: string | null; hibernating: boolean };

/** The bridge's host modules (bridge-protocol.md §1 `conflict`, `<module>`); modules null = not reported. */
export type ModuleReport = { conflict: string | null; modules: Array<{ name: string; loaded: boolean }> | null };

export type Inbound =
  | { kind: "event"; epoch: string; seq: number; event: Event }
  /** One bridge event that stands for several core events (offline-pending: one per user). */
  | { kind: "event-batch"; epoch: string; seq: number; events: Event[] }
  /** A bridge event with a readable epoch and seq that the daemon cannot use: acknowledged and dropped. */
  | { kind: "refused-event"; epoch: string; seq: number; reason: string }
  | { kind: "request"; bridgeIqId: string; event: Event }
  | {
      kind: "hello-result";
      iqId: string;
      version: string;
      server: string | null;
      epoch: string;
      dropped: number;
      /** Events the bridge put aside after they kept breaking the link (bridge-protocol.md §2). */
      quarantined: number;
      /** The first seq the bridge still holds: every event before it was acknowledged, dropped or quarantined (null: not said). */
      first: number | null;
      /** The bridge found no record of a clean stop of the previous Prosody process. */
      unclean: boolean;
      sessions: HelloSession[];
      /** Publish ids the bridge forwarded and will report an outcome for (bridge-protocol.md §1). */
      known: string[];
      modules: ModuleReport;
    }
  /** The bridge's host modules changed (a live `<message><modules>`, not an event: never replayed). */
  | { kind: "modules"; report: ModuleReport }
  | { kind: "iq-result"; iqId: string; payload: Element | null }
  | { kind: "iq-error"; iqId: string; errorType: string; condition: string; text: string | null }
  | { kind: "publish-reply"; iqId: string; publishId: string; from: string; ok: true }
  | {
      kind: "publish-reply";
      iqId: string;
      publishId: string;
      from: string;
      ok: false;
      errorType: string;
      condition: string;
      text: string | null;
    }
  | { kind: "disco-info"; reply: Element }
  /** `refusal`: the error reply owed to the sender (refusals.refusalReply), null when none is. */
  | { kind: "invalid"; refusal: Refusal | null; reason: string };

export interface ParseCtx {
  host: string;
  componentDomain: string;
  now: number;
}

type Invalid = Extract<Inbound, { kind: "invalid" }>;

/** Classifies one top-level stanza from the component stream. Never throws. */
export function parseInbound(el: Element, ctx: ParseCtx): Inbound {
  try {
    return classify(el, ctx);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return { kind: "invalid", refusal: null, reason: `Cannot parse stanza: ${detail}` };
  }
}

function classify(el: Element, ctx: ParseCtx): Inbound {
  const name = localName(String(el.name));
  const attrs = el.attrs ?? {};
  const ns = attr(attrs, "xmlns");
  if (ns !== null && ns !== NS_COMPONENT && ns !== NS_CLIENT) {
    return invalid(null, `Cannot handle <${name}>: unexpected namespace ${ns}`);
  }
  if (name === "iq") return parseIq(el, ctx);
  if (name === "message") return parseMessage(el, ctx);
  if (name === "presence") return invalid(null, `Ignoring presence from ${attr(attrs, "from") ?? "(none)"}`);
  return invalid(null, `Cannot handle <${name}>: not a stanza`);
}

// ---------------------------------------------------------------------------------------------
// IQs

function parseIq(iq: Element, ctx: ParseCtx): Inbound {
  const type = attr(iq.attrs, "type");
  const id = attr(iq.attrs, "id");
  const from = attr(iq.attrs, "from");
  const to = attr(iq.attrs, "to") ?? ctx.componentDomain;
  if (id === null) return invalid(null, `Cannot handle iq from ${from ?? "(none)"}: no id`);
  if (from === null) return invalid(null, `Cannot handle iq ${id}: no from`);
  const errorReply = (errorType: string, condition: string, reason: string): Invalid =>
    invalid({ kind: "iq", type: errorType, condition, text: reason, to: from, from: to, id }, reason);

  if (type === "result" || type === "error") return parseIqReply(iq, type, id, from, ctx);
  if (type !== "get" && type !== "set") {
    return errorReply("modify", "bad-request", `Cannot handle iq ${id}: bad type ${type ?? "(none)"}`);
  }

  const payloads = elementChildren(iq);
  const payload = payloads[0];
  if (payload === undefined || payloads.length > 1) {
    return errorReply("modify", "bad-request", `Cannot handle iq ${id}: expected exactly one payload element`);
  }
  const payloadNs = attr(payload.attrs, "xmlns");
  const payloadName = localName(String(payload.name));

  if (payloadNs === NS_BRIDGE) {
    if (!sameDomain(from, ctx.host)) {
      return errorReply("cancel", "forbidden", `Cannot accept bridge iq ${id}: sent by ${from}, not ${ctx.host}`);
    }
    if (payloadName === "request" && type === "set") return parseRequest(iq, payload, id, to, ctx);
    return errorReply("cancel", "feature-not-implemented", `Cannot handle bridge iq ${id}: unknown <${payloadName}>`);
  }

  if (payloadNs === NS_DISCO_INFO && payloadName === "query" && type === "get" && sameDomain(to, ctx.componentDomain)) {
    if (attr(payload.attrs, "node") !== null) {
      return errorReply("cancel", "item-not-found", `Cannot answer disco#info ${id}: unknown node`);
    }
    return { kind: "disco-info", reply: renderDiscoInfo(from, to, id) };
  }

  return errorReply(
    "cancel",
    "service-unavailable",
    `Cannot handle iq ${id} from ${from}: <${payloadName} xmlns='${payloadNs ?? ""}'> is not served here`,
  );
}

function parseIqReply(iq: Element, type: "result" | "error", id: string, from: string, ctx: ParseCtx): Inbound {
  if (!sameDomain(from, ctx.host)) {
    // A direct reply to a publish the component sent from its own JID (D15 option).
    return publishReply(iq, type, id, id, from);
  }
  if (type === "error") {
    const error = readStanzaError(iq) ?? { type: "cancel", condition: "undefined-condition", text: null };
    return { kind: "iq-error", iqId: id, errorType: error.type, condition: error.condition, text: error.text };
  }
  const payload = elementChildren(iq)[0] ?? null;
  if (payload !== null && attr(payload.attrs, "xmlns") === NS_BRIDGE && localName(String(payload.name)) === "hello") {
    return parseHelloResult(payload, id, ctx);
  }
  return { kind: "iq-result", iqId: id, payload };
}

function publishReply(iq: Element, type: "result" | "error", iqId: string, publishId: string, from: string): Inbound {
  if (type === "result") return { kind: "publish-reply", iqId, publishId, from, ok: true };
  const error = readStanzaError(iq) ?? { type: "cancel", condition: "undefined-condition", text: null };
  return {
    kind: "publish-reply",
    iqId,
    publishId,
    from,
    ok: false,
    errorType: error.type,
    condition: error.condition,
    text: error.text,
  };
}

function parseHelloResult(hello: Element, iqId: string, ctx: ParseCtx): Inbound {
  const version = attr(hello.attrs, "version");
  const server = attr(hello.attrs, "server");
  const epoch = attr(hello.attrs, "epoch");
  if (version === null) return invalid(null, `Cannot read hello result ${iqId}: no version`);
  if (version !== BRIDGE_VERSION) {
    // Reported as is: the shell logs both versions and stays not ready (bridge-protocol.md §1).
    return {
      kind: "hello-result",
      iqId,
      version,
      server,
      epoch: epoch ?? "",
      dropped: 0,
      quarantined: 0,
      first: null,
      unclean: false,
      sessions: [],
      known: [],
      modules: { conflict: null, modules: null },
    };
  }
  if (epoch === null) return invalid(null, `Cannot read hello result ${iqId}: no epoch`);
  const droppedText = attr(hello.attrs, "dropped") ?? "0";
  const dropped = parseCount(droppedText, 0);
  if (dropped === null) return invalid(null, `Cannot read hello result ${iqId}: dropped='${droppedText}'`);
  const quarantinedText = attr(hello.attrs, "quarantined") ?? "0";
  const quarantined = parseCount(quarantinedText, 0);
  if (quarantined === null) return invalid(null, `Cannot read hello result ${iqId}: quarantined='${quarantinedText}'`);
  const firstText = attr(hello.attrs, "first");
  const first = firstText === null ? null : parseCount(firstText, 1);
  if (firstText !== null && first === null) return invalid(null, `Cannot read hello result ${iqId}: first='${firstText}'`);
  const unclean = attr(hello.attrs, "unclean") === "true";
  const sessions: HelloSession[] = [];
  const known: string[] = [];
  const modules = moduleReport(hello);
  for (const child of elementChildren(hello)) {
    const ns = attr(child.attrs, "xmlns");
    if (ns !== null && ns !== NS_BRIDGE) continue;
    const childName = localName(String(child.name));
    if (childName === "publish") {
      const id = attr(child.attrs, "id");
      if (id === null) return invalid(null, `Cannot read hello result ${iqId}: publish without id`);
      known.push(id);
      continue;
    }
    if (childName !== "session") continue;
    const user = attr(child.attrs, "user");
    const sessionId = attr(child.attrs, "id");
    const full = attr(child.attrs, "full");
    if (user === null || sessionId === null || full === null) {
      return invalid(null, `Cannot read hello result ${iqId}: session without user, id or full`);
    }
    const problem = checkFullJid(full, user, ctx.host);
    if (problem !== null) return invalid(null, `Cannot read hello result ${iqId}: ${problem}`);
    const userKey = bareUser(user, ctx.host);
    const hibernating = attr(child.attrs, "hibernating");
    sessions.push({
      user: userKey,
      sessionId,
      fullJid: full,
      clientId: attr(child.attrs, "client-id"),
      bound: attr(child.attrs, "bound"),
      hibernating: hibernating === "true" || hibernating === "1",
    });
  }
  return { kind: "hello-result", iqId, version, server, epoch, dropped, quarantined, first, unclean, sessions, known, modules };
}

/** `conflict` and the `<module name loaded>` children of a hello result or a `modules` event. */
function moduleReport(el: Element): ModuleReport {
  const modules: Array<{ name: string; loaded: boolean }> = [];
  for (const child of elementChildren(el)) {
    const ns = attr(child.attrs, "xmlns");
    if (localName(String(child.name)) !== "module" || (ns !== null && ns !== NS_BRIDGE)) continue;
    const name = attr(child.attrs, "name");
    if (name === null || !/^[a-z0-9_]{1,64}$/.test(name) || modules.length >= 32) continue;
    modules.push({ name, loaded: attr(child.attrs, "loaded") === "true" });
  }
  const conflict = attr(el.attrs, "conflict");
  return {
    conflict: conflict === null ? null : /^[a-z0-9_]{1,64}$/.test(conflict) ? conflict : "unknown",
    modules: modules.length > 0 ? modules : null,
  };
}

function parseRequest(iq: Element, request: Element, bridgeIqId: string, to: string, ctx: ParseCtx): Inbound {
  const from = attr(iq.attrs, "from") ?? ctx.host;
  const badRequest = (reason: string): Invalid =>
    invalid({ kind: "iq", type: "modify", condition: "bad-request", text: reason, to: from, from: to, id: bridgeIqId }, reason);
  const user = attr(request.attrs, "user");
  const sessionId = attr(request.attrs, "session");
  const full = attr(request.attrs, "full");
  if (user === null) return badRequest(`Cannot accept request ${bridgeIqId}: no user`);
  if (sessionId === null) return badRequest(`Cannot accept request ${bridgeIqId}: no session`);
  if (full === null) return badRequest(`Cannot accept request ${bridgeIqId}: no full`);
  const problem = checkFullJid(full, user, ctx.host);
  if (problem !== null) return badRequest(`Cannot accept request ${bridgeIqId}: ${problem}`);
  const clientId = attr(request.attrs, "client-id");

  const inners = elementChildren(request);
  const inner = inners[0];
  if (inner === undefined || inners.length > 1 || localName(String(inner.name)) !== "iq") {
    return badRequest(`Cannot accept request ${bridgeIqId}: expected exactly one inner iq`);
  }
  const innerNs = attr(inner.attrs, "xmlns");
  if (innerNs !== null && innerNs !== NS_CLIENT) {
    return badRequest(`Cannot accept request ${bridgeIqId}: inner iq in ${innerNs}`);
  }

  // From here on the bridge stanza is fine; the client's IQ is not: answer the client.
  const clientError = (reason: string): Invalid =>
    invalid(
      { kind: "client", type: "modify", condition: "bad-request", text: reason, to: ctx.host, from: ctx.componentDomain, id: bridgeIqId },
      `Cannot accept request ${bridgeIqId}: ${reason}`,
    );
  if (attr(inner.attrs, "type") !== "set") return clientError("Expected an iq of type set");
  const payloads = elementChildren(inner);
  const element = payloads[0];
  if (element === undefined || payloads.length > 1) return clientError("Expected exactly one payload element");
  const name = localName(String(element.name));
  if ((name !== "enable" && name !== "disable") || attr(element.attrs, "xmlns") !== NS_PUSH) {
    return clientError(`Expected enable or disable in ${NS_PUSH}`);
  }

  const lang = attr(inner.attrs, "xml:lang") ?? attr(request.attrs, "xml:lang");
  const event: Event = {
    type: name,
    now: ctx.now,
    req: {
      requestId: requestIdOf(bridgeIqId, ctx.host),
      session: { user: bareUser(user, ctx.host), sessionId, fullJid: full, clientId },
      lang,
    },
    element,
  };
  return { kind: "request", bridgeIqId, event };
}

// ---------------------------------------------------------------------------------------------
// Messages: bridge events

function parseMessage(message: Element, ctx: ParseCtx): Inbound {
  const from = attr(message.attrs, "from");
  const type = attr(message.attrs, "type");
  if (type === "error") {
    const error = readStanzaError(message);
    const detail = error === null ? "" : `: ${error.type}/${error.condition}`;
    return invalid(null, `Ignoring error message from ${from ?? "(none)"}${detail}`);
  }
  const event = elementChildren(message).find((c) => localName(String(c.name)) === "event" && attr(c.attrs, "xmlns") === NS_BRIDGE);
  if (event === undefined) {
    const modules = elementChildren(message).find((c) => localName(String(c.name)) === "modules" && attr(c.attrs, "xmlns") === NS_BRIDGE);
    if (modules !== undefined && from !== null && sameDomain(from, ctx.host)) return { kind: "modules", report: moduleReport(modules) };
    return invalid(null, `Ignoring message from ${from ?? "(none)"}: no bridge event`);
  }
  if (from === null || !sameDomain(from, ctx.host)) {
    return invalid(null, `Ignoring bridge event from ${from ?? "(none)"}: not ${ctx.host}`);
  }
  const parsed = parseEvent(event, ctx);
  if (parsed.kind !== "invalid") return parsed;
  // Readable epoch and seq: the daemon acknowledges the event it cannot use, so that it is never
  // replayed (one hostile stanza must not stop the pipeline, bridge-protocol.md §2).
  const epoch = attr(event.attrs, "epoch");
  const seq = parseCount(attr(event.attrs, "seq") ?? "", 1);
  if (epoch === null || seq === null) return parsed;
  return { kind: "refused-event", epoch, seq, reason: parsed.reason };
}

/** Marks a bridge event the stream parser cut (nested too deep): refused, but acknowledged. */
export function refusedEvent(el: Element, reason: string, ctx: ParseCtx): Inbound {
  const event = elementChildren(el).find((c) => localName(String(c.name)) === "event" && attr(c.attrs, "xmlns") === NS_BRIDGE);
  const from = attr(el.attrs, "from");
  const epoch = event === undefined ? null : attr(event.attrs, "epoch");
  const seq = event === undefined ? null : parseCount(attr(event.attrs, "seq") ?? "", 1);
  const name = localName(String(el.name));
  const type = attr(el.attrs, "type");
  const id = attr(el.attrs, "id");
  if (name === "iq" && (type === "get" || type === "set") && id !== null && from !== null) {
    const to = attr(el.attrs, "to") ?? ctx.componentDomain;
    const refusal: Refusal = { kind: "iq", type: "modify", condition: "policy-violation", text: reason, to: from, from: to, id };
    return invalid(refusal, `Cannot handle iq ${id}: ${reason}`);
  }
  if (name !== "message" || from === null || !sameDomain(from, ctx.host) || epoch === null || seq === null) {
    return invalid(null, `Ignoring a stanza from ${from ?? "(none)"}: ${reason}`);
  }
  return { kind: "refused-event", epoch, seq, reason: `Cannot read event seq ${seq}: ${reason}` };
}

function parseEvent(ev: Element, ctx: ParseCtx): Inbound {
  const epoch = attr(ev.attrs, "epoch");
  const seqText = attr(ev.attrs, "seq");
  const type = attr(ev.attrs, "type");
  const user = attr(ev.attrs, "user");
  const what = `event ${type ?? "(no type)"} seq ${seqText ?? "(none)"}`;
  if (epoch === null) return invalid(null, `Cannot read ${what}: no epoch`);
  if (seqText === null) return invalid(null, `Cannot read ${what}: no seq`);
  const seq = parseCount(seqText, 1);
  if (seq === null) return invalid(null, `Cannot read ${what}: seq is not a positive integer`);
  if (type === null) return invalid(null, `Cannot read ${what}: no type`);
  if (type === "publish-result") return parsePublishEvent(ev, epoch, seq, what, ctx.now);
  if (type === "offline-pending") return parseOfflinePending(ev, epoch, seq, what, ctx);
  if (user === null) return invalid(null, `Cannot read ${what}: no user`);
  if (localPartProblem(user) !== null) return invalid(null, `Cannot read ${what}: bad user`);
  const key = bareUser(user, ctx.host);
  if (type === "ping") return parsePingEvent(ev, epoch, seq, key, ctx.now);

  const copies: StanzaCopy[] = [];
  const contacts = contactsOf(ev.attrs); // E3.1
  for (const child of elementChildren(ev)) {
    const name = localName(String(child.name));
    const ns = attr(child.attrs, "xmlns");
    if ((name !== "message" && name !== "presence" && name !== "iq") || (ns !== null && ns !== NS_CLIENT)) {
      return invalid(null, `Cannot read ${what}: unexpected child <${name}> in ${ns ?? "(inherited namespace)"}`);
    }
    if (ns === null && child.attrs !== null && typeof child.attrs === "object") child.attrs.xmlns = NS_CLIENT;
    copies.push(withContact({ stanza: child, key: stanzaKey(child) }, contacts));
  }

  const now = ctx.now;
  const ok = (event: Event): Inbound => ({ kind: "event", epoch, seq, event });

  const one = (): StanzaCopy | string => {
    const copy = copies[0];
    if (copy === undefined || copies.length > 1) return `Cannot read ${what}: expected one stanza`;
    return copy;
  };
  const oneMessage = (): StanzaCopy | string => {
    const copy = one();
    if (typeof copy !== "string" && localName(copy.stanza.name) !== "message") {
      return `Cannot read ${what}: stanza is not a message`;
    }
    return copy;
  };
  const session = (): string => attr(ev.attrs, "session") ?? "";
  const noSession = `Cannot read ${what}: no session`;

  switch (type) {
    case "offline":
    case "groupchat-bare": {
      const copy = oneMessage();
      return typeof copy === "string" ? invalid(null, copy) : ok({ type, now, user: key, copy });
    }
    case "archived": {
      const copy = oneMessage();
      if (typeof copy === "string") return invalid(null, copy);
      return ok({ type, now, user: key, copy, archiveId: attr(ev.attrs, "archive-id") });
    }
    case "user-deleted":
    case "user-disabled":
    case "user-enabled":
      return ok({ type, now, user: key });
    case "session-started": {
      const sessionId = session();
      if (sessionId === "") return invalid(null, noSession);
      const full = attr(ev.attrs, "full");
      if (full === null) return invalid(null, `Cannot read ${what}: no full`);
      const problem = checkFullJid(full, user, ctx.host);
      if (problem !== null) return invalid(null, `Cannot read ${what}: ${problem}`);
      return ok({ type, now, session: { user: key, sessionId, fullJid: full, clientId: attr(ev.attrs, "client-id") } });
    }
    case "session-ended":
    case "hibernation-ended": {
      const sessionId = session();
      return sessionId === "" ? invalid(null, noSession) : ok({ type, now, user: key, sessionId });
    }
    case "hibernation-started":
    case "ack-delayed": {
      const sessionId = session();
      return sessionId === "" ? invalid(null, noSession) : ok({ type, now, user: key, sessionId, queue: copies });
    }
    case "stanza-queued": {
      const sessionId = session();
      if (sessionId === "") return invalid(null, noSession);
      const copy = one();
      return typeof copy === "string" ? invalid(null, copy) : ok({ type, now, user: key, sessionId, copy });
    }
    default:
      return invalid(null, `Cannot read ${what}: unknown event type`);
  }
}

/**
 * `cloud-notify-ping` fired by another Prosody module (bridge-protocol.md §2): to all the user's
 * registrations (`all='true'`), or to the `<endpoint identifier jid node>` children, matched by
 * identifier (`jid<node`, mod_cloud_notify's key), else by jid and node.
 */
function parsePingEvent(ev: Element, epoch: string, seq: number, user: string, now: number): Inbound {
  if (attr(ev.attrs, "all") === "true") return { kind: "event", epoch, seq, event: { type: "ping", now, user, identifiers: null } };
  const identifiers: string[] = [];
  for (const child of elementChildren(ev)) {
    if (localName(String(child.name)) !== "endpoint" || identifiers.length >= 1000) continue;
    const identifier = attr(child.attrs, "identifier");
    const jid = attr(child.attrs, "jid");
    if (identifier !== null) identifiers.push(identifier);
    else if (jid !== null) identifiers.push(`${jid}<${attr(child.attrs, "node") ?? ""}`);
  }
  return { kind: "event", epoch, seq, event: { type: "ping", now, user, identifiers } };
}

/**
 * The outcome of a publish the bridge forwarded (bridge-protocol.md §4): the app service's reply
 * as a `jabber:client` iq whose id is the publish id, or `timeout='true'` without a child.
 */
function parsePublishEvent(ev: Element, epoch: string, seq: number, what: string, now: number): Inbound {
  const publishId = attr(ev.attrs, "publish");
  if (publishId === null) return invalid(null, `Cannot read ${what}: no publish id`);
  const ok = (event: Event): Inbound => ({ kind: "event", epoch, seq, event });
  if (attr(ev.attrs, "timeout") === "true") return ok({ type: "publish-timeout", now, publishId });
  const children = elementChildren(ev);
  const iq = children[0];
  if (iq === undefined || children.length > 1 || localName(String(iq.name)) !== "iq") {
    return invalid(null, `Cannot read ${what}: expected one iq`);
  }
  const ns = attr(iq.attrs, "xmlns");
  if (ns !== null && ns !== NS_CLIENT) return invalid(null, `Cannot read ${what}: iq in ${ns}`);
  const type = attr(iq.attrs, "type");
  const from = attr(iq.attrs, "from");
  if (type !== "result" && type !== "error") return invalid(null, `Cannot read ${what}: iq type ${type ?? "(none)"}`);
  if (attr(iq.attrs, "id") !== publishId) return invalid(null, `Cannot read ${what}: iq id is not ${publishId}`);
  if (from === null) return invalid(null, `Cannot read ${what}: iq without from`);
  if (type === "result") return ok({ type: "publish-result", now, publishId, from });
  const error = readStanzaError(iq) ?? { type: "cancel", condition: "undefined-condition", text: null };
  return ok({ type: "publish-error", now, publishId, from, errorType: error.type, condition: error.condition, text: error.text });
}

/**
 * After an unclean Prosody stop, users with messages in offline storage (bridge-protocol.md §2):
 * `<pending user count latest>` children, each with a copy of the newest stored message.
 */
function parseOfflinePending(ev: Element, epoch: string, seq: number, what: string, ctx: ParseCtx): Inbound {
  const events: Event[] = [];
  for (const pending of elementChildren(ev)) {
    if (localName(String(pending.name)) !== "pending" || attr(pending.attrs, "xmlns") !== NS_BRIDGE) {
      return invalid(null, `Cannot read ${what}: unexpected child <${localName(String(pending.name))}>`);
    }
    const user = attr(pending.attrs, "user");
    if (user === null || localPartProblem(user) !== null) return invalid(null, `Cannot read ${what}: bad user`);
    const count = parseCount(attr(pending.attrs, "count") ?? "", 1);
    const latestAt = parseCount(attr(pending.attrs, "latest") ?? "", 0);
    if (count === null || latestAt === null) return invalid(null, `Cannot read ${what}: bad count or latest`);
    const stanzas = elementChildren(pending);
    const stanza = stanzas[0];
    let copy: StanzaCopy | null = null;
    if (stanza !== undefined) {
      const ns = attr(stanza.attrs, "xmlns");
      if (stanzas.length > 1 || localName(String(stanza.name)) !== "message" || (ns !== null && ns !== NS_CLIENT)) {
        return invalid(null, `Cannot read ${what}: expected at most one message per user`);
      }
      if (ns === null && stanza.attrs !== null && typeof stanza.attrs === "object") stanza.attrs.xmlns = NS_CLIENT;
      copy = { stanza, key: stanzaKey(stanza) };
    }
    events.push({ type: "offline-pending", now: ctx.now, user: bareUser(user, ctx.host), count, latestAt, lastPushAt: null, copy });
  }
  return { kind: "event-batch", epoch, seq, events };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function invalid(refusal: Refusal | null, reason: string): Invalid {
  return { kind: "invalid", refusal, reason };
}

/** A non-empty string attribute, else null. */
function attr(attrs: Record<string, unknown> | undefined | null, name: string): string | null {
  const value = attrs?.[name];
  return typeof value === "string" && value.length > 0 ? value : null;
}

function elementChildren(el: Element): Element[] {
  const out: Element[] = [];
  const children: unknown = el.children;
  if (!Array.isArray(children)) return out;
  for (const child of children) {
    if (child !== null && typeof child === "object" && typeof (child as Element).name === "string") {
      out.push(child as Element);
    }
  }
  return out;
}

function sameDomain(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Decimal integer ≥ min within the safe range, else null. */
function parseCount(text: string, min: number): number | null {
  if (!/^[0-9]{1,15}$/.test(text)) return null;
  const n = Number(text);
  return n >= min ? n : null;
}

/**
 * A client request's id for the core, which carries the way back: `<bridge iq id>@<host>` (the
 * bridge's ids never contain '@'). requestRoute() splits it when the reply is rendered.
 */
export function requestIdOf(bridgeIqId: string, host: string): string {
  return `${bridgeIqId}@${host.toLowerCase()}`;
}

/** The bridge IQ id and the host of a request id made by requestIdOf(). */
export function requestRoute(requestId: string): { iqId: string; host: string | null } {
  const at = requestId.lastIndexOf("@");
  return at === -1 ? { iqId: requestId, host: null } : { iqId: requestId.slice(0, at), host: requestId.slice(at + 1) };
}

/**
 * The daemon's key for a user (issue 13): the bare JID `local@host`, host lower-cased, the local
 * part as the bridge sends it (Prosody nodepreps it). The core and the store use it as is.
 */
export function bareUser(local: string, host: string): string {
  return `${local}@${host.toLowerCase()}`;
}

/** Null when `full` is a valid full JID of `user` on `host`, else the problem. */
function checkFullJid(full: string, user: string, host: string): string | null {
  const jid = parseJid(full);
  if (jid === null || jid.resource === null) return `full='${full}' is not a full JID`;
  if (jid.local === null || jid.local.toLowerCase() !== user.toLowerCase() || !sameDomain(jid.domain, host)) {
    return `full='${full}' does not belong to ${user}@${host}`;
  }
  return null;
}
