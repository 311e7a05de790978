/**
 * Core throughput benchmark: 1M mixed events over 100k pre-loaded users through `step`.
 * Run: node_modules/.bin/bun bench/core.ts [events] [users]
 */
import type { Event, Registration, StanzaCopy, XmlNode } from "../src/core/types.ts";
import { DEFAULT_CORE_CONFIG, initState } from "../src/core/state.ts";
import { step } from "../src/core/step.ts";

const EVENTS = Number(process.argv[2] ?? 1_000_000);
const USERS = Number(process.argv[3] ?? 100_000);
const HOST = "example.com";
const APP = "push.app.example";

let seed = 42;
function rand(n: number): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed % n;
}

function message(body: string | null, extra: XmlNode | null = null): XmlNode {
  const children: XmlNode["children"] = [];
  if (body !== null) children.push({ name: "body", attrs: {}, children: [body] });
  if (extra !== null) children.push(extra);
  return { name: "message", attrs: { xmlns: "jabber:client", from: "bob@example.net/x", to: `u@${HOST}`, type: "chat" }, children };
}

const STANZAS: XmlNode[] = [
  message("hello"),
  message(null, { name: "encrypted", attrs: { xmlns: "urn:xmpp:omemo:2" }, children: [] }),
  message(null, { name: "active", attrs: { xmlns: "http://jabber.org/protocol/chatstates" }, children: [] }),
  message(null, { name: "received", attrs: { xmlns: "urn:xmpp:receipts", id: "x" }, children: [] }),
];

/** A flat copy of a string, as the XML parser hands them over (template literals make ropes). */
function flat(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

let keyCounter = 0;
function copy(): StanzaCopy {
  return { stanza: STANZAS[rand(STANZAS.length)] as XmlNode, key: flat(`origin-${++keyCounter}-3f2a9c`) };
}

function reg(user: string, node: string): Registration {
  return {
    user,
    identifier: `${APP}<${node}`,
    jid: APP,
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
  };
}

const state = initState({ ...DEFAULT_CORE_CONFIG, host: HOST }, { idSeed: "5a".repeat(32) });
const users: string[] = [];
for (let i = 0; i < USERS; i++) {
  const user = flat(`user${i}`);
  users.push(user);
  const regs = i % 3 === 0 ? [reg(user, `a${i}`), reg(user, `b${i}`)] : [reg(user, `a${i}`)];
  step(state, { type: "user-loaded", now: 0, user, registrations: regs });
}

// Events are generated in chunks outside the timed part; replies take their ids from the publishes actually made.
const REPLY = "";
function generate(n: number): Event[] {
  const events: Event[] = [];
  for (let i = 0, now = 1; i < n; i++, now++) {
    const user = users[rand(USERS)] as string;
    const sessionId = flat(`s-${user}`);
    const roll = rand(100);
    const ref = { user, sessionId, fullJid: flat(`${user}@${HOST}/r`) };
    if (roll < 28) events.push({ type: "offline", now, user, copy: copy() });
    else if (roll < 40) events.push({ type: "archived", now, user, copy: copy(), archiveId: null });
    else if (roll < 44) events.push({ type: "session-started", now, session: ref, boundIdentifier: `${APP}<a${user.slice(4)}` });
    else if (roll < 48) events.push({ type: "stanza-queued", now, user, sessionId, copy: copy() });
    else if (roll < 51) events.push({ type: "hibernation-started", now, user, sessionId, queue: [copy(), copy()] });
    else if (roll < 53) events.push({ type: "hibernation-ended", now, user, sessionId });
    else if (roll < 55) events.push({ type: "session-ended", now, user, sessionId });
    else if (roll < 60) events.push({ type: "timer", now, key: `batch/${user}/${sessionId}` });
    else if (roll < 88) events.push({ type: "publish-result", now, publishId: REPLY, from: APP });
    else if (roll < 93) {
      events.push({
        type: "publish-error",
        now,
        publishId: REPLY,
        from: APP,
        errorType: roll < 90 ? "wait" : "cancel",
        condition: "item-not-found",
      });
    } else if (roll < 97) {
      const element: XmlNode = { name: "enable", attrs: { xmlns: "urn:xmpp:push:0", jid: APP, node: `a${user.slice(4)}` }, children: [] };
      events.push({ type: "enable", now, req: { requestId: `r${now}`, session: ref, lang: null }, element });
      events.push({ type: "store-done", now, opId: REPLY, ok: true });
      i++;
    } else events.push({ type: "tick", now });
  }
  return events;
}

const CHUNK = 10_000;
const pendingIds: string[] = [];
let lastOp = "";
let actionsOut = 0;
const counts: Record<string, number> = {};
let elapsed = 0;
let total = 0;
for (let done = 0; done < EVENTS; done += CHUNK) {
  const events = generate(Math.min(CHUNK, EVENTS - done));
  for (const event of events) counts[event.type] = (counts[event.type] ?? 0) + 1;
  total += events.length;
  const started = performance.now();
  dispatch(events);
  elapsed += performance.now() - started;
}

function dispatch(events: Event[]): void {
  for (const event of events) {
    if (event.type === "publish-result" || event.type === "publish-error") event.publishId = pendingIds.pop() ?? "none";
    else if (event.type === "store-done") event.opId = lastOp;
    const { actions } = step(state, event);
    actionsOut += actions.length;
    for (const action of actions) {
      if (action.type === "publish") pendingIds.push(action.publish.id);
      else if (action.type === "store" && action.opId !== undefined) lastOp = action.opId;
    }
  }
}

const seconds = elapsed / 1000;
Bun.gc(true);
const heapMb = process.memoryUsage().heapUsed / 1024 / 1024;
console.log(`events: ${total} over ${USERS} users in ${seconds.toFixed(2)} s`);
console.log(`throughput: ${Math.round(total / seconds).toLocaleString("en")} events/s`);
console.log(
  `actions: ${actionsOut}; pending publishes: ${state.pending.size}; dedupe entries: ${state.dedupeSize}; cached users: ${state.users.size}`,
);
console.log(`heapUsed after the run (core state of ${USERS} users): ${heapMb.toFixed(1)} MB`);
console.log(`mix: ${JSON.stringify(counts)}`);
