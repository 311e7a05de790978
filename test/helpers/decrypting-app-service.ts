/**
 * Opens Tigase encrypted pushes (E1) the way a client does: AES-128-GCM with the key the client
 * sent in its `<enable>`, the IV from the `<encrypted iv>` attribute, the last 16 bytes of the
 * decoded text as the tag (verified: a tampered payload throws). Node's crypto, independent of
 * the daemon's code. Use it on any publish (`decryptNotification`) or wrap an app service.
 * @module
 */
import { createDecipheriv, randomBytes } from "node:crypto";
import type { Element } from "ltx";

import type { AppService, ReceivedPublish } from "./app-service.ts";

export const NS_PUSH_ENCRYPT = "tigase:push:encrypt:0";

/** A fresh 16-byte key, base64, as Siskin makes one per account. */
export function newPushKey(): string {
  return randomBytes(16).toString("base64");
}

/** AES-128-GCM open of base64(ciphertext ‖ tag); throws when the tag does not verify. */
export function openPayload(keyB64: string, ivB64: string, textB64: string): string {
  const iv = Buffer.from(ivB64, "base64");
  if (iv.length !== 12) throw new Error(`Cannot decrypt push: IV of ${iv.length} bytes, not 12`);
  const data = Buffer.from(textB64, "base64");
  if (data.length < 16) throw new Error("Cannot decrypt push: shorter than the tag");
  const decipher = createDecipheriv("aes-128-gcm", Buffer.from(keyB64, "base64"), iv, { authTagLength: 16 });
  decipher.setAuthTag(data.subarray(data.length - 16));
  return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString("utf8");
}

export interface OpenedPush {
  /** The decrypted JSON. */
  json: Record<string, unknown>;
  /** `voip` for a call, else null. */
  type: string | null;
  /** The `<encrypted>` element as received. */
  element: Element;
  /** Whether the notification still had a summary form (it must not). */
  hasSummaryForm: boolean;
}

/** The `<notification>` of a publish. */
export function notificationOf(p: ReceivedPublish): Element | undefined {
  return p.iq.getChild("pubsub")?.getChild("publish")?.getChild("item")?.getChild("notification", "urn:xmpp:push:0");
}

/** Decrypts a publish's `<encrypted>` with `key`; null when the publish has none. Throws on a bad tag. */
export function decryptNotification(p: ReceivedPublish, key: string): OpenedPush | null {
  const notification = notificationOf(p);
  const element = notification?.getChild("encrypted", NS_PUSH_ENCRYPT);
  if (notification === undefined || element === undefined) return null;
  const text = openPayload(key, String(element.attrs.iv ?? ""), element.getText());
  return {
    json: JSON.parse(text) as Record<string, unknown>,
    type: element.attrs.type === undefined ? null : String(element.attrs.type),
    element,
    hasSummaryForm: notification.getChild("x", "jabber:x:data") !== undefined,
  };
}

/** Decrypts every publish the app service gets with the key registered for its node; records failures. */
export function decryptingAppService(
  app: AppService,
  keys: Map<string, string>,
): { opened: Array<OpenedPush & { node: string | null }>; failures: string[] } {
  const opened: Array<OpenedPush & { node: string | null }> = [];
  const failures: string[] = [];
  app.onPublish((p) => {
    const key = keys.get(p.node ?? "");
    if (key === undefined) return;
    try {
      const push = decryptNotification(p, key);
      if (push === null) failures.push(`node ${p.node}: no <encrypted>`);
      else opened.push({ ...push, node: p.node });
    } catch (err) {
      failures.push(`node ${p.node}: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  return { opened, failures };
}
