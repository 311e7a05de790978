/**
 * The summary form of a push (B25, B27, D9, D10, D17). Privacy first: no sender and no body
 * unless configured.
 * @module
 */
import type { CoreConfig, Summary, XmlNode } from "./types.ts";
import { childText } from "./xml.ts";

export interface SummaryInput {
  /** The stanza that caused the push; null for a ping (B39). */
  stanza: XmlNode | null;
  /** Its importance class (B18–B23, D7). */
  important: boolean;
  /** D9: push-worthy stanzas since a bound device was last connected. */
  messageCount: number;
}

/** A summary and the push's "important" flag (B27: important iff the body field has a value). */
export interface BuiltSummary {
  summary: Summary;
  important: boolean;
}

/** Builds the summary of B25/B27 with D9 (real count), D10 (empty placeholder disables it). */
export function buildSummary(config: CoreConfig, input: SummaryInput): BuiltSummary {
  const { stanza } = input;
  const sender = config.pushNotificationWithSender && stanza !== null ? (stanza.attrs.from ?? null) : null;
  let body: string | null = null;
  if (config.pushNotificationWithBody) {
    // B25: the outer stanza's own <body>; importance is then not consulted.
    body = stanza === null ? null : childText(stanza, "body");
  } else if (input.important && config.pushNotificationImportantBody !== "") {
    body = config.pushNotificationImportantBody; // D10: "" disables the placeholder
  }
  const summary: Summary = {
    messageCount: String(input.messageCount),
    pendingSubscriptionCount: null,
    lastMessageSender: sender,
    lastMessageBody: body,
  };
  return { summary, important: body !== null };
}
