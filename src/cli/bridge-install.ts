/**
 * `cloud-notifyd bridge install DIR [--host HOST] [--component JID]`: writes the Prosody bridge
 * module this binary was built with (contrib/prosody/mod_cloud_notifyd.lua, embedded at build
 * time by a Bun text import, so it always speaks this daemon's bridge protocol version) into DIR
 * and prints the Prosody configuration lines to add, for Prosody 0.12 (Debian 12) and 13
 * (Debian 13).
 * @module
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

import bridgeSource from "../../contrib/prosody/mod_cloud_notifyd.lua" with { type: "text" };
import { BRIDGE_VERSION } from "../xmpp/ns.ts";

export const BRIDGE_FILE = "mod_cloud_notifyd.lua";

/** The bridge module's exact text, as embedded in this build. */
export const BRIDGE_SOURCE: string = bridgeSource;

export interface BridgeInstallIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const USAGE = "Usage: cloud-notifyd bridge install DIR [--host HOST] [--component JID]";

/** Runs `bridge …` with the arguments after `bridge`; returns the exit code. */
export function bridgeCommand(args: string[], io: BridgeInstallIo): number {
  if (args[0] !== "install") {
    io.err(`Cannot run bridge: ${args[0] === undefined ? "no subcommand" : `unknown subcommand ${args[0]}`}. ${USAGE}`);
    return 2;
  }
  const parsed = parseArgs(args.slice(1));
  if (typeof parsed === "string") {
    io.err(`Cannot install the bridge: ${parsed}. ${USAGE}`);
    return 2;
  }
  const dir = resolve(parsed.dir);
  const target = join(dir, BRIDGE_FILE);
  try {
    mkdirSync(dir, { recursive: true });
    // Written next to the target, then renamed: a running Prosody never reads half a file.
    const temp = `${target}.${process.pid}.tmp`;
    writeFileSync(temp, BRIDGE_SOURCE, { mode: 0o644 });
    renameSync(temp, target);
  } catch (err) {
    io.err(`Cannot install the bridge into ${dir}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  io.out(`Wrote ${target} (bridge protocol version ${BRIDGE_VERSION}, the one this cloud-notifyd speaks).`);
  io.out("");
  io.out(configLines(dir, parsed.host, parsed.component));
  return 0;
}

function parseArgs(args: string[]): { dir: string; host: string; component: string } | string {
  let dir: string | null = null;
  let host = "example.com";
  let component: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--host" || arg === "--component") {
      const value = args[++i];
      if (value === undefined || value === "" || !/^[^\s"\\]+$/.test(value)) return `${arg} needs a domain`;
      if (arg === "--host") host = value;
      else component = value;
    } else if (arg.startsWith("-")) {
      return `unknown option ${arg}`;
    } else if (dir === null) {
      dir = arg;
    } else {
      return `unexpected argument ${arg}`;
    }
  }
  if (dir === null) return "no directory given";
  return { dir, host, component: component ?? `push.${host}` };
}

/** The lines an operator adds to prosody.cfg.lua, for both supported Prosody versions. */
export function configLines(dir: string, host: string, component: string): string {
  const lua = (s: string) => JSON.stringify(s);
  return [
    "Add to /etc/prosody/prosody.cfg.lua:",
    "",
    `plugin_paths = { ${lua(dir)} }`,
    "",
    `VirtualHost ${lua(host)}`,
    `    modules_enabled = { "cloud_notifyd" }`,
    `    cloud_notifyd_component = ${lua(component)}`,
    "    -- Needed on Prosody 13 (Debian 13), harmless on 0.12: 13 enables its own push module",
    "    -- globally by default, and it must not run beside the bridge.",
    `    modules_disabled = { "cloud_notify" }`,
    "",
    `Component ${lua(component)}`,
    `    component_secret = "<the daemon's component_secret>"`,
    "",
    'Both versions: the global modules_enabled must contain "smacks", "mam", "carbons" and',
    '"offline" (Prosody 13\'s default configuration has "mam" commented out: enable it).',
    "Then restart Prosody and run `cloud-notifyd doctor` to check the whole set-up.",
  ].join("\n");
}
