/**
 * XML namespaces and protocol constants used by the XMPP adapters.
 * Bridge protocol: docs/bridge-protocol.md.
 * @module
 */

/** XEP-0357 Push Notifications; its home is the core (the core imports nothing from xmpp/). */
export { NS_PUSH } from "../core/features.ts";
/** Our bridge protocol namespace (docs/bridge-protocol.md); the protocol version is BRIDGE_VERSION. */
export const NS_BRIDGE = "urn:cloud-notifyd:bridge:1";
/** The bridge protocol version we speak (the `version` attribute of `<hello>`). */
export const BRIDGE_VERSION = "4";

/** XEP-0060 Publish-Subscribe. */
export const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
/** XEP-0004 Data Forms. */
export const NS_DATA = "jabber:x:data";
/** RFC 6120 stanza error conditions. */
export const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
/** RFC 6120 client namespace (stanza copies inside bridge stanzas). */
export const NS_CLIENT = "jabber:client";
/** XEP-0114 component stream namespace. */
export const NS_COMPONENT = "jabber:component:accept";
/** XEP-0030 Service Discovery. */
export const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
/** XEP-0359 Unique and Stable Stanza IDs (`origin-id`, `stanza-id`). */
export const NS_SID = "urn:xmpp:sid:0";
/** XEP-0203 Delayed Delivery. */
export const NS_DELAY = "urn:xmpp:delay";
/** XEP-0280 Message Carbons and XEP-0297 Stanza Forwarding; their home is the core. */
export { NS_CARBONS, NS_FORWARD } from "../core/importance.ts";

/** FORM_TYPE of the XEP-0357 summary form (B26). */
export const PUSH_SUMMARY_FORM_TYPE = "urn:xmpp:push:summary";
