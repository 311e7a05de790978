/**
 * Validation of `<enable xmlns='urn:xmpp:push:0'/>` (B3–B6 with D1, D2).
 * @module
 */
import type { CoreConfig, Identifier, XmlNode } from "./types.ts";
import { bareKey, parseJid } from "./jid.ts";
import { serialize, utf8Length } from "./xml.ts";

/** A stanza error for a reply. */
export interface StanzaError {
  type: string;
  condition: string;
  text?: string;
}

/** What a valid `<enable>` asks for. */
export interface EnableRequest {
  jid: string;
  node: string | null;
  identifier: Identifier;
  /** Serialised first jabber:x:data child (B6), or null. */
  publishOptions: string | null;
  includePayload: boolean;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; error: StanzaError };

export const NS_DATA_FORMS = "jabber:x:data";

/** `${jid}<${node ?? ""}` (behaviour.md §1). */
export function identifierOf(jid: string, node: string | null): Identifier {
  return `${jid}<${node ?? ""}`;
}

function fail(type: string, condition: string, text?: string): { ok: false; error: StanzaError } {
  return { ok: false, error: text === undefined ? { type, condition } : { type, condition, text } };
}

/** B6: the first `x` child in jabber:x:data, serialised. */
export function publishOptionsOf(element: XmlNode): string | null {
  for (const child of element.children) {
    if (typeof child !== "string" && child.name === "x" && child.attrs.xmlns === NS_DATA_FORMS) return serialize(child);
  }
  return null;
}

/** Validates an `<enable>` from `user`'s session `fullJid`. */
export function validateEnable(
  element: XmlNode,
  ctx: { user: string; fullJid: string; config: CoreConfig },
): Validated<EnableRequest> {
  const jid = element.attrs.jid;
  if (jid === undefined) return fail("modify", "bad-request", "Missing jid"); // B3
  const parsed = parseJid(jid);
  if (parsed === null) return fail("modify", "jid-malformed", "Invalid jid"); // D1
  const host = ctx.config.host.toLowerCase();
  const own = `${ctx.user}@${host}`.toLowerCase();
  const bare = bareKey(parsed);
  if (jid === ctx.fullJid || bare === own || bare === host) {
    return fail("modify", "bad-request", "JID must be different from ours"); // B4, D1
  }
  const rawNode = element.attrs.node;
  const node = rawNode === undefined || rawNode === "" ? null : rawNode; // B5
  if (node !== null && node.length > ctx.config.maxNodeLength) {
    return fail("modify", "not-acceptable", `Node longer than ${ctx.config.maxNodeLength} characters`); // D2
  }
  const publishOptions = publishOptionsOf(element);
  if (publishOptions !== null && utf8Length(publishOptions) > ctx.config.maxPublishOptionsBytes) {
    return fail("modify", "not-acceptable", `Publish options larger than ${ctx.config.maxPublishOptionsBytes} bytes`); // D2
  }
  const flag = element.attrs.include_payload ?? element.attrs["include-payload"];
  return {
    ok: true,
    value: {
      jid,
      node,
      identifier: identifierOf(jid, node),
      publishOptions,
      includePayload: flag === "true" || flag === "1",
    },
  };
}
