/**
 * The daemon's side of the bridge protocol (docs/bridge-protocol.md) for every configured host:
 * one peer (bridge-peer.ts: hello, sequence, acknowledgements) per VirtualHost whose bridge the
 * daemon serves, all over the one component stream. Stanzas are routed by the domain of their
 * sender: a configured host's stanzas to its peer, everything else (client IQs to the component,
 * app-service replies to component publishes, disco) to the first host's peer, whose parser
 * answers or refuses it. A bridge on a host that is not configured asks for a hello and gets a
 * clear refusal instead (one log line on each side).
 * @module
 */
import type { Element } from "ltx";

import { withFields } from "../log.ts";
import { NS_BRIDGE } from "../xmpp/ns.ts";
import { renderHostRefused } from "../xmpp/render.ts";
import { type BridgePeer, type BridgePeerOptions, type BridgeStatus, createBridgePeer } from "./bridge-peer.ts";

export type { BridgeStatus } from "./bridge-peer.ts";

export interface BridgeLinkOptions extends Omit<BridgePeerOptions, "host" | "onModules"> {
  /** The VirtualHosts whose users this daemon serves (config `hosts`), first one first. */
  hosts: readonly string[];
  /** A host's bridge reported its modules (hello and `modules` events; bridge-modules.ts). */
  onModules?: (host: string, report: Parameters<NonNullable<BridgePeerOptions["onModules"]>>[0]) => void;
}

export interface BridgeLink {
  /** Call when the component stream is authenticated: says hello to every host's bridge. */
  online(): void;
  offline(reason: string): void;
  /** Every stanza from the component stream; `refused` when the stream parser had to cut it. */
  receive(el: Element, refused?: string): void;
  /** Ready when every host's bridge is; else the first host that is not, and why. */
  status(): BridgeStatus;
  /** The pending `<ack/>` text for `host`'s bridge, to carry in a command to it ("" when none; bridge-peer.ts). */
  takeAck(host: string): string;
  stop(): void;
}

export function createBridgeLink(opts: BridgeLinkOptions): BridgeLink {
  if (opts.hosts.length === 0) throw new TypeError("Cannot create the bridge link: no host configured");
  const peers = new Map<string, BridgePeer>();
  for (const host of opts.hosts) {
    const key = host.toLowerCase();
    if (peers.has(key)) continue;
    peers.set(
      key,
      createBridgePeer({
        ...opts,
        host,
        log: opts.hosts.length === 1 ? opts.log : withFields(opts.log, { host }),
        onModules: opts.onModules === undefined ? undefined : (report) => opts.onModules?.(host, report),
      }),
    );
  }
  const all = [...peers.values()];
  const fallback = all[0] as BridgePeer;
  /** Unconfigured hosts whose hello request was logged (one line each). */
  const refusedHosts = new Set<string>();

  function receive(el: Element, refused?: string): void {
    const from = typeof el.attrs.from === "string" ? el.attrs.from : "";
    const domain = domainOf(from);
    const peer = peers.get(domain);
    if (peer !== undefined) {
      if (el.name === "message" && el.getChild("hello-request", NS_BRIDGE) !== undefined) return peer.helloRequested();
      return peer.receive(el, refused);
    }
    if (el.name === "message" && from === domain && el.getChild("hello-request", NS_BRIDGE) !== undefined) {
      if (!refusedHosts.has(domain) && refusedHosts.size < 1000) {
        refusedHosts.add(domain);
        opts.log.warn(`A bridge on ${domain} asked for a hello, but ${domain} is not in hosts: add it to serve its users`, {
          hosts: opts.hosts.join(","),
        });
      }
      opts.send(renderHostRefused({ host: domain, componentDomain: opts.componentDomain }));
      return;
    }
    fallback.receive(el, refused);
  }

  return {
    online() {
      for (const peer of all) peer.online();
    },
    offline(reason) {
      for (const peer of all) peer.offline(reason);
    },
    receive,
    status() {
      if (all.length === 1) return fallback.status();
      for (const peer of all) {
        const s = peer.status();
        if (s.state !== "ready") return { ...s, reason: `${peer.host}: ${s.reason}` };
      }
      return fallback.status();
    },
    takeAck: (host) => peers.get(host.toLowerCase())?.takeAck() ?? "",
    stop() {
      for (const peer of all) peer.stop();
    },
  };
}

/** The domain part of a JID, lower-cased (`a@B.example/r` → `b.example`). */
function domainOf(jid: string): string {
  const at = jid.indexOf("@");
  const slash = jid.indexOf("/", at + 1);
  return jid.slice(at + 1, slash === -1 ? undefined : slash).toLowerCase();
}
