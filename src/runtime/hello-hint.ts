/**
 * What to check when the host refuses the daemon's bridge hello (issue 15): the refusal's
 * condition says which part of the setup is missing. One line, appended to the error.
 * @module
 */
import { BRIDGE_VERSION } from "../xmpp/ns.ts";

export interface HelloRefusal {
  condition: string;
  text: string | null | undefined;
}

/** `: <what to check>` for the log line and /readyz, or "" when the condition says nothing more. */
export function helloRefusalHint(refusal: HelloRefusal, ctx: { host: string; componentDomain: string }): string {
  switch (refusal.condition) {
    case "feature-not-implemented":
      // A bridge of another protocol version, naming its version.
      return `: ${refusal.text ?? "another protocol version"}; this daemon speaks version ${BRIDGE_VERSION}, install its bridge with: cloud-notifyd bridge install DIR`;
    case "service-unavailable":
    case "feature-not-supported":
      // Nothing on the host handles the hello: Prosody's answer to an IQ no module takes.
      return `: the bridge module is probably not loaded on ${ctx.host}: add "cloud_notifyd" to modules_enabled of VirtualHost "${ctx.host}" (install it with: cloud-notifyd bridge install DIR), check Prosody's log for "mod_cloud_notifyd", and restart Prosody`;
    case "forbidden":
      // The bridge answers forbidden to a component it is not configured for.
      return `: the bridge on ${ctx.host} serves another component: set cloud_notifyd_component = "${ctx.componentDomain}" in VirtualHost "${ctx.host}" (it must equal component_domain)`;
    case "remote-server-not-found":
    case "host-unknown":
    case "item-not-found":
      return `: ${ctx.host} is not a VirtualHost of this Prosody: check host (CLOUD_NOTIFYD_HOST)`;
    default:
      return "";
  }
}
