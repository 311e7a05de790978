/**
 * The hot path's renderer: the publish-as-host command (D15) written straight to text, with the
 * same content as `renderPublishAsHost(...).toString()` (a test holds them equal). Building and
 * serialising an ltx tree for every push cost ~8 % of the daemon's CPU under load
 * (docs/performance.md). The stored publish-options form is inserted as stored, once it has been
 * seen to parse (a malformed one is left out, as the tree renderer does, so a bad row can never
 * break the stream).
 * @module
 */
import { escapeXML, escapeXMLText } from "ltx";

import type { Publish, XmlNode } from "../core/types.ts";
import { NS_BRIDGE, NS_CLIENT, NS_DATA, NS_PUBSUB, NS_PUSH, PUSH_SUMMARY_FORM_TYPE } from "./ns.ts";
import { type BridgeCtx, parseStoredForm } from "./render.ts";

const ATTR_SPECIAL = /["&'<>]/;
const TEXT_SPECIAL = /[&<>]/;

/** escapeXML, skipped for the common value with nothing to escape (a regex replace per value showed in profiles). */
function attrValue(value: string): string {
  return ATTR_SPECIAL.test(value) ? escapeXML(value) : value;
}

const FORM_HEAD = `<x xmlns="${NS_DATA}" type="form"><field type="hidden" var="FORM_TYPE"><value>${PUSH_SUMMARY_FORM_TYPE}</value></field>`;

/** Stored forms already checked; bounded (a registration's form rarely changes). */
const checkedForms = new Map<string, boolean>();
const MAX_CHECKED = 4096;

function formIsWellFormed(text: string): boolean {
  let ok = checkedForms.get(text);
  if (ok === undefined) {
    ok = parseStoredForm(text) !== null;
    if (checkedForms.size >= MAX_CHECKED) checkedForms.clear();
    checkedForms.set(text, ok);
  }
  return ok;
}

function field(type: string, name: string, value: string | null): string {
  if (value === null) return `<field type="${type}" var="${name}"/>`;
  if (value === "") return `<field type="${type}" var="${name}"><value/></field>`;
  return `<field type="${type}" var="${name}"><value>${TEXT_SPECIAL.test(value) ? escapeXMLText(value) : value}</value></field>`;
}

function nodeText(node: XmlNode): string {
  let attrs = "";
  for (const [k, v] of Object.entries(node.attrs)) if (v !== undefined) attrs += ` ${k}="${escapeXML(v)}"`;
  if (node.children.length === 0) return `<${node.name}${attrs}/>`;
  const inner = node.children.map((c) => (typeof c === "string" ? escapeXMLText(c) : nodeText(c))).join("");
  return `<${node.name}${attrs}>${inner}</${node.name}>`;
}

export function publishAsHostText(p: Publish, ctx: BridgeCtx & { commandId: string }): string {
  const s = p.summary;
  const node = p.node === null ? "" : ` node="${attrValue(p.node)}"`;
  const options = p.publishOptions !== null && formIsWellFormed(p.publishOptions) ? `<publish-options>${p.publishOptions}</publish-options>` : "";
  return (
    `<message from="${attrValue(ctx.componentDomain)}" to="${attrValue(ctx.host)}" id="${attrValue(ctx.commandId)}">` +
    `<publish-as-host xmlns="${NS_BRIDGE}">` +
    `<iq xmlns="${NS_CLIENT}" type="set" from="${attrValue(ctx.host)}" to="${attrValue(p.to)}" id="${attrValue(p.id)}">` +
    `<pubsub xmlns="${NS_PUBSUB}"><publish${node}><item><notification xmlns="${NS_PUSH}">` +
    FORM_HEAD +
    field("text-single", "message-count", s.messageCount) +
    field("text-single", "pending-subscription-count", s.pendingSubscriptionCount) +
    field("jid-single", "last-message-sender", s.lastMessageSender) +
    field("text-single", "last-message-body", s.lastMessageBody) +
    `</x>${p.payload.map(nodeText).join("")}</notification></item></publish>${options}</pubsub></iq>` +
    `</publish-as-host></message>`
  );
}
