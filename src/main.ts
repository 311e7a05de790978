/**
 * Command line entry of the cloud-notifyd executable.
 *   cloud-notifyd [--config FILE]            run the daemon
 *   cloud-notifyd check-config [--config F]  validate the configuration and print it (no secrets)
 *   cloud-notifyd migrate [--config F]       apply the store's migrations and exit
 *   cloud-notifyd import-prosody DIR [--host H] [--dry-run] [--config F]  import mod_cloud_notify registrations
 *   cloud-notifyd bridge install DIR [--host H] [--component C]  write the embedded Prosody bridge module
 *   cloud-notifyd doctor [--config F]        ask the running daemon how it is (checklist)
 *   cloud-notifyd --version | --help
 * @module
 */
import pkg from "../package.json" with { type: "json" };
import { bridgeCommand } from "./cli/bridge-install.ts";
import { doctor, readyzUrl } from "./cli/doctor.ts";
import { importProsody } from "./cli/import-prosody.ts";
import { userCommand } from "./cli/user.ts";
import { configForDisplay, loadConfig } from "./config.ts";
import { startDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { openStore } from "./store/db.ts";
import { storeErrorText } from "./store/errors.ts";
import { redactStoreUrl } from "./store/store-url.ts";

const USAGE = `cloud-notifyd ${pkg.version}: XEP-0357 push notifications for your XMPP server

Usage:
  cloud-notifyd [--config FILE]              run the daemon
  cloud-notifyd check-config [--config FILE] validate the configuration and print it (secrets hidden)
  cloud-notifyd migrate [--config FILE]      create or upgrade the store, then exit
  cloud-notifyd import-prosody DIR [--host HOST] [--dry-run] [--config FILE]
                                             import mod_cloud_notify registrations from
                                             Prosody's data directory DIR into the store
  cloud-notifyd bridge install DIR [--host HOST] [--component JID]
                                             write the Prosody bridge module of this version
                                             into DIR and print the Prosody config lines
  cloud-notifyd doctor [--config FILE]       ask the running daemon whether it is ready and
                                             print a checklist (exit 1 when not ready)
  cloud-notifyd user USER [--limit N] [--json] | user --list [PREFIX]
                                             ask the running daemon about one user (devices,
                                             pushes, removals, sessions) or list users
  cloud-notifyd --version                    print the version
  cloud-notifyd --help                       print this help

Configuration: a TOML file (--config) and CLOUD_NOTIFYD_<KEY> environment variables, which win.
Secrets (component_secret, admin_token, store_auth_token) come from the environment or a file
(<key>_file), never from the command line. See contrib/cloud-notifyd.example.toml.
`;

async function main(argv: string[]): Promise<number> {
  const args = argv.slice(2);
  if (args.includes("--version") || args.includes("-V")) {
    console.log(`cloud-notifyd ${pkg.version}`);
    return 0;
  }
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const command = args[0] !== undefined && !args[0].startsWith("-") ? args[0] : "run";
  if (command === "bridge") {
    return bridgeCommand(args.slice(1), { out: (l) => console.log(l), err: (l) => console.error(l) });
  }
  if (!["run", "check-config", "migrate", "import-prosody", "doctor", "user"].includes(command)) {
    console.error(`cloud-notifyd: unknown command '${command}' (see --help)`);
    return 2;
  }
  // First: a secret given as an option gets loadConfig's "not accepted on the command line".
  const loaded = loadConfig(process.env, argv, { requireSecret: false });
  if (!loaded.ok) {
    console.error(loaded.error);
    return 1;
  }
  // import-prosody and user check their own arguments (and refuse unknown ones).
  const badArgs =
    command === "import-prosody" || command === "user" ? null : checkArgs(command, args[0] === command ? args.slice(1) : args);
  if (badArgs !== null) {
    console.error(`cloud-notifyd: ${badArgs}`);
    return 2;
  }
  const { config } = loaded;
  const log = createLogger({ level: config.logLevel });
  for (const warning of loaded.warnings) log.warn(warning);

  if (command === "check-config") {
    console.log(JSON.stringify(configForDisplay(config, redactStoreUrl), null, 2));
    return 0;
  }
  if (command === "user") return userCommand(args.slice(1), config, { out: (l) => console.log(l), err: (l) => console.error(l) });
  if (command === "doctor") {
    return doctor(readyzUrl(config.adminHost, config.adminPort), { out: (l) => console.log(l), err: (l) => console.error(l) });
  }
  if (command === "import-prosody") {
    return importProsody(args.slice(1), { config, log, out: process.stdout });
  }
  if (command === "migrate") {
    const shownUrl = redactStoreUrl(config.storeUrl);
    let store: Awaited<ReturnType<typeof openStore>>;
    try {
      store = await openStore(config.storeUrl, {
        ...(config.storeAuthToken ? { authToken: config.storeAuthToken } : {}),
        hosts: config.hosts,
        log,
      });
    } catch (err) {
      console.error(oneLine(err));
      return 1;
    }
    try {
      const count = await store.countRegistrations();
      if (!store.integrity.ok) {
        console.error(`Cannot trust store ${shownUrl}: ${store.integrity.reason}`);
        return 1;
      }
      log.info("store migrated", { url: shownUrl, registrations: count });
      return 0;
    } catch (err) {
      console.error(`Cannot read store ${shownUrl}: ${storeErrorText(err)}`);
      return 1;
    } finally {
      await store.close().catch(() => {});
    }
  }

  const listen = await checkListenHost(config.adminHost, config.adminPort);
  if (listen !== null) {
    log.error("cannot start", { error: listen });
    return 1;
  }
  const started = performance.now();
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon(config, log);
  } catch (err) {
    log.error("cannot start", { error: oneLine(err) });
    return 1;
  }
  log.info("cloud-notifyd started", {
    version: pkg.version,
    admin: daemon.adminUrl,
    store: redactStoreUrl(config.storeUrl),
    startup_ms: Math.round(performance.now() - started),
    rss_mb: Math.round(process.memoryUsage.rss() / 1048576),
  });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info("shutting down", { signal });
      void daemon.stop().then(
        () => resolve(0),
        (err) => {
          log.error("shutdown failed", { error: err instanceof Error ? err.message : String(err) });
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", () => shutdown("SIGTERM"));
    process.on("SIGINT", () => shutdown("SIGINT"));
    // SIGHUP: re-read the config file, the secret files and the environment (docs/operations.md §2).
    let reloading: Promise<void> = Promise.resolve();
    process.on("SIGHUP", () => {
      reloading = reloading
        .then(async () => {
          if (stopping) return;
          const next = loadConfig(process.env, argv, { requireSecret: false });
          if (!next.ok) {
            log.error("Cannot reload config: keeping the running one", { error: next.error });
            return;
          }
          for (const warning of next.warnings) log.warn(warning);
          log.setLevel(next.config.logLevel);
          await daemon.reload(next.config);
        })
        .catch((err: unknown) => log.error("Cannot reload config", { error: oneLine(err) }));
    });
  });
}

