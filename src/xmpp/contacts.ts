/**
 * E3.1: the bridge's roster word on each copy's sender (bridge-protocol.md §2, `contacts`): the
 * bare JIDs among the event's message senders that are in the recipient's roster with a
 * `from`/`both` subscription, space-separated. Absent = the bridge did not look (unknown).
 * @module
 */
import type { StanzaCopy, XmlNode } from "../core/types.ts";
import { unwrapCarbon } from "../core/importance.ts";
import { bareOf } from "../core/extensions/payload.ts";

/** Most JIDs read from one `contacts` attribute (an event holds at most `copies` copies anyway). */
const MAX_CONTACTS = 1000;

/** The event's `contacts` attribute as a set (lower-cased bare JIDs), or null when absent. */
export function contactsOf(attrs: Record<string, unknown> | null | undefined): Set<string> | null {
  const raw = attrs?.contacts;
  if (typeof raw !== "string") return null;
  const set = new Set<string>();
  for (const jid of raw.split(" ")) {
    if (set.size >= MAX_CONTACTS) break;
    const bare = jid === "" ? null : bareOf(jid);
    if (bare !== null) set.add(bare);
  }
  return set;
}

/** The copy with `contact` set from the bridge's list (message copies only; unchanged when unknown). */
export function withContact(copy: StanzaCopy, contacts: Set<string> | null): StanzaCopy {
  if (contacts === null || copy.stanza.name !== "message") return copy;
  const sender = bareOf(unwrapCarbon(copy.stanza as XmlNode).message.attrs.from);
  if (sender !== null) copy.contact = contacts.has(sender);
  return copy;
}
