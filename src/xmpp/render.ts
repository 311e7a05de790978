/**
 * Core actions → stanzas (plain data in, ltx `Element` out; no I/O).
 * Wire shapes: behaviour.md §2.5 (B26) for publishes, docs/bridge-protocol.md for bridge stanzas.
 * Every returned root is a `SafeElement`: its `toString()` escapes for XML 1.0 completely
 * (TAB/LF/CR in attributes, CR in text, characters XML cannot carry → U+FFFD; xml-escape.ts),
 * which ltx's own serialiser does not.
 * @module
 */
import { Element, parse } from "ltx";

import type { Action, Publish, Summary, XmlNode } from "../core/types.ts";
import { buildErrorElement } from "./errors.ts";
import { SafeElement } from "./xml-escape.ts";
import { BRIDGE_VERSION, NS_BRIDGE, NS_CLIENT, NS_DATA, NS_DISCO_INFO, NS_PUBSUB, NS_PUSH, PUSH_SUMMARY_FORM_TYPE } from "./ns.ts";

/** Where bridge stanzas go: the user host (bridge) and our component JID. */
export interface BridgeCtx {
  host: string;
  componentDomain: string;
}

type ReplyAction = Extract<Action, { type: "reply" }>;
type HibernationTimeoutAction = Extract<Action, { type: "hibernation-timeout" }>;

/** The four value fields of the summary form after FORM_TYPE, in B26 wire order. */
const SUMMARY_FIELDS: ReadonlyArray<{ type: string; var: string; pick: (s: Summary) => string | null }> = [
  { type: "text-single", var: "message-count", pick: (s) => s.messageCount },
  { type: "text-single", var: "pending-subscription-count", pick: (s) => s.pendingSubscriptionCount },
  { type: "jid-single", var: "last-message-sender", pick: (s) => s.lastMessageSender },
  { type: "text-single", var: "last-message-body", pick: (s) => s.lastMessageBody },
];

/**
 * B26: the publish IQ exactly as mod_cloud_notify sends it: `node` omitted when null, no item id,
 * the summary form with all five fields in order (null → empty field element; "" → `<value/>`),
 * and `<publish-options>` holding the stored form (B6) only when one is stored and parses.
 * A stored form that is not well-formed XML is left out (check it first with `parseStoredForm`).
 */
export function renderPublishIq(p: Publish, from: string): Element {
  const iq = new SafeElement("iq", { type: "set", from, to: p.to, id: p.id });
  iq.cnode(publishPayload(p));
  return iq;
}

function publishPayload(p: Publish): Element {
  const pubsub = new Element("pubsub", { xmlns: NS_PUBSUB });
  const publish = pubsub.c("publish", p.node === null ? {} : { node: p.node });
  const notification = publish.c("item").c("notification", { xmlns: NS_PUSH });
  if (p.omitSummary !== true) summaryForm(notification, p); // E1: an encrypted publish has none
  for (const extra of p.payload) notification.cnode(toElement(extra)); // D16 extensions
  if (p.publishOptions !== null) {
    const options = parseStoredForm(p.publishOptions);
    if (options !== null) pubsub.c("publish-options").cnode(options);
  }
  return pubsub;
}

function summaryForm(notification: Element, p: Publish): void {
  const form = notification.c("x", { xmlns: NS_DATA, type: "form" });
  form.c("field", { type: "hidden", var: "FORM_TYPE" }).c("value").t(PUSH_SUMMARY_FORM_TYPE);
  for (const field of SUMMARY_FIELDS) {
    const el = form.c("field", { type: field.type, var: field.var });
    const value = field.pick(p.summary);
    if (value !== null) {
      const v = el.c("value");
      if (value.length > 0) v.t(value);
    }
  }
}

/** Parses a stored publish-options form (serialised XML) back into an element; null if malformed. */
export function parseStoredForm(text: string): Element | null {
  try {
    const el = parse(text);
    return el instanceof Element ? el : null;
  } catch {
    return null;
  }
}

/**
 * The daemon's answer to a bridged client IQ (docs/bridge-protocol.md §3):
 * `<iq type='result' to=host id=requestId><response bound=…><iq xmlns='jabber:client' type=result|error>…`.
 * `bound` absent when the action has none; `null` → `bound=''` (unbound).
 */
