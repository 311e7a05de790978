/**
 * Stanzas from the component stream → plain data for the core and the shell (no I/O, never throws).
 * Bridge wire protocol: docs/bridge-protocol.md. Publish replies: behaviour.md §2.7, D15.
 *
 * Classification of one top-level stanza:
 * - `<message>` from the host with `<event xmlns=bridge>` → `event` (a core Event, with epoch/seq).
 * - `<iq type=set>` from the host with `<request xmlns=bridge>` → `request` (core enable/disable).
 * - `<iq type=result>` from the host: `<hello>` → `hello-result`; `<publish-result>` →
 *   `publish-reply` / `publish-timeout`; anything else → `iq-result` (matched by id by the shell).
 * - `<iq type=error>` from the host → `iq-error` (exact type, condition, text).
 * - `<iq type=result|error>` from anyone else → `publish-reply` for a publish the component sent
 *   itself (D15 option): `publishId` is the IQ id, which is the publish id.
 * - `<iq type=get>` disco#info to the component's own domain → `disco-info` (a ready reply:
 *   identity component/generic, feature disco#info).
 * - everything else → `invalid` with a reason and, for IQ get/set, an error reply:
 *   `cancel/forbidden` (bridge namespace, wrong sender), `modify/bad-request` (malformed),
 *   `cancel/feature-not-implemented` (unknown bridge command), `cancel/service-unavailable`
 *   (not ours), `cancel/item-not-found` (disco#info with a node). A malformed *client* IQ inside a
 *   well-formed `<request>` gets a `modify/bad-request` wrapped in `<response>` so the client
 *   gets a proper answer (render.renderResponse).
 *
 * Stanza copies get `xmlns='jabber:client'` set on their root when it is missing (the core reads
 * namespaces from `xmlns` attributes), and `key = stanzaKey(stanza)` (D8).
 * @module
 */
import type { Element } from "ltx";

import { parseJid } from "../core/jid.ts";
import type { Event, SessionRef, StanzaCopy } from "../core/types.ts";
import { localName, readStanzaError } from "./errors.ts";
import { BRIDGE_VERSION, NS_BRIDGE, NS_CLIENT, NS_COMPONENT, NS_DISCO_INFO, NS_PUSH } from "./ns.ts";
import { renderDiscoInfo, renderIqError, renderResponse } from "./render.ts";
import { stanzaKey } from "./stanza-key.ts";

export type HelloSession = SessionRef & { bound: string | null; hibernating: boolean };

export type Inbound =
  | { kind: "event"; epoch: string; seq: number; event: Event }
  | { kind: "request"; bridgeIqId: string; event: Event }
  | {
      kind: "hello-result";
      iqId: string;
      version: string;
      server: string | null;
      epoch: string;
      dropped: number;
      sessions: HelloSession[];
      /** Publish ids the bridge forwarded and will report an outcome for (bridge-protocol.md §1). */
      known: string[];
    }
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
  | { kind: "publish-timeout"; iqId: string }
  | { kind: "disco-info"; reply: Element }
  | { kind: "invalid"; reply: Element | null; reason: string };

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
    return { kind: "invalid", reply: null, reason: `Cannot parse stanza: ${detail}` };
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
    invalid(renderIqError(from, to, id, errorType, condition, reason), reason);

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
  if (payload !== null && attr(payload.attrs, "xmlns") === NS_BRIDGE) {
    const name = localName(String(payload.name));
    if (name === "hello") return parseHelloResult(payload, id, ctx);
    if (name === "publish-result") return parsePublishResult(payload, id);
  }
  return { kind: "iq-result", iqId: id, payload };
}

function parsePublishResult(result: Element, iqId: string): Inbound {
  if (attr(result.attrs, "timeout") === "true") return { kind: "publish-timeout", iqId };
  const inner = elementChildren(result).find((c) => localName(String(c.name)) === "iq");
  if (inner === undefined) return invalid(null, `Cannot read publish-result ${iqId}: no inner iq`);
  const ns = attr(inner.attrs, "xmlns");
  if (ns !== null && ns !== NS_CLIENT) return invalid(null, `Cannot read publish-result ${iqId}: inner iq in ${ns}`);
  const type = attr(inner.attrs, "type");
  const publishId = attr(inner.attrs, "id");
  const from = attr(inner.attrs, "from");
  if (type !== "result" && type !== "error") {
    return invalid(null, `Cannot read publish-result ${iqId}: inner iq type ${type ?? "(none)"}`);
  }
  if (publishId === null) return invalid(null, `Cannot read publish-result ${iqId}: inner iq without id`);
  if (from === null) return invalid(null, `Cannot read publish-result ${iqId}: inner iq without from`);
  return publishReply(inner, type, iqId, publishId, from);
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
    return { kind: "hello-result", iqId, version, server, epoch: epoch ?? "", dropped: 0, sessions: [], known: [] };
  }
  if (epoch === null) return invalid(null, `Cannot read hello result ${iqId}: no epoch`);
  const droppedText = attr(hello.attrs, "dropped") ?? "0";
  const dropped = parseCount(droppedText, 0);
  if (dropped === null) return invalid(null, `Cannot read hello result ${iqId}: dropped='${droppedText}'`);
  const sessions: HelloSession[] = [];
  const known: string[] = [];
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
    const hibernating = attr(child.attrs, "hibernating");
    sessions.push({
      user,
      sessionId,
      fullJid: full,
      clientId: attr(child.attrs, "client-id"),
      bound: attr(child.attrs, "bound"),
      hibernating: hibernating === "true" || hibernating === "1",
    });
  }
  return { kind: "hello-result", iqId, version, server, epoch, dropped, sessions, known };
}

