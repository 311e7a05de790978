/**
 * D21 cost: how long the bridge's unclean-stop recovery takes at Prosody start, for N users with
 * messages in offline storage (internal storage, the default). Seeds one real offline message
 * through Prosody, copies its stored file to N users, marks the previous process as not stopped
 * cleanly, starts Prosody with the bridge and reads the time the bridge logs for the scan.
 *
 *   bun bench/recovery-scan.ts [N=100000] [version=0.12|13]
 * Prints: RESULT recovery_scan_seconds{prosody=…,users=N} S  (and the start time of Prosody).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { disposeProsody, startProsody } from "../test/helpers/prosody.ts";
import type { ProsodyVersion } from "../test/helpers/prosody-versions.ts";
import { startClient } from "../test/helpers/xmpp-client.ts";

const N = Number(process.argv[2] ?? 100_000);
const version = (process.argv[3] ?? "0.12") as ProsodyVersion;
const PW = "pw";

const p = await startProsody({
  version,
  componentSecret: "scan-secret",
  bridge: true,
  users: [
    ["sender", PW],
    ["seed", PW],
  ],
  startTimeoutMs: 60000,
});
try {
  const sender = await startClient({ jid: "sender@localhost/s", password: PW, port: p.c2sPort, sm: false });
  sender.command({ cmd: "message", to: "seed@localhost", body: "a typical chat message of some length", id: "seed-1" });
  await sender.iq(`<iq type='get' id='ping' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`, "ping");
  await sender.quit();
  await p.stop();
  const dir = join(p.dir, "data", "localhost");
  const seed = readFileSync(join(dir, "offline", "seed.list"), "utf8");
  const t0 = performance.now();
  for (let i = 0; i < N; i++) writeFileSync(join(dir, "offline", `u${i}.list`), seed);
  writeFileSync(join(dir, "cloud_notifyd_state.dat"), `return {\n\t["running"] = true;\n};\n`);
  console.log(`seeded ${N} offline stores in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const started = performance.now();
  await p.restart();
  const ready = (performance.now() - started) / 1000;
  let line: string | undefined;
  const deadline = Date.now() + 600_000;
  while (line === undefined && Date.now() < deadline) {
    line = (await p.log()).split("\n").find((l) => l.includes("stopped without saving its events"));
    if (line === undefined) await Bun.sleep(200);
  }
  const m = line?.match(/reported ([0-9]+) users .*\(([0-9.]+)s\)/);
  if (!m) throw new Error(`Cannot find the bridge's scan line in the Prosody log`);
  console.log(`Prosody ${version} ready in ${ready.toFixed(2)} s; bridge reported ${m[1]} users`);
  console.log(`RESULT recovery_scan_seconds{prosody="${version}",users="${N}"} ${m[2]}`);
} finally {
  await disposeProsody(p);
}
