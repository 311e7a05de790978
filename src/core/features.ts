/**
 * Account disco features the daemon announces through the bridge (B1, B2).
 * The bridge adds them to the user's account disco#info; nothing goes to the server domain.
 * @module
 */

/** XEP-0357 namespace. */
export const NS_PUSH = "urn:xmpp:push:0";

/** Features announced on the account (B1). Extensions (B2) would append theirs here. */
export const FEATURES: readonly string[] = Object.freeze([NS_PUSH]);