/**
 * The commands main() runs itself take only `--config FILE` (or `--config=FILE`) and no other
 * argument: anything else is one line naming it, so a typo (`-v`, `--confg x.toml`) never starts
 * a daemon on the default store and port. Returns that line, or null.
 */
function checkArgs(command: string, rest: string[]): string | null {
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === "--config") {
      i++; // its value; a missing one is loadConfig's "--config needs a file path"
      continue;
    }
    if (arg.startsWith("--config=")) continue;
    if (!arg.startsWith("-")) return `unexpected argument '${arg}' for ${command} (see --help)`;
    const near = arg.startsWith("--c") || arg === "-c" ? "did you mean --config? " : "";
    return `unknown option ${arg.split("=", 1)[0]} for ${command} (${near}see --help)`;
  }
  return null;
}

/**
 * Bun answers a host name it cannot resolve with `ENOTTY … listen`; resolving it first gives
 * the real reason. Returns the error line, or null when the name resolves.
 */
async function checkListenHost(host: string, port: number): Promise<string | null> {
  if (isIP(host) !== 0) return null;
  try {
    await lookup(host);
    return null;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return `Cannot listen on admin_host ${host}:${port}: cannot resolve ${host}${typeof code === "string" ? ` (${code})` : ""}`;
  }
}

/** An error as one line: our "Cannot …" messages already are; anything else gets its root cause. */
function oneLine(err: unknown): string {
  const text = err instanceof Error && err.message.startsWith("Cannot ") ? err.message : `Cannot run: ${storeErrorText(err)}`;
  return text.replace(/\s+/g, " ").trim();
}

// Whatever escapes (a store error in a timer, a bug): one line, exit non-zero, never a stack trace.
process.on("uncaughtException", (err) => {
  console.error(`cloud-notifyd: ${oneLine(err)}`);
  process.exit(1);
});
process.on("unhandledRejection", (err) => {
  console.error(`cloud-notifyd: ${oneLine(err)}`);
  process.exit(1);
});

let code: number;
try {
  code = await main(Bun.argv);
} catch (err) {
  console.error(oneLine(err));
  code = 1;
}
process.exit(code);
