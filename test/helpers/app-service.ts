/**
 * A fake app push service (the p2/fpush role) for end-to-end tests and the latency bench:
 * a separate XEP-0114 component on the test's Prosody that records every pubsub publish it
 * receives and answers it with a result or a chosen error. Reply modes that answer as the
 * services people run do (docs/behaviour.md "App service answers"): `p2Answers` (Conversations' app server),
 * `fpushAnswers` (Monal's), `waitThenResult` (a plain XEP-0357 service that is busy a while).
 * @module
 */
import { Element } from "ltx";

import { connectComponent, type TestComponent } from "./xml-socket.ts";

export const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
export const NS_PUSH = "urn:xmpp:push:0";
export const NS_DATA = "jabber:x:data";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

/** How the service answers a publish. */
export type AppAnswer =
  | { kind: "result" }
  | { kind: "error"; type: "cancel" | "modify" | "auth" | "wait"; condition: string; text?: string }
  | { kind: "silent" };

export interface ReceivedPublish {
  iq: Element;
  /** performance.now() when it arrived. */
  at: number;
  /** Unix ms (sub-ms precision) when it arrived, comparable with other processes' clocks. */
  wallAt: number;
  node: string | null;
  /** The summary form's fields (var → value, "" for an empty field). */
  summary: Map<string, string>;
  /** The `<x>` inside `<publish-options>`, if any. */
  publishOptions: Element | null;
  /** What the service answered (set once decided). */
  answer?: AppAnswer;
}

export type AnswerFn = (p: ReceivedPublish) => AppAnswer;

/** The publish-options form's fields (var → first value), FORM_TYPE included. */
export function optionFields(p: ReceivedPublish): Map<string, string> {
  const fields = new Map<string, string>();
  for (const field of p.publishOptions?.getChildren("field") ?? []) fields.set(field.attrs.var ?? "", field.getChildText("value") ?? "");
  return fields;
}

/**
 * p2 (Conversations' app server, PushController.java): targets are (account domain, node) with
 * a secret. A `from` that is not a bare JID, or no `secret` → auth/forbidden; no target for the
 * `from`'s domain and the node (also a component publishing from another domain), or a dead
 * token (FCM UNREGISTERED) → cancel/item-not-found; a wrong secret → auth/forbidden.
 */
export function p2Answers(opts: { targets: Map<string, { domain: string; secret: string }>; dead?: ReadonlySet<string> }): AnswerFn {
  return (p) => {
    const from = String(p.iq.attrs.from ?? "");
    const secret = optionFields(p).get("secret");
    if (from.includes("/") || secret === undefined) return { kind: "error", type: "auth", condition: "forbidden" };
    const domain = from.slice(from.indexOf("@") + 1);
    const target = p.node === null ? undefined : opts.targets.get(p.node);
    if (target === undefined || target.domain !== domain) return { kind: "error", type: "cancel", condition: "item-not-found" };
    if (target.secret !== secret) return { kind: "error", type: "auth", condition: "forbidden" };
    if (opts.dead?.has(p.node ?? "")) return { kind: "error", type: "cancel", condition: "item-not-found" };
    return { kind: "result" };
  };
}

export const FPUSH_FORMAT_TEXT = "Invalid push format, update your prosody community modules and make sure mod_cloud_notify is loaded";

/**
 * fpush (Monal's app server): stateless, node = device token. publish-options may hold only
 * `pushModule` (besides FORM_TYPE); any other field, or more than 5 → wait/bad-request "Invalid
 * push format…". A dead or blocked token → cancel/policy-violation; a transient APNs/FCM failure
 * → cancel/bad-request; a rate-limited token → result (since 2023).
 */
export function fpushAnswers(opts: {
  dead?: ReadonlySet<string>;
  transient?: ReadonlySet<string>;
  rateLimited?: ReadonlySet<string>;
}): AnswerFn {
  return (p) => {
    const fields = [...optionFields(p).keys()].filter((k) => k !== "FORM_TYPE");
    if (fields.length > 5 || fields.some((k) => k !== "pushModule"))
      return { kind: "error", type: "wait", condition: "bad-request", text: FPUSH_FORMAT_TEXT };
    const token = p.node ?? "";
    if (opts.dead?.has(token)) return { kind: "error", type: "cancel", condition: "policy-violation" };
    if (opts.transient?.has(token)) return { kind: "error", type: "cancel", condition: "bad-request" };
    return { kind: "result" }; // rate-limited tokens get a result too
  };
}

