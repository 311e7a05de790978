/**
 * Command line entry of the cloud-notifyd executable.
 *   cloud-notifyd [--config FILE]            run the daemon
 *   cloud-notifyd check-config [--config F]  validate the configuration and print it (no secrets)
 *   cloud-notifyd migrate [--config F]       apply the store's migrations and exit
 *   cloud-notifyd import-prosody DIR [--host H] [--dry-run] [--config F]  import mod_cloud_notify registrations
 *   cloud-notifyd --version | --help
 * @module
 */
import pkg from "../package.json" with { type: "json" };
import { importProsody } from "./cli/import-prosody.ts";
import { loadConfig } from "./config.ts";
import { startDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";
import { openStore } from "./store/db.ts";

const USAGE = `cloud-notifyd ${pkg.version}: XEP-0357 push notifications for your XMPP server

Usage:
  cloud-notifyd [--config FILE]              run the daemon
  cloud-notifyd check-config [--config FILE] validate the configuration and print it (secrets hidden)
  cloud-notifyd migrate [--config FILE]      create or upgrade the store, then exit
  cloud-notifyd import-prosody DIR [--host HOST] [--dry-run] [--config FILE]
                                             import mod_cloud_notify registrations from
                                             Prosody's data directory DIR into the store
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
  if (!["run", "check-config", "migrate", "import-prosody"].includes(command)) {
    console.error(`cloud-notifyd: unknown command '${command}' (see --help)`);
    return 2;
  }
  const loaded = loadConfig(process.env, argv, { requireSecret: false });
  if (!loaded.ok) {
    console.error(loaded.error);
    return 1;
  }
  const { config } = loaded;
  const log = createLogger({ level: config.logLevel });
  for (const warning of loaded.warnings) log.warn(warning);

  if (command === "check-config") {
    const shown = { ...config, componentSecret: config.componentSecret ? "(set)" : "(not set)", adminToken: config.adminToken ? "(set)" : null, storeAuthToken: config.storeAuthToken ? "(set)" : null };
    console.log(JSON.stringify(shown, null, 2));
    return 0;
  }
  if (command === "import-prosody") {
    return importProsody(args.slice(1), { config, log, out: process.stdout });
  }
  if (command === "migrate") {
    const store = await openStore(config.storeUrl, config.storeAuthToken ? { authToken: config.storeAuthToken } : {});
    const count = await store.countRegistrations();
    await store.close();
    log.info("store migrated", { url: redactUrl(config.storeUrl), registrations: count });
    return 0;
  }

  const started = performance.now();
  let daemon;
  try {
    daemon = await startDaemon(config, log);
  } catch (err) {
    log.error("cannot start", { error: err instanceof Error ? err.message : String(err) });
    return 1;
  }
  log.info("cloud-notifyd started", {
    version: pkg.version,
    admin: daemon.adminUrl,
    store: redactUrl(config.storeUrl),
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
  });
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

process.exit(await main(Bun.argv));
