/**
 * Several VirtualHosts in one daemon (issue 13): a user is the bare JID `local@host`, and five
 * options may differ per host as they may per VirtualHost in Prosody (push_max_devices,
 * push_max_errors, push_notification_with_body, _with_sender, _important_body). `configFor`
 * gives the options in force for a user: the global ones with that host's overrides.
 * @module
 */
import type { CoreConfig } from "./types.ts";

/** The options a host may set for itself. */
export type HostOverrides = Partial<
  Pick<
    CoreConfig,
    "pushMaxDevices" | "pushMaxErrors" | "pushNotificationWithBody" | "pushNotificationWithSender" | "pushNotificationImportantBody"
  >
>;

/** The host of a user key (`alice@example.com` → `example.com`); "" when it has none. */
export function hostOf(user: string): string {
  const at = user.lastIndexOf("@");
  return at === -1 ? "" : user.slice(at + 1);
}

/** The local part of a user key (`alice@example.com` → `alice`); the key itself when it has no host. */
export function localOf(user: string): string {
  const at = user.lastIndexOf("@");
  return at === -1 ? user : user.slice(0, at);
}

// Merged configs, made once per (config, host): configFor is on the push path.
const merged = new WeakMap<CoreConfig, Map<string, CoreConfig>>();

/** The options in force for `user`: the global config with its host's overrides, if any. */
export function configFor(config: CoreConfig, user: string): CoreConfig {
  const overrides = config.hostOverrides;
  if (overrides === undefined) return config;
  const host = hostOf(user);
  const own = overrides[host];
  if (own === undefined) return config;
  let byHost = merged.get(config);
  if (byHost === undefined) {
    byHost = new Map();
    merged.set(config, byHost);
  }
  let result = byHost.get(host);
  if (result === undefined) {
    result = Object.freeze({ ...config, ...own });
    byHost.set(host, result);
  }
  return result;
}
