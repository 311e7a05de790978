/**
 * E1.4: a call proposal (XEP-0353 `propose`, jingle-message :0 and :1) for a user with an
 * encrypted registration (a client that takes `type='voip'` pushes, tigase:push:jingle:0) rings
 * now: it is pushed at once to every registration of the user, whatever the session state,
 * instead of waiting in a session's batch (B30) for the bound registration only. D8 keeps each
 * registration's push single when the archive path (B36) pushes the same stanza too.
 * @module
 */
import type { CoreState, UserState } from "../state.ts";
import type { Action, StanzaCopy, Trigger } from "../types.ts";
import { pushCopy } from "../publish.ts";
import { wantsEncryption } from "./encrypt.ts";
import { isCall } from "./payload.ts";

/** Pushes the copy to all registrations and returns true when it is a call that rings now; else false. */
export function ringNow(state: CoreState, u: UserState, copy: StanzaCopy, trigger: Trigger, now: number, actions: Action[]): boolean {
  if (!state.extensions.some((e) => e.name === "encrypt") || !isCall(copy.stanza)) return false;
  let encrypted = false;
  for (const entry of u.regs.values()) if (wantsEncryption(entry.reg)) encrypted = true;
  if (!encrypted) return false;
  for (const entry of u.regs.values()) pushCopy(state, u, entry, copy, { important: true, trigger, now }, actions);
  return true;
}
