/**
 * The D15 publish-as-host command built as an ltx tree: the reference the daemon's text renderer
 * (src/xmpp/render-text.ts `publishAsHostText`) is held equal to. Only tests need the tree form;
 * its payload is the daemon's own (`renderPublishIq`).
 * @module
 */
import { Element } from "ltx";

import type { Publish } from "../../src/core/types.ts";
import { NS_BRIDGE, NS_CLIENT } from "../../src/xmpp/ns.ts";
import { type BridgeCtx, renderPublishIq } from "../../src/xmpp/render.ts";
import { SafeElement } from "../../src/xmpp/xml-escape.ts";

/** `<message><publish-as-host xmlns=bridge><iq xmlns='jabber:client' type='set'>pubsub…</iq>` (docs/bridge-protocol.md §4). */
export function renderPublishAsHost(p: Publish, ctx: BridgeCtx & { commandId: string }): Element {
  const inner = new Element("iq", { xmlns: NS_CLIENT, type: "set", from: ctx.host, to: p.to, id: p.id });
  for (const child of renderPublishIq(p, ctx.host).children) inner.cnode(child as Element);
  const message = new SafeElement("message", { from: ctx.componentDomain, to: ctx.host, id: ctx.commandId });
  message.c("publish-as-host", { xmlns: NS_BRIDGE }).cnode(inner);
  return message;
}
