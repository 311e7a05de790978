/**
 * XEP-0114 stream open and handshake as pure functions: the opening header, the SHA-1 digest,
 * and what each stream event means for one connection attempt in a given phase.
 * https://xmpp.org/extensions/xep-0114.html, https://xmpp.org/rfcs/rfc6120.html#streams
 * @module
 */
import { createHash } from "node:crypto";

import { escapeXML, type Element } from "ltx";

import { assertNever } from "../../assert-never.ts";
import { NS_COMPONENT } from "../ns.ts";
import type { StreamParserEvent } from "../stream-parser.ts";

// Stream-level namespaces, used only here (NS_COMPONENT comes from ns.ts).
const NS_STREAM = "http://etherx.jabber.org/streams";
const NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams";
export const STREAM_CLOSE = "</stream:stream>";

/** How one connection attempt ended (see lifecycle.ts). */
export interface Failure {
  reason: string; // becomes lastError
  streamError?: string; // condition to send before closing
  detail?: string; // for the log line only; never stanza content
}

/** Where one attempt stands once the TCP connection is open. */
export type StreamPhase = "opening" | "authenticating" | "online";

/** What a stream event asks the connection to do. */
export type StreamStep =
  | { type: "send-handshake"; text: string } // and the phase becomes "authenticating"
  | { type: "online" }
  | { type: "stanza"; element: Element; refused: string | undefined }
  | { type: "ignore"; name: string } // a stanza before authentication
  | { type: "fail"; failure: Failure };

export function streamOpen(domain: string): string {
  return `<?xml version='1.0'?><stream:stream xmlns='${NS_COMPONENT}' xmlns:stream='${NS_STREAM}' to='${escapeXML(domain)}'>`;
}

/** XEP-0114 §3: the lowercase hex SHA-1 of the stream id followed by the secret. */
export function handshakeDigest(streamId: string, secret: string): string {
  return createHash("sha1")
    .update(streamId + secret)
    .digest("hex");
}

/** What we write before closing: an optional stream error, then the stream end. */
export function closingXml(streamError?: string): string {
  const error = streamError ? `<stream:error><${streamError} xmlns='${NS_STREAM_ERRORS}'/></stream:error>` : "";
  return error + STREAM_CLOSE;
}

/** The step for one stream event in `phase`. */
export function streamStep(phase: StreamPhase, event: StreamParserEvent, secret: string): StreamStep {
  switch (event.type) {
    case "stream-start": {
      const id = event.attrs.id;
      if (id === undefined || id === "") {
        return { type: "fail", failure: { reason: "invalid-xml", streamError: "invalid-xml", detail: "stream header has no id" } };
      }
      return { type: "send-handshake", text: `<handshake>${handshakeDigest(id, secret)}</handshake>` };
    }
    case "stanza":
      return stanzaStep(phase, event.element, event.refused);
    case "stream-end":
      return { type: "fail", failure: { reason: "stream closed by server" } };
    case "error":
      return { type: "fail", failure: { reason: event.condition, streamError: event.condition, detail: event.detail } };
    default:
      return assertNever(event, "handle stream event");
  }
}

function stanzaStep(phase: StreamPhase, el: Element, refused: string | undefined): StreamStep {
  if (el.name === "stream:error") return { type: "fail", failure: { reason: streamErrorCondition(el) } };
  if (phase === "online") return { type: "stanza", element: el, refused };
  if (el.name === "handshake" && phase === "authenticating") return { type: "online" };
  return { type: "ignore", name: el.name };
}

/** The defined condition of a `<stream:error>` (the child that is not `<text>`). */
export function streamErrorCondition(el: Element): string {
  const condition = el.getChildElements().find((child) => child.name !== "text");
  return condition?.name ?? "undefined-condition";
}
