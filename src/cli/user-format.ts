/**
 * The page `cloud-notifyd user ALICE@HOST` prints, from the JSON of `GET /api/v1/users/{user}`
 * (pure). Nodes are shortened, publish-options are shown as present/absent only.
 * @module
 */
import { agoText } from "../age.ts";
import { shortIdentifier, shortNode } from "../http/short-node.ts";
import type { UserViewJson } from "../http/user-json.ts";

/** "3m", "2h", "4d" since `iso` (or "?" when unknown). */
export function age(iso: string | null, now: number): string {
  if (iso === null) return "?";
  const at = Date.parse(iso);
  return Number.isFinite(now - at) ? agoText(at, now) : "?";
}

function when(iso: string | null, now: number): string {
  return iso === null ? "?" : `${iso.replace(/\.\d{3}Z$/, "Z")} (${age(iso, now)} ago)`;
}

export function formatUserView(v: UserViewJson, now: number): string[] {
  const out: string[] = [];
  out.push(`${v.jid}${v.disabled ? "  (pushes suspended: the account is disabled)" : ""}`);
  out.push("");
  out.push(`Devices (${v.devices.length})`);
  if (v.devices.length === 0) out.push("  none");
  v.devices.forEach((d, i) => {
    out.push(`  ${i + 1}. ${d.jid}  node ${shortNode(d.node)}`);
    out.push(
      `     client id: ${d.clientId ?? "-"}   resource: ${d.resource ?? "-"}   age: ${age(d.createdAt, now)}   updated: ${age(d.updatedAt, now)} ago`,
    );
    const last = d.lastError === null ? "" : `, last: ${d.lastError} at ${when(d.lastErrorAt, now)}`;
    out.push(`     errors: ${d.errorCount}${last}`);
    out.push(
      `     include-payload: ${d.includePayload ? "yes" : "no"}   publish-options: ${d.publishOptions}   extensions: ${d.extensions.length === 0 ? "none" : d.extensions.join(", ")}   bound sessions: ${d.boundSessions.length}`,
    );
  });
  out.push("");
  out.push(`Recent pushes (${v.pushes.length}, newest first)`);
  if (v.pushes.length === 0) out.push("  none");
  for (const p of v.pushes) {
    const latency = p.latencyMs === null ? "-" : `${p.latencyMs} ms`;
    out.push(
      `  ${when(p.at, now)}  ${p.trigger ?? "-"}${p.important ? " (important)" : ""}  ${p.outcome}  ${latency}${p.error === null ? "" : `  ${p.error}`}  → ${shortIdentifier(p.identifier)}`,
    );
  }
  out.push("");
  out.push(`Removals (${v.removals.length}, newest first)`);
  if (v.removals.length === 0) out.push("  none");
  for (const r of v.removals) {
    out.push(`  ${when(r.at, now)}  ${r.reason}${r.detail === null ? "" : ` (${r.detail})`}  ${shortIdentifier(r.identifier)}`);
  }
  out.push("");
  out.push(`Sessions Prosody reports (${v.sessions.length})`);
  if (v.sessions.length === 0) out.push("  none");
  for (const s of v.sessions) {
    const hib = !s.hibernating
      ? "online"
      : s.hibernatingSince === null
        ? "hibernating (since unknown)"
        : `hibernating since ${when(s.hibernatingSince, now)}`;
    out.push(
      `  ${s.resource ?? "-"}  client id: ${s.clientId ?? "-"}  ${hib}  ${s.bound === null ? "not bound" : `bound to ${shortIdentifier(s.bound)}`}`,
    );
  }
  return out;
}