/** A plain XEP-0357 service: `wait/<condition>` to the first `waits` publishes of each node, then results. */
export function waitThenResult(opts: { waits: number; condition?: string }): AnswerFn {
  const seen = new Map<string, number>();
  return (p) => {
    const node = p.node ?? "";
    const n = (seen.get(node) ?? 0) + 1;
    seen.set(node, n);
    return n <= opts.waits ? { kind: "error", type: "wait", condition: opts.condition ?? "resource-constraint" } : { kind: "result" };
  };
}

export interface AppService {
  domain: string;
  component: TestComponent;
  publishes: ReceivedPublish[];
  /** Decides the answer to each publish (default: result). */
  setAnswer(fn: (p: ReceivedPublish) => AppAnswer): void;
  /** Resolves once at least `n` publishes arrived in total. */
  waitForCount(n: number, timeoutMs?: number): Promise<ReceivedPublish[]>;
  /** Called for every publish (after recording, before answering). */
  onPublish(fn: (p: ReceivedPublish) => void): void;
  close(): Promise<void>;
}

export function appComponentConfig(domain: string, secret: string): string {
  return `Component ${JSON.stringify(domain)}\n  component_secret = ${JSON.stringify(secret)}\n`;
}

function summaryOf(publish: Element | undefined): Map<string, string> {
  const fields = new Map<string, string>();
  const x = publish?.getChild("item")?.getChild("notification", NS_PUSH)?.getChild("x", NS_DATA);
  for (const field of x?.getChildren("field") ?? []) {
    fields.set(field.attrs.var ?? "", field.getChildText("value") ?? "");
  }
  return fields;
}

export async function startAppService(opts: { port: number; domain: string; secret: string }): Promise<AppService> {
  const component = await connectComponent({ port: opts.port, domain: opts.domain, secret: opts.secret });
  const publishes: ReceivedPublish[] = [];
  const listeners: Array<(p: ReceivedPublish) => void> = [];
  const countWaiters: Array<{ n: number; resolve: () => void }> = [];
  let answer: (p: ReceivedPublish) => AppAnswer = () => ({ kind: "result" });

  component.onStanza((el) => {
    const pubsub = el.name === "iq" && el.attrs.type === "set" ? el.getChild("pubsub", NS_PUBSUB) : undefined;
    if (pubsub === undefined) return false;
    const publish = pubsub.getChild("publish");
    const received: ReceivedPublish = {
      iq: el,
      at: performance.now(),
      wallAt: performance.timeOrigin + performance.now(),
      node: publish?.attrs.node ?? null,
      summary: summaryOf(publish),
      publishOptions: pubsub.getChild("publish-options")?.getChild("x", NS_DATA) ?? null,
    };
    publishes.push(received);
    for (const fn of listeners) fn(received);
    for (let i = countWaiters.length - 1; i >= 0; i -= 1) {
      const w = countWaiters[i];
      if (w !== undefined && publishes.length >= w.n) {
        countWaiters.splice(i, 1);
        w.resolve();
      }
    }
    const a = answer(received);
    received.answer = a;
    if (a.kind === "silent") return true;
    const reply = new Element("iq", { type: a.kind, from: opts.domain, to: el.attrs.from, id: el.attrs.id });
    if (a.kind === "error") {
      const error = reply.c("error", { type: a.type });
      error.c(a.condition, { xmlns: NS_STANZAS });
      if (a.text !== undefined) error.c("text", { xmlns: NS_STANZAS }).t(a.text);
    }
    component.send(reply);
    return true;
  });

  return {
    domain: opts.domain,
    component,
    publishes,
    setAnswer(fn) {
      answer = fn;
    },
    onPublish(fn) {
      listeners.push(fn);
    },
    waitForCount(n, timeoutMs = 8000) {
      if (publishes.length >= n) return Promise.resolve(publishes);
      return new Promise((ok, fail) => {
        const waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            ok(publishes);
          },
        };
        const timer = setTimeout(() => {
          const i = countWaiters.indexOf(waiter);
          if (i >= 0) countWaiters.splice(i, 1);
          fail(new Error(`Cannot receive ${n} publishes at ${opts.domain}: got ${publishes.length} within ${timeoutMs} ms`));
        }, timeoutMs);
        countWaiters.push(waiter);
      });
    },
    close: () => component.close(),
  };
}
