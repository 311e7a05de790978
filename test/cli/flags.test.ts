/**
 * Issue 15 item 6, with the compiled binary: an unknown flag or option is one line and a
 * non-zero exit, never a daemon started on the default store and port; --version/-V and
 * --help/-h keep working; check-config prints the TOML option names; an unknown CLOUD_NOTIFYD_
 * variable is an error when it is a typo, a warning otherwise; `migrate` creates the store 0600.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import pkg from "../../package.json" with { type: "json" };
import { BINARY, ensureBinary, freePort } from "../helpers/daemon.ts";

const root = mkdtempSync(join(tmpdir(), "cnd-flags-"));
beforeAll(() => ensureBinary(), 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  lines: string[];
  dataDir: string;
}

let runs = 0;
async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const dataDir = join(root, `data-${++runs}`);
  const proc = Bun.spawn([BINARY, ...args], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: "/tmp",
      CLOUD_NOTIFYD_DATA_DIR: dataDir,
      CLOUD_NOTIFYD_ADMIN_PORT: String(await freePort()),
      ...env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  // A daemon started by mistake would run until killed: the timeout makes that a failure.
  const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, lines: stderr.split("\n").filter((l) => l.trim() !== ""), dataDir };
}

describe("unknown flags and options", () => {
  test.each([
    [["-v"], "cloud-notifyd: unknown option -v for run (see --help)"],
    [["--confg", "x.toml"], "cloud-notifyd: unknown option --confg for run (did you mean --config? see --help)"],
    [["--confg=x.toml"], "cloud-notifyd: unknown option --confg for run (did you mean --config? see --help)"],
    [["run", "-x"], "cloud-notifyd: unknown option -x for run (see --help)"],
    [["check-config", "--verbose"], "cloud-notifyd: unknown option --verbose for check-config (see --help)"],
    [["migrate", "extra"], "cloud-notifyd: unexpected argument 'extra' for migrate (see --help)"],
    [["doctor", "-q"], "cloud-notifyd: unknown option -q for doctor (see --help)"],
    [["import-prosody", "/nonexistent", "--bogus"], /^Cannot import: unknown option --bogus \(usage: cloud-notifyd import-prosody DIR/],
  ] as Array<[string[], string | RegExp]>)("%p is one line, exit 2, and nothing starts", async (args, expected) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    const out = [...r.lines, ...r.stdout.split("\n").filter((l) => l !== "")];
    expect(out).toHaveLength(1);
    if (typeof expected === "string") expect(out[0]).toBe(expected);
    else expect(out[0]).toMatch(expected);
    expect(existsSync(r.dataDir)).toBe(false); // no store was opened
  });

  test.each([[["--version"]], [["-V"]], [["check-config", "--version"]]] as Array<[string[]]>)("%p prints the version", async (args) => {
    const r = await run(args);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`cloud-notifyd ${pkg.version}`);
  });

  test.each([[["--help"]], [["-h"]], [["run", "--help"]]] as Array<[string[]]>)("%p prints the usage", async (args) => {
    const r = await run(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage:");
    expect(r.stdout).toContain("cloud-notifyd check-config");
  });

  test("a secret as an option is refused with its own reason", async () => {
    const r = await run(["--component-secret=x"]);
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toContain("--component-secret is not accepted on the command line");
  });
});

describe("configuration keys", () => {
  test("check-config prints the TOML option names, not camelCase", async () => {
    const path = join(root, "c.toml");
    writeFileSync(path, "push_max_errors = 7\n", { mode: 0o600 });
    const r = await run(["check-config", "--config", path], { CLOUD_NOTIFYD_COMPONENT_SECRET: "flags-secret-1" });
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({
      config_file: path,
      push_max_errors: 7,
      component_secret: "(set)",
      admin_token: "(not set)",
      component_domain: "push.localhost",
    });
    expect(Object.keys(shown).filter((k) => /[A-Z]/.test(k))).toEqual([]);
    expect(r.stdout).not.toContain("flags-secret-1");
  });

  test("a CLOUD_NOTIFYD_ typo is an error naming the option; another unknown variable a warning", async () => {
    const typo = await run(["check-config"], { CLOUD_NOTIFYD_PUSH_MAX_ERORS: "3" });
    expect(typo.code).toBe(1);
    expect(typo.lines).toEqual([
      "Cannot load config: unknown environment variable CLOUD_NOTIFYD_PUSH_MAX_ERORS (did you mean CLOUD_NOTIFYD_PUSH_MAX_ERRORS?)",
    ]);
    const foreign = await run(["check-config"], { CLOUD_NOTIFYD_TEST_PROSODY: "all" });
    expect(foreign.code).toBe(0);
    expect(foreign.lines).toHaveLength(1);
    expect(foreign.lines[0]).toMatch(
      /level=warn msg="unknown environment variable CLOUD_NOTIFYD_TEST_PROSODY ignored \(not a cloud-notifyd option\)"/,
    );
  });

  test("an unknown TOML key is an error naming it and the option it resembles", async () => {
    const path = join(root, "bad.toml");
    writeFileSync(path, "push_max_devises = 3\n", { mode: 0o600 });
    const r = await run(["check-config", "--config", path]);
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([`Cannot load config: unknown key push_max_devises in ${path} (did you mean push_max_devices?)`]);
  });
});

describe("store mode", () => {
  test("migrate creates the store, its WAL and its directory private (0600/0700) under umask 022", async () => {
    const r = await run(["migrate"]);
    expect(r.code).toBe(0);
    const db = join(r.dataDir, "cloud-notifyd.db");
    const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
    expect(mode(db)).toBe("600");
    expect(mode(r.dataDir)).toBe("700");
    for (const side of ["-wal", "-shm"]) if (existsSync(`${db}${side}`)) expect(mode(`${db}${side}`)).toBe("600");
  });
});
