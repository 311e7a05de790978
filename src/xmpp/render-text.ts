/**
 * The hot path's renderer: the publish-as-host command (D15) written straight to text, with the
 * same content as the tree form in test/helpers/publish-as-host-tree.ts (a test holds them equal). Building and
 * serialising an ltx tree for every push cost ~8 % of the daemon's CPU under load
 * (docs/performance.md). Escaping is xml-escape.ts's (one regex test per value when nothing needs
 * escaping). The stored publish-options form is parsed once and written re-serialised by the
 * same rules, from a bounded cache (a malformed one is left out, as the tree renderer does, so a
 * bad row can never break the stream; a row stored with raw TAB/CR comes out escaped).
 * @module
 */
import type { Publish } from "../core/types.ts";
import { NS_BRIDGE, NS_CLIENT, NS_DATA, NS_PUBSUB, NS_PUSH, PUSH_SUMMARY_FORM_TYPE } from "./ns.ts";
import { ackElement, type BridgeCtx, parseStoredForm } from "./render.ts";
import { escapeAttr as attrValue, escapeText, xmlOf } from "./xml-escape.ts";

const FORM_HEAD = `<x xmlns="${NS_DATA}" type="form"><field type="hidden" var="FORM_TYPE"><value>${PUSH_SUMMARY_FORM_TYPE}</value></field>`;

/** Stored forms already parsed, as written (null: malformed, left out); bounded (a registration's form rarely changes). */
const storedForms = new Map<string, string | null>();
const MAX_CACHED = 4096;

function formText(stored: string): string | null {
  let text = storedForms.get(stored);
  if (text === undefined) {
    const el = parseStoredForm(stored);
    text = el === null ? null : xmlOf(el);
    if (storedForms.size >= MAX_CACHED) storedForms.clear();
    storedForms.set(stored, text);
  }
  return text;
}

function field(type: string, name: string, value: string | null): string {
  if (value === null) return `<field type="${type}" var="${name}"/>`;
  if (value === "") return `<field type="${type}" var="${name}"><value/></field>`;
  return `<field type="${type}" var="${name}"><value>${escapeText(value)}</value></field>`;
}

/** render.ts's `<ack/>` as text, carried first in a command message (docs/bridge-protocol.md §2, D23). */
export function ackText(epoch: string, seq: number): string {
  return xmlOf(ackElement(epoch, seq));
}

/** `ctx.ack`: an ackText to carry before the command ("" or absent: none). */
export function publishAsHostText(p: Publish, ctx: BridgeCtx & { commandId: string; ack?: string }): string {
  const s = p.summary;
  const node = p.node === null ? "" : ` node="${attrValue(p.node)}"`;
  const form = p.publishOptions === null ? null : formText(p.publishOptions);
  const options = form === null ? "" : `<publish-options>${form}</publish-options>`;
  return (
    `<message from="${attrValue(ctx.componentDomain)}" to="${attrValue(ctx.host)}" id="${attrValue(ctx.commandId)}">` +
    (ctx.ack ?? "") +
    `<publish-as-host xmlns="${NS_BRIDGE}">` +
    `<iq xmlns="${NS_CLIENT}" type="set" from="${attrValue(ctx.host)}" to="${attrValue(p.to)}" id="${attrValue(p.id)}">` +
    `<pubsub xmlns="${NS_PUBSUB}"><publish${node}><item><notification xmlns="${NS_PUSH}">` +
    (p.omitSummary === true
      ? "" // E1: an encrypted publish has no summary form
      : FORM_HEAD +
        field("text-single", "message-count", s.messageCount) +
        field("text-single", "pending-subscription-count", s.pendingSubscriptionCount) +
        field("jid-single", "last-message-sender", s.lastMessageSender) +
        field("text-single", "last-message-body", s.lastMessageBody) +
        "</x>") +
    `${p.payload.map(xmlOf).join("")}</notification></item></publish>${options}</pubsub></iq>` +
    `</publish-as-host></message>`
  );
}
