/**
 * Account disco features the daemon announces through the bridge (B1, B2).
 * The bridge adds them to the user's account disco#info; nothing goes to the server domain.
 * @module
 */
import type { PushExtension } from "./pipeline.ts";

/** XEP-0357 namespace. */
export const NS_PUSH = "urn:xmpp:push:0";

/** Features announced on the account (B1). */
export const FEATURES: readonly string[] = Object.freeze([NS_PUSH]);

/** B1 plus what each enabled extension adds (B2). */
export function accountFeatures(extensions: readonly PushExtension[]): string[] {
  return [...new Set([...FEATURES, ...extensions.flatMap((e) => e.features)])];
}
