/**
 * Issue 11: what parse-bridge reads of the bridge's new report and events: the hello's
 * `conflict` and `<module>` children, the `modules` event, `ping`, `user-disabled`, `user-enabled`.
 */
import { expect, test } from "bun:test";
import { parse, type Element } from "ltx";
import { parseInbound } from "../../src/xmpp/parse-bridge.ts";
import { BRIDGE_VERSION } from "../../src/xmpp/ns.ts";

const NS = "urn:cloud-notifyd:bridge:1";
const ctx = { host: "example.com", componentDomain: "push.example.com", now: 5 };

function event(type: string, attrs: string, children = ""): Element {
  return parse(
    `<message from='example.com' to='push.example.com'><event xmlns='${NS}' epoch='e1' seq='7' type='${type}'${attrs}>${children}</event></message>`,
  ) as Element;
}

test("hello result: conflict and the companion modules; a bridge that reports none gives modules null", () => {
  const hello = parse(
    `<iq type='result' from='example.com' to='push.example.com' id='h1'><hello xmlns='${NS}' version='${BRIDGE_VERSION}' epoch='e1' conflict='cloud_notify'>` +
      `<module name='smacks' loaded='true'/><module name='mam' loaded='false'/></hello></iq>`,
  ) as Element;
  const r = parseInbound(hello, ctx);
  if (r.kind !== "hello-result") throw new Error(r.kind);
  expect(r.modules).toEqual({
    conflict: "cloud_notify",
    modules: [
      { name: "smacks", loaded: true },
      { name: "mam", loaded: false },
    ],
  });
  const plain = parseInbound(
    parse(`<iq type='result' from='example.com' id='h2'><hello xmlns='${NS}' version='${BRIDGE_VERSION}' epoch='e1'/></iq>`) as Element,
    ctx,
  );
  if (plain.kind !== "hello-result") throw new Error(plain.kind);
  expect(plain.modules).toEqual({ conflict: null, modules: null });
});

function modules(inner: string, from = "example.com"): Element {
  return parse(`<message from='${from}' to='push.example.com'><modules xmlns='${NS}'${inner}</modules></message>`) as Element;
}

test("modules message (live, no seq): the new report; from another domain it is ignored; a strange conflict name is not echoed", () => {
  const r = parseInbound(modules(` conflict='cloud_notify'><module name='offline' loaded='false'/>`), ctx);
  expect(r).toEqual({ kind: "modules", report: { conflict: "cloud_notify", modules: [{ name: "offline", loaded: false }] } });
  expect(parseInbound(modules(`>`, "evil.example"), ctx).kind).toBe("invalid");
  const odd = parseInbound(modules(` conflict='x y&lt;z'>`), ctx);
  expect(odd.kind === "modules" && odd.report.conflict).toBe("unknown");
});

test("ping event: all registrations, or the endpoints by identifier (else jid and node)", () => {
  const all = parseInbound(event("ping", ` user='alice' all='true'`), ctx);
  expect(all).toEqual({
    kind: "event",
    epoch: "e1",
    seq: 7,
    event: { type: "ping", now: 5, user: "alice@example.com", identifiers: null },
  });
  const some = parseInbound(
    event(
      "ping",
      ` user='alice'`,
      `<endpoint identifier='app.example&lt;n1' jid='app.example' node='n1'/><endpoint jid='app.example' node='n2'/><endpoint jid='app.example'/>`,
    ),
    ctx,
  );
  expect(some.kind === "event" && some.event).toEqual({
    type: "ping",
    now: 5,
    user: "alice@example.com",
    identifiers: ["app.example<n1", "app.example<n2", "app.example<"],
  });
});

test("user-disabled and user-enabled events", () => {
  for (const type of ["user-disabled", "user-enabled"] as const) {
    const r = parseInbound(event(type, ` user='alice'`), ctx);
    expect(r).toEqual({ kind: "event", epoch: "e1", seq: 7, event: { type, now: 5, user: "alice@example.com" } });
  }
});
