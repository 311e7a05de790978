/**
 * The `<enable>` Siskin/TigaseSwift sends (publish-options form, then Encryption, Priority, Jingle
 * and the filters' apply(to:)), for e2e tests of the Tigase push extensions (issue 14).
 * @module
 */
import { NS_DATA, NS_PUSH } from "./app-service.ts";
import { APP_DOMAIN, PUBLISH_OPTIONS_FORM_TYPE } from "./push-stack.ts";
import type { TestClient } from "./xmpp-client.ts";

/** The enable IQ with an AES-128-GCM key (base64) and `extra` filter elements. */
export function siskinEnable(id: string, node: string, key: string, extra = ""): string {
  return (
    `<iq type='set' id='${id}'><enable xmlns='${NS_PUSH}' jid='${APP_DOMAIN}' node='${node}'>` +
    `<x xmlns='${NS_DATA}' type='submit'><field var='FORM_TYPE'><value>${PUBLISH_OPTIONS_FORM_TYPE}</value></field></x>` +
    `<encrypt xmlns='tigase:push:encrypt:0' alg='aes-128-gcm' max-size='3072'>${key}</encrypt>` +
    `<priority xmlns='tigase:push:priority:0'/><jingle xmlns='tigase:push:jingle:0'/>${extra}</enable></iq>`
  );
}

/** Sends the Siskin enable and checks the reply is a result. */
export async function enableSiskin(c: TestClient, node: string, key: string, extra = ""): Promise<void> {
  const reply = await c.iq(siskinEnable(`en-${node}`, node, key, extra), `en-${node}`);
  if (reply.type !== "result") throw new Error(`Cannot enable push for ${c.jid}: ${String(reply.xml)}`);
}
