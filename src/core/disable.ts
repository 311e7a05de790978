/**
 * Validation and matching of `<disable xmlns='urn:xmpp:push:0'/>` (B13, B14).
 * @module
 */
import type { Identifier, XmlNode } from "./types.ts";
import type { RegEntry } from "./state.ts";
import type { Validated } from "./enable.ts";
import { identifierOf } from "./enable.ts";

export interface DisableRequest {
  jid: string;
  /** undefined = no node attribute: every registration with this jid (B14). */
  node: string | undefined;
}

/** B13: `jid` is required; nothing else is checked (a jid that matches nothing is fine, B16). */
export function validateDisable(element: XmlNode): Validated<DisableRequest> {
  const jid = element.attrs.jid;
  if (jid === undefined) return { ok: false, error: { type: "modify", condition: "bad-request", text: "Missing jid" } };
  return { ok: true, value: { jid, node: element.attrs.node } };
}

/** B14: the identifiers a disable removes. */
export function matchDisable(regs: ReadonlyMap<Identifier, RegEntry>, request: DisableRequest): Identifier[] {
  if (request.node !== undefined) {
    const identifier = identifierOf(request.jid, request.node === "" ? null : request.node);
    return regs.has(identifier) ? [identifier] : [];
  }
  const matched: Identifier[] = [];
  for (const [identifier, entry] of regs) if (entry.reg.jid === request.jid) matched.push(identifier);
  return matched;
}
