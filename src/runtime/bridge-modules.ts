/**
 * What the bridge reports about its host's modules (bridge-protocol.md §1 hello `conflict` and
 * `<module>`, §2 `modules` event): Prosody's own mod_cloud_notify loaded beside the bridge (the
 * daemon is then not ready, with the fix as the reason) and the companion modules the push
 * behaviour relies on (a missing one is a warning: ready, but some pushes cannot happen).
 * Logs one line when a conflict begins and one warning per module when it goes missing.
 * @module
 */
import type { ReadinessCheck } from "../http/deps.ts";
import type { Logger } from "../log.ts";

import type { ModuleReport } from "../xmpp/parse-bridge.ts";

/** What each companion module is for, in the warning that it is missing. */
const PURPOSE: Record<string, string> = {
  smacks: "no pushes for hibernating stream-management sessions",
  mam: "no pushes for messages that reach another of the user's clients (archive path)",
  carbons: "clients miss the copies of messages sent from their other devices",
  offline: "no pushes for messages to users with no session (offline path)",
};

export interface BridgeModules {
  update(report: ModuleReport): void;
  /** The readiness reason while a conflicting module is loaded, else null. */
  conflictReason(): string | null;
  /** One readiness check per reported companion module: `mod_<name>`. */
  checks(): Record<string, ReadinessCheck>;
}

/** The bridge's readiness check: not ready while a conflicting push module is loaded. */
export function conflictCheck(reason: string | null): ReadinessCheck {
  return reason === null ? { ok: true } : { ok: false, reason };
}

export function conflictText(host: string, name: string): string {
  return (
    `mod_${name} is loaded on ${host} beside the bridge, which therefore forwards nothing: ` +
    `add modules_disabled = { "${name}" } to VirtualHost "${host}" (or remove "${name}" from modules_enabled) and restart Prosody`
  );
}

export function missingText(host: string, name: string): string {
  const purpose = PURPOSE[name];
  return `mod_${name} is not loaded on ${host}${purpose === undefined ? "" : `: ${purpose}`}; add "${name}" to modules_enabled`;
}

export function createBridgeModules(opts: { host: string; log: Logger }): BridgeModules {
  const { host, log } = opts;
  let report: ModuleReport = { conflict: null, modules: null };
  let conflictLogged: string | null = null;
  const warned = new Set<string>();
  return {
    update(next) {
      report = next;
      if (next.conflict !== null && next.conflict !== conflictLogged) {
        log.error(`Cannot push: ${conflictText(host, next.conflict)}`);
      } else if (next.conflict === null && conflictLogged !== null) {
        log.info("the conflicting push module is no longer loaded: the bridge forwards again", { module: `mod_${conflictLogged}` });
      }
      conflictLogged = next.conflict;
      for (const m of next.modules ?? []) {
        if (m.loaded) warned.delete(m.name);
        else if (!warned.has(m.name)) {
          warned.add(m.name);
          log.warn(missingText(host, m.name));
        }
      }
    },
    conflictReason: () => (report.conflict === null ? null : conflictText(host, report.conflict)),
    checks() {
      const out: Record<string, ReadinessCheck> = {};
      for (const m of report.modules ?? []) {
        out[`mod_${m.name}`] = m.loaded ? { ok: true } : { ok: true, warning: missingText(host, m.name) };
      }
      return out;
    },
  };
}
