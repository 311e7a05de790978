/**
 * The Prosody 13 chroot built by scripts/prosody13-chroot.sh: where it is, how to run a command in
 * it, and making the paths a test uses (its temp dir, the checkout) visible inside at the same paths.
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const SCRIPT = resolve(import.meta.dir, "../../scripts/prosody13-chroot.sh");
/** A clean PATH: with the host's, prosodyctl 13 re-executes itself through any prosodyctl on it. */
const CLEAN_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", PWD: "/", LANG: "C.UTF-8" };

/** The cache directory (same default and variable as the script). */
export function prosody13Cache(): string {
  return process.env.CLOUD_NOTIFYD_PROSODY13_DIR || "/var/cache/cloud-notifyd/prosody13";
}

export function prosody13Root(): string {
  return join(prosody13Cache(), "root");
}

/** `chroot ROOT BIN ARGS…` with the environment and working directory Prosody 13 needs. */
export function chrootCommand(bin: string, args: string[]): { cmd: string; args: string[]; cwd: string; env: Record<string, string> } {
  return { cmd: "/usr/sbin/chroot", args: [prosody13Root(), bin, ...args], cwd: "/", env: { ...CLEAN_ENV } };
}

function visibleInside(root: string, path: string): boolean {
  try {
    const outside = statSync(path);
    const inside = statSync(join(root, path));
    return outside.dev === inside.dev && outside.ino === inside.ino;
  } catch {
    return false;
  }
}

/**
 * Throws one line unless the chroot is built; mounts (through the script, idempotent) whatever of
 * `paths` is not yet visible inside at the same path — e.g. after a reboot or from another checkout.
 */
export function ensureVisibleInChroot(paths: string[]): void {
  const root = prosody13Root();
  if (!existsSync(join(prosody13Cache(), "ready"))) {
    throw new Error(`Cannot start Prosody 13: no chroot at ${root} (run ./scripts/setup.sh, or set CLOUD_NOTIFYD_TEST_PROSODY=0.12)`);
  }
  const missing = ["/dev", ...paths].filter((p) => !visibleInside(root, p));
  if (missing.length === 0 && existsSync(join(root, "proc/self"))) return;
  const r = Bun.spawnSync([SCRIPT, "mount", ...missing], { stdout: "pipe", stderr: "pipe" });
  const still = missing.filter((p) => !visibleInside(root, p));
  if (r.exitCode !== 0 || still.length > 0) {
    const why = r.stderr.toString().trim() || `${still.join(", ")} not visible inside`;
    throw new Error(`Cannot start Prosody 13: ${why}`);
  }
}
