/**
 * The one place where a refusal from the parser (parse-bridge.ts) becomes the error reply the
 * daemon sends: parsing says what is wrong and whom to tell; this decides what the answer is.
 * @module
 */
import type { Element } from "ltx";

import { renderIqError, renderResponse } from "./render.ts";

/** Why a stanza is refused and how to address the answer. */
export interface Refusal {
  /**
   * `iq`: an IQ error back to the sender (`to`), from the address it was sent to (`from`).
   * `client`: the bridge stanza was fine but the client's IQ inside it was not: the client's error,
   * wrapped in the bridge's `<response>` to bridge request `id` (render.renderResponse).
   */
  kind: "iq" | "client";
  type: string;
  condition: string;
  text: string;
  to: string;
  from: string;
  id: string;
}

/** The most of a reason that goes into an error reply's text (it may quote what a peer sent). */
export const REFUSAL_TEXT_MAX = 200;

/** The error reply for a refusal. */
export function refusalReply(refusal: Refusal): Element {
  const text = cut(refusal.text);
  if (refusal.kind === "client") {
    return renderResponse(
      { type: "reply", requestId: refusal.id, error: { type: refusal.type, condition: refusal.condition, text } },
      { host: refusal.to, componentDomain: refusal.from },
    );
  }
  return renderIqError(refusal.to, refusal.from, refusal.id, refusal.type, refusal.condition, text);
}

function cut(reason: string): string {
  return reason.length <= REFUSAL_TEXT_MAX ? reason : `${reason.slice(0, REFUSAL_TEXT_MAX)}…`;
}
