/**
 * Which Prosody the tests run against — the one place that decides it.
 *
 * `CLOUD_NOTIFYD_TEST_PROSODY` = `0.12` (Debian 12's packaged /usr/bin/prosody), `13` (Debian 13's
 * package in the chroot that scripts/prosody13-chroot.sh builds), or `all` (the default; CI sets it).
 *
 * How a test file that starts a Prosody uses it — wrap its top-level `describe` and pass the version on:
 *
 * ```ts
 * import { describeProsody } from "../helpers/prosody-versions.ts";
 *
 * describeProsody("bridge on a shared Prosody", (version) => {
 *   let p: ProsodyInstance;
 *   beforeAll(async () => { p = await startProsody({ version, componentSecret: "s" }); });
 *   afterAll(async () => { await disposeProsody(p); });
 *   test("B26 …", async () => { … });            // reported as "bridge on a shared Prosody [prosody 13] > B26 …"
 * });
 * // push-stack tests: describeProsody("…", (version) => { const stack = usePushStacks(version); … })
 * ```
 *
 * Everything a file starts (beforeAll/afterAll, module state) belongs inside the callback, so each
 * version gets its own Prosody. A test that cannot apply to one version keeps running there and says
 * why in its name (e.g. `… [prosody 13: not applicable, <reason>]`) while it asserts that reason;
 * never `test.skip`.
 * @module
 */
import { describe } from "bun:test";

export type ProsodyVersion = "0.12" | "13";

export const ALL_PROSODY_VERSIONS: readonly ProsodyVersion[] = ["0.12", "13"];

export const PROSODY_VERSION_ENV = "CLOUD_NOTIFYD_TEST_PROSODY";

/** Parses `CLOUD_NOTIFYD_TEST_PROSODY` (unset or empty → `all`); throws one line on anything else. */
export function parseProsodyVersions(value: string | undefined): ProsodyVersion[] {
  const v = (value ?? "").trim();
  if (v === "" || v === "all") return [...ALL_PROSODY_VERSIONS];
  if ((ALL_PROSODY_VERSIONS as readonly string[]).includes(v)) return [v as ProsodyVersion];
  throw new Error(`Cannot read ${PROSODY_VERSION_ENV}: "${v}" is not one of 0.12, 13, all`);
}

/** The versions this run tests, in order. */
export const PROSODY_VERSIONS: readonly ProsodyVersion[] = parseProsodyVersions(process.env[PROSODY_VERSION_ENV]);

/** The version a single Prosody starts as when no version is given (scripts, one-off tools): the first selected. */
export const DEFAULT_PROSODY_VERSION: ProsodyVersion = PROSODY_VERSIONS[0] ?? "0.12";

/** The suffix every per-version describe name carries: ` [prosody 13]`. */
export function prosodyLabel(version: ProsodyVersion): string {
  return `[prosody ${version}]`;
}

/** One `describe(\`${name} [prosody V]\`)` per selected version; `fn` gets the version. */
export function describeProsody(name: string, fn: (version: ProsodyVersion) => void): void {
  for (const version of PROSODY_VERSIONS) describe(`${name} ${prosodyLabel(version)}`, () => fn(version));
}

/** Calls `fn` once per selected version (for tests that build their own names). */
export function forEachProsody(fn: (version: ProsodyVersion) => void): void {
  for (const version of PROSODY_VERSIONS) fn(version);
}

/** `server` attribute / `prosodyctl about` prefix a running Prosody of this version reports (e.g. /^Prosody 13\./). */
export function serverPattern(version: ProsodyVersion): RegExp {
  return new RegExp(`^Prosody ${version.replace(".", "\\.")}\\.`);
}
