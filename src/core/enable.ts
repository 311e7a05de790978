/**
 * Validation of `<enable xmlns='urn:xmpp:push:0'/>` (B3–B6 with D1, D2; E1 `<encrypt>`, E3 filters).
 * @module
 */
import { hostOf, localOf } from "./host-config.ts";
import type { CoreConfig, Identifier, PushEncryption, PushFilters, XmlNode } from "./types.ts";
import { parseEncrypt } from "./extensions/encrypt.ts";
import { parseFilters } from "./extensions/filters.ts";
import { nodeTooLong, publishOptionsTooLarge, pushJidProblem } from "./push-target.ts";
import { serialize } from "./xml.ts";

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
  /** E1: the `<encrypt>` key, when push_encryption is on and the client sent one. */
  encryption: PushEncryption | null;
  /** E3: the filters, when push_filters is on and the client sent any. */
  filters: PushFilters | null;
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
export function validateEnable(element: XmlNode, ctx: { user: string; fullJid: string; config: CoreConfig }): Validated<EnableRequest> {
  const jid = element.attrs.jid;
  if (jid === undefined) return fail("modify", "bad-request", "Missing jid"); // B3
  const problem = pushJidProblem(jid, { user: localOf(ctx.user), host: hostOf(ctx.user) || ctx.config.host, fullJid: ctx.fullJid });
  if (problem === "malformed") return fail("modify", "jid-malformed", "Invalid jid"); // D1
  if (problem === "own") return fail("modify", "bad-request", "JID must be different from ours"); // B4, D1
  const rawNode = element.attrs.node;
  const node = rawNode === undefined || rawNode === "" ? null : rawNode; // B5
  if (node !== null && nodeTooLong(node, ctx.config)) {
    return fail("modify", "not-acceptable", `Node longer than ${ctx.config.maxNodeLength} characters`); // D2
  }
  const publishOptions = publishOptionsOf(element);
  if (publishOptions !== null && publishOptionsTooLarge(publishOptions, ctx.config)) {
    return fail("modify", "not-acceptable", `Publish options larger than ${ctx.config.maxPublishOptionsBytes} bytes`); // D2
  }
  const encryption = ctx.config.pushEncryption === true ? parseEncrypt(element) : { ok: true as const, value: null };
  if (!encryption.ok) return { ok: false, error: encryption.error }; // E1: registration not stored
  const filters = ctx.config.pushFilters === true ? parseFilters(element) : { ok: true as const, value: null };
  if (!filters.ok) return { ok: false, error: filters.error };
  const flag = element.attrs.include_payload ?? element.attrs["include-payload"];
  return {
    ok: true,
    value: {
      jid,
      node,
      identifier: identifierOf(jid, node),
      publishOptions,
      includePayload: flag === "true" || flag === "1",
      encryption: encryption.value,
      filters: filters.value,
    },
  };
}
