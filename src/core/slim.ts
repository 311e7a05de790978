/**
 * What a queued stanza keeps while it waits for its batch (B30): its identity, its importance,
 * and what a summary reads (the root's attributes and the outer body, B25). A session queue's
 * memory is then bounded by its length, not by the size of the stanzas the server queued.
 * @module
 */
import type { StanzaCopy, XmlNode } from "./types.ts";
import { isImportant } from "./importance.ts";
import { childText } from "./xml.ts";

/** Longest body kept for push_notification_with_body (app services cap payloads far below). */
export const MAX_QUEUED_BODY = 4096;

/** `keepBody`: push_notification_with_body is on, so the summary will read the body (B25). */
export function slimCopy(copy: StanzaCopy, keepBody: boolean): StanzaCopy {
  const { stanza } = copy;
  const body = keepBody ? childText(stanza, "body") : null;
  // Copied character by character: a slice would keep the whole original text alive.
  const kept = body === null ? null : [...body.slice(0, MAX_QUEUED_BODY)].join("");
  const children: XmlNode[] = kept === null ? [] : [{ name: "body", attrs: {}, children: [kept] }];
  return {
    key: copy.key,
    important: copy.important ?? isImportant(stanza),
    stanza: { name: stanza.name, attrs: { ...stanza.attrs }, children },
  };
}
