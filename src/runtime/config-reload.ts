/**
 * SIGHUP (issue 15): what a re-read configuration changes in the running daemon. Applied at
 * once: `log_level`, `admin_token` (its file is read again; the admin page's sessions end when
 * it changes) and `component_secret` (its file is read again; the component reconnects with
 * it). Every other option needs a restart: a changed one is named in a warning and the running
 * value is kept. Pure: daemon.ts and main.ts carry the plan out.
 * @module
 */
import { type Config, type LogLevel, tomlKey } from "../config.ts";

export interface ReloadPlan {
  /** The new level, or null when unchanged. */
  logLevel: LogLevel | null;
  /** The new component secret, or null when unchanged (never logged). */
  componentSecret: string | null;
  /** Whether the admin token changed (to `next.adminToken`). */
  adminTokenChanged: boolean;
  /** TOML names of the other options that differ: they take effect at the next start. */
  needRestart: string[];
}

const APPLIED = new Set<keyof Config>(["logLevel", "componentSecret", "adminToken", "configPath"]);

export function planReload(current: Readonly<Config>, next: Readonly<Config>): ReloadPlan {
  const needRestart: string[] = [];
  for (const field of Object.keys(next) as Array<keyof Config>) {
    if (APPLIED.has(field)) continue;
    if (JSON.stringify(current[field]) !== JSON.stringify(next[field])) needRestart.push(tomlKey(field));
  }
  return {
    logLevel: next.logLevel === current.logLevel ? null : next.logLevel,
    componentSecret: next.componentSecret === current.componentSecret ? null : next.componentSecret,
    adminTokenChanged: next.adminToken !== current.adminToken,
    needRestart,
  };
}
