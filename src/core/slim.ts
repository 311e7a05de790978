/**
 * What a queued stanza keeps while it waits for its batch (B30): its identity, its importance,
 * and what a summary reads (the root's attributes and the outer body, B25). A session queue's
 * memory is then bounded by its length, not by the size of the stanzas the server queued.
 * @module
 */
import type { CoreConfig, StanzaCopy, XmlNode } from "./types.ts";
import type { PushExtension } from "./pipeline.ts";
import { isImportant } from "./importance.ts";
import { childText } from "./xml.ts";

/** Longest body kept for push_notification_with_body or E1's preview (app services cap payloads far below). */
export const MAX_QUEUED_BODY = 4096;

/** A queued body's text: cut to MAX_QUEUED_BODY and copied character by character (a slice would keep the whole original text alive). */
export function keptText(body: string): string {
  return [...body.slice(0, MAX_QUEUED_BODY)].join("");
}

/**
 * `keepBody`: push_notification_with_body is on, so the summary will read the body (B25).
 * `extensions` (D16) keep what they read later (`keep`), e.g. E1's preview and call ids, E3's mentions.
 */
export function slimCopy(copy: StanzaCopy, keepBody: boolean, extensions: readonly PushExtension[] = [], config?: CoreConfig): StanzaCopy {
  const { stanza } = copy;
  const body = keepBody ? childText(stanza, "body") : null;
  const kept = body === null ? null : keptText(body);
  const children: XmlNode[] = kept === null ? [] : [{ name: "body", attrs: {}, children: [kept] }];
  if (config !== undefined) keepForExtensions(stanza, extensions, config, children);
  const slim: StanzaCopy = {
    key: copy.key,
    important: copy.important ?? isImportant(stanza),
    stanza: { name: stanza.name, attrs: { ...stanza.attrs }, children },
  };
  if (copy.contact !== undefined) slim.contact = copy.contact; // E3.1
  return slim;
}

/** Adds what each extension keeps of the stanza's children (at most 64 elements; one body). */
function keepForExtensions(stanza: XmlNode, extensions: readonly PushExtension[], config: CoreConfig, children: XmlNode[]): void {
  for (const ext of extensions) {
    if (ext.keep === undefined) continue;
    for (const child of stanza.children) {
      if (typeof child === "string" || (child.name === "body" && children.some((c) => c.name === "body"))) continue;
      const reduced = ext.keep(child, stanza, config);
      if (reduced !== null && children.length < 64) children.push(reduced);
    }
  }
}
