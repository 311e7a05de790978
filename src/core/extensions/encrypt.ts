/**
 * E1 (Tigase "Encrypted push notifications", tigase:push:encrypt:0, as mod_cloud_notify_encrypted):
 * the `<encrypt>` child of `<enable>`, and the build stage that replaces a publish's summary form
 * with `<encrypted iv='…' [type='voip']>base64(AES-128-GCM ciphertext ‖ 16-byte tag)</encrypted>`.
 * E1.1: the tag is GCM's real one (Prosody 0.12's module appends 16 zero bytes).
 * @module
 */
import { createCipheriv } from "node:crypto";
import type { CoreConfig, PushEncryption, XmlNode } from "../types.ts";
import type { PushDraft, PushExtension } from "../pipeline.ts";
import type { StanzaError } from "../enable.ts";
import { textOf } from "../xml.ts";
import { fitJson, isCall, keepForPayload, payloadOf } from "./payload.ts";
import type { RandomBytes } from "./random.ts";

export const NS_PUSH_ENCRYPT = "tigase:push:encrypt:0";
export const FEATURE_AES_128_GCM = "tigase:push:encrypt:aes-128-gcm";
export const NS_PUSH_JINGLE = "tigase:push:jingle:0";

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export type EncryptParse = { ok: true; value: PushEncryption | null } | { ok: false; error: StanzaError };

/**
 * The `<encrypt>` child of an `<enable>`, if any. Another `alg` → modify/feature-not-implemented,
 * a key that is not base64 of 16 bytes → modify/bad-request (mod_cloud_notify_encrypted's answers);
 * a `max-size` that is not a positive integer → modify/bad-request.
 */
export function parseEncrypt(enable: XmlNode): EncryptParse {
  const el = enable.children.find((c): c is XmlNode => typeof c !== "string" && c.name === "encrypt" && c.attrs.xmlns === NS_PUSH_ENCRYPT);
  if (el === undefined) return { ok: true, value: null };
  if (el.attrs.alg !== "aes-128-gcm") {
    return { ok: false, error: { type: "modify", condition: "feature-not-implemented", text: "Unknown encryption algorithm" } };
  }
  const key = textOf(el).replace(/\s+/g, "");
  if (!BASE64.test(key) || key.length % 4 !== 0 || Buffer.from(key, "base64").length !== 16) {
    return { ok: false, error: { type: "modify", condition: "bad-request", text: "Invalid encryption key" } };
  }
  const rawMax = el.attrs["max-size"];
  let maxSize: number | null = null;
  if (rawMax !== undefined) {
    maxSize = /^[0-9]{1,9}$/.test(rawMax) ? Number(rawMax) : 0;
    if (maxSize <= 0) return { ok: false, error: { type: "modify", condition: "bad-request", text: "Invalid max-size" } };
  }
  return { ok: true, value: { alg: "aes-128-gcm", key, maxSize } };
}

/** AES-128-GCM of `plaintext` under the base64 `key`: base64(ciphertext ‖ tag), no AAD. */
export function encryptText(key: string, iv: Uint8Array, plaintext: string): string {
  const cipher = createCipheriv("aes-128-gcm", Buffer.from(key, "base64"), iv, { authTagLength: 16 });
  const head = cipher.update(plaintext, "utf8");
  const tail = cipher.final();
  return Buffer.concat([head, tail, cipher.getAuthTag()]).toString("base64");
}

/**
 * The build stage. For a registration with a key: the payload JSON (E1, E1.2, E1.5, E1.6) is
 * encrypted with a fresh 12-byte IV from `random`; the summary form is dropped (no sender or body
 * in the clear); a call proposal is `type='voip'` and important (it must ring now).
 */
export function encryptExtension(random: RandomBytes): PushExtension {
  return Object.freeze({
    name: "encrypt",
    features: Object.freeze([NS_PUSH_ENCRYPT, FEATURE_AES_128_GCM, NS_PUSH_JINGLE]),
    build(draft: PushDraft, config: CoreConfig): PushDraft {
      const encryption = draft.registration.encryption;
      if (encryption === undefined || encryption === null) return draft;
      const unread = Number(draft.summary.messageCount ?? "1") || 1;
      const payload = payloadOf(draft.stanza, unread, config.pushEncryptedPreview !== false);
      const iv = random(12);
      const text = encryptText(encryption.key, iv, fitJson(payload, encryption.maxSize));
      const call = isCall(draft.stanza);
      const attrs: Record<string, string> = { xmlns: NS_PUSH_ENCRYPT, iv: Buffer.from(iv).toString("base64") };
      if (call) attrs.type = "voip";
      const encrypted: XmlNode = { name: "encrypted", attrs, children: [text] };
      return { ...draft, important: draft.important || call, omitSummary: true, payload: [...draft.payload, encrypted] };
    },
    keep(child: XmlNode, stanza: XmlNode, config: CoreConfig): XmlNode | null {
      return keepForPayload(child, stanza, config.pushEncryptedPreview !== false);
    },
  });
}

/** Whether a registration asked for encrypted pushes (and thereby for call pushes, tigase:push:jingle:0). */
export function wantsEncryption(reg: { encryption?: PushEncryption | null }): boolean {
  return reg.encryption !== undefined && reg.encryption !== null;
}
