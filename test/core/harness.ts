/** Test helpers for the core: a fresh state, event builders and action filters. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "ltx";
import type { Action, CoreConfig, Event, Registration, SessionRef, StanzaCopy, XmlNode } from "../../src/core/types.ts";
import type { CoreState } from "../../src/core/state.ts";
import { DEFAULT_CORE_CONFIG, initState } from "../../src/core/state.ts";
import { step } from "../../src/core/step.ts";

export const HOST = "example.com";
export const SEED = "0123456789abcdef".repeat(4);
export const APP = "push.app.example";

export function config(over: Partial<CoreConfig> = {}): CoreConfig {
  return { ...DEFAULT_CORE_CONFIG, host: HOST, ...over };
}

export function fresh(over: Partial<CoreConfig> = {}): CoreState {
  return initState(config(over), { idSeed: SEED });
}

export function run(state: CoreState, event: Event): Action[] {
  return step(state, event).actions;
}

export function xml(text: string): XmlNode {
  return parse(text) as unknown as XmlNode;
}

export function fixture(name: string): XmlNode {
  return xml(readFileSync(join(import.meta.dir, "..", "fixtures", "stanzas", `${name}.xml`), "utf8"));
}

export function copyOf(stanza: XmlNode | string, key: string): StanzaCopy {
  return { stanza: typeof stanza === "string" ? xml(stanza) : stanza, key };
}

/** A chat message with a body, keyed by `key`. */
export function chat(key: string, body = "hi"): StanzaCopy {
  return copyOf(
    `<message xmlns="jabber:client" from="bob@example.net/x" to="alice@${HOST}" type="chat" id="${key}"><body>${body}</body></message>`,
    key,
  );
}

/** A chat state (unimportant), keyed by `key`. */
export function chatState(key: string): StanzaCopy {
  return copyOf(
    `<message xmlns="jabber:client" from="bob@example.net/x" to="alice@${HOST}" type="chat"><active xmlns="http://jabber.org/protocol/chatstates"/></message>`,
    key,
  );
}

export function sessionRef(user = "alice", sessionId = "s1", clientId: string | null = null): SessionRef {
  return { user, sessionId, fullJid: `${user}@${HOST}/${sessionId}`, clientId };
}

export function registration(user: string, jid: string, node: string | null, over: Partial<Registration> = {}): Registration {
  return {
    user,
    identifier: `${jid}<${node ?? ""}`,
    jid,
    node,
    includePayload: false,
    publishOptions: null,
    clientId: null,
    resource: null,
    language: null,
    createdAt: 0,
    updatedAt: 0,
    errorCount: 0,
    lastError: null,
    lastErrorAt: null,
    ...over,
  };
}

export function load(state: CoreState, user: string, regs: Registration[] = [], now = 0): void {
  run(state, { type: "user-loaded", now, user, registrations: regs });
}

export function enableEl(jid: string | null, node: string | null = null, inner = ""): XmlNode {
  const element = xml(`<enable xmlns="urn:xmpp:push:0">${inner}</enable>`);
  if (jid !== null) element.attrs.jid = jid;
  if (node !== null) element.attrs.node = node;
  return element;
}

let requestCounter = 0;

/** Sends an enable; returns the actions of the request (the store op is left pending). */
export function requestEnable(state: CoreState, session: SessionRef, element: XmlNode, now = 1000): Action[] {
  return run(state, { type: "enable", now, req: { requestId: `r${++requestCounter}`, session, lang: "en" }, element });
}

/** Enables and completes the store op successfully; returns the store-done actions. */
export function enable(state: CoreState, session: SessionRef, node: string | null = "n1", now = 1000, jid = APP): Action[] {
  const first = requestEnable(state, session, enableEl(jid, node), now);
  const store = first.find((a) => a.type === "store");
  if (store === undefined || store.type !== "store" || store.opId === undefined) throw new Error(`Cannot enable: ${JSON.stringify(first)}`);
  return run(state, { type: "store-done", now, opId: store.opId, ok: true });
}

export function started(state: CoreState, session: SessionRef, now = 0, boundIdentifier: string | null = null): Action[] {
  return run(state, { type: "session-started", now, session, boundIdentifier });
}

type ActionOf<T extends Action["type"]> = Extract<Action, { type: T }>;

export function only<T extends Action["type"]>(actions: Action[], type: T): ActionOf<T>[] {
  return actions.filter((a): a is ActionOf<T> => a.type === type);
}

export function publishes(actions: Action[]) {
  return only(actions, "publish").map((a) => a.publish);
}

/** The outcomes counted in `pushes_total`, in order: "sent" when a push goes out, then each record's outcome. */
export function pushCounts(actions: Action[]): string[] {
  return only(actions, "metric").flatMap((m) => (m.name === "pushes_total" ? [m.labels?.outcome ?? ""] : []));
}