export function renderResponse(reply: ReplyAction, ctx: BridgeCtx): Element {
  const iq = bridgeIq("result", ctx, reply.requestId);
  const attrs: Record<string, string> = { xmlns: NS_BRIDGE };
  if (reply.bound !== undefined) attrs.bound = reply.bound ?? "";
  const response = iq.c("response", attrs);
  if (reply.error === undefined) {
    response.c("iq", { xmlns: NS_CLIENT, type: "result" });
  } else {
    response
      .c("iq", { xmlns: NS_CLIENT, type: "error" })
      .cnode(buildErrorElement(reply.error.type, reply.error.condition, reply.error.text));
  }
  return iq;
}

/** Extend (`seconds`) or restore a session's hibernation timeout (docs/bridge-protocol.md §4). */
export function renderHibernationTimeout(a: HibernationTimeoutAction, ctx: BridgeCtx & { iqId: string }): Element {
  const iq = bridgeIq("set", ctx, ctx.iqId);
  const attrs: Record<string, string> = { xmlns: NS_BRIDGE, user: a.user, session: a.sessionId };
  if (a.mode === "extend") attrs.seconds = String(a.seconds);
  else attrs.restore = "true";
  iq.c("hibernation-timeout", attrs);
  return iq;
}

/** The handshake (docs/bridge-protocol.md §1), listing the account features to announce. */
export function renderHello(
  ctx: BridgeCtx & { iqId: string; features: readonly string[]; limits: { depth: number; bytes: number; copies: number } },
): Element {
  const iq = bridgeIq("get", ctx, ctx.iqId);
  const hello = iq.c("hello", { xmlns: NS_BRIDGE, version: BRIDGE_VERSION });
  for (const feature of ctx.features) hello.c("feature", { var: feature });
  // What the daemon's stream parser accepts for one event stanza: the bridge cuts copies to fit.
  const { depth, bytes, copies } = ctx.limits;
  hello.c("limits", { depth: String(depth), bytes: String(bytes), copies: String(copies) });
  return iq;
}

/** The `<ack/>` of every event up to `seq` in `epoch`: alone in its message (renderAck) or first in a publish-as-host's (D23). */
export function ackElement(epoch: string, seq: number): Element {
  return new SafeElement("ack", { xmlns: NS_BRIDGE, epoch, seq: String(seq) });
}

/** Acknowledges every event up to `seq` in `epoch` (docs/bridge-protocol.md §2). */
export function renderAck(ctx: BridgeCtx & { epoch: string; seq: number }): Element {
  const message = new SafeElement("message", { from: ctx.componentDomain, to: ctx.host });
  message.cnode(ackElement(ctx.epoch, ctx.seq));
  return message;
}

/** Tells the bridge of a host the daemon does not serve that it will get no hello (docs/bridge-protocol.md §1). */
export function renderHostRefused(ctx: BridgeCtx): Element {
  const message = new SafeElement("message", { from: ctx.componentDomain, to: ctx.host });
  message.c("refused", { xmlns: NS_BRIDGE, reason: "host not configured" });
  return message;
}

/** An IQ error reply. */
export function renderIqError(to: string, from: string, id: string, type: string, condition: string, text?: string | null): Element {
  const iq = new SafeElement("iq", { type: "error", from, to, id });
  iq.cnode(buildErrorElement(type, condition, text));
  return iq;
}

/** Identity and features the component itself answers to disco#info with. */
export const COMPONENT_IDENTITY = { category: "component", type: "generic", name: "cloud-notifyd" } as const;
export const COMPONENT_FEATURES: readonly string[] = [NS_DISCO_INFO];

/** The component's own disco#info result (XEP-0030). */
export function renderDiscoInfo(to: string, from: string, id: string): Element {
  const iq = new SafeElement("iq", { type: "result", from, to, id });
  const query = iq.c("query", { xmlns: NS_DISCO_INFO });
  query.c("identity", { ...COMPONENT_IDENTITY });
  for (const feature of COMPONENT_FEATURES) query.c("feature", { var: feature });
  return iq;
}

function bridgeIq(type: "get" | "set" | "result", ctx: BridgeCtx, id: string): Element {
  return new SafeElement("iq", { type, from: ctx.componentDomain, to: ctx.host, id });
}

/** A core XmlNode (plain data) as an ltx Element. */
function toElement(node: XmlNode): Element {
  const el = new Element(node.name, { ...node.attrs });
  for (const child of node.children) {
    if (typeof child === "string") el.t(child);
    else el.cnode(toElement(child));
  }
  return el;
}