function parseRequest(iq: Element, request: Element, bridgeIqId: string, to: string, ctx: ParseCtx): Inbound {
  const from = attr(iq.attrs, "from") ?? ctx.host;
  const badRequest = (reason: string): Invalid =>
    invalid(renderIqError(from, to, bridgeIqId, "modify", "bad-request", reason), reason);
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
      renderResponse(
        { type: "reply", requestId: bridgeIqId, error: { type: "modify", condition: "bad-request", text: reason } },
        ctx,
      ),
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
    req: { requestId: bridgeIqId, session: { user, sessionId, fullJid: full, clientId }, lang },
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
  const event = elementChildren(message).find(
    (c) => localName(String(c.name)) === "event" && attr(c.attrs, "xmlns") === NS_BRIDGE,
  );
  if (event === undefined) return invalid(null, `Ignoring message from ${from ?? "(none)"}: no bridge event`);
  if (from === null || !sameDomain(from, ctx.host)) {
    return invalid(null, `Ignoring bridge event from ${from ?? "(none)"}: not ${ctx.host}`);
  }
  return parseEvent(event, ctx);
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
  if (user === null) return invalid(null, `Cannot read ${what}: no user`);
  if (parseJid(`${user}@${ctx.host}`)?.local !== user) return invalid(null, `Cannot read ${what}: bad user`);

  const copies: StanzaCopy[] = [];
  for (const child of elementChildren(ev)) {
    const name = localName(String(child.name));
    const ns = attr(child.attrs, "xmlns");
    if ((name !== "message" && name !== "presence" && name !== "iq") || (ns !== null && ns !== NS_CLIENT)) {
      return invalid(null, `Cannot read ${what}: unexpected child <${name}> in ${ns ?? "(inherited namespace)"}`);
    }
    if (ns === null && child.attrs !== null && typeof child.attrs === "object") child.attrs.xmlns = NS_CLIENT;
    copies.push({ stanza: child, key: stanzaKey(child) });
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
      return typeof copy === "string" ? invalid(null, copy) : ok({ type, now, user, copy });
    }
    case "archived": {
      const copy = oneMessage();
      if (typeof copy === "string") return invalid(null, copy);
      return ok({ type, now, user, copy, archiveId: attr(ev.attrs, "archive-id") });
    }
    case "user-deleted":
      return ok({ type, now, user });
    case "session-started": {
      const sessionId = session();
      if (sessionId === "") return invalid(null, noSession);
      const full = attr(ev.attrs, "full");
      if (full === null) return invalid(null, `Cannot read ${what}: no full`);
      const problem = checkFullJid(full, user, ctx.host);
      if (problem !== null) return invalid(null, `Cannot read ${what}: ${problem}`);
      return ok({ type, now, session: { user, sessionId, fullJid: full, clientId: attr(ev.attrs, "client-id") } });
    }
    case "session-ended":
    case "hibernation-ended": {
      const sessionId = session();
      return sessionId === "" ? invalid(null, noSession) : ok({ type, now, user, sessionId });
    }
    case "hibernation-started":
    case "ack-delayed": {
      const sessionId = session();
      return sessionId === "" ? invalid(null, noSession) : ok({ type, now, user, sessionId, queue: copies });
    }
    case "stanza-queued": {
      const sessionId = session();
      if (sessionId === "") return invalid(null, noSession);
      const copy = one();
      return typeof copy === "string" ? invalid(null, copy) : ok({ type, now, user, sessionId, copy });
    }
    default:
      return invalid(null, `Cannot read ${what}: unknown event type`);
  }
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

// ---------------------------------------------------------------------------------------------
// Helpers

function invalid(reply: Element | null, reason: string): Invalid {
  return { kind: "invalid", reply, reason };
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

/** Null when `full` is a valid full JID of `user` on `host`, else the problem. */
function checkFullJid(full: string, user: string, host: string): string | null {
  const jid = parseJid(full);
  if (jid === null || jid.resource === null) return `full='${full}' is not a full JID`;
  if (jid.local === null || jid.local.toLowerCase() !== user.toLowerCase() || !sameDomain(jid.domain, host)) {
    return `full='${full}' does not belong to ${user}@${host}`;
  }
  return null;
}
