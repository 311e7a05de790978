/**
 * The bridge's parts, priced one at a time: Prosody (with the bridge) under callgrind receives, from
 * a raw XEP-0114 connection playing the daemon, N copies of one kind of stanza, one at a time, and
 * the instructions per stanza are printed. Kinds:
 *   ack              <message><ack seq/></message> (what the daemon sends every 200 ms or 100 events)
 *   publish-as-host  the daemon's command as it renders it (17 elements, ≈ 900 bytes), forwarded by
 *                    the bridge to a local app component, whose result comes back and is buffered
 *                    as a publish-result event (no daemon hello here: it is not sent on)
 *   publish-direct   the same inner IQ sent by the component from its own JID (publish_from =
 *                    component): routed by Prosody alone, the result routed back to the component
 *   trigger-none, trigger-build, trigger-send
 *                    a small message that makes bench/lib/prosody/mod_bench_publish.lua do nothing,
 *                    build mod_cloud_notify's publish in Lua, or build and send it and take the
 *                    app's result: build − none prices building the publish, send − build routing
 *                    it, writing it and taking the result, the part of a push every design in which
 *                    Prosody sends the publish pays (the floor in docs/performance.md)
 * With bench/prosody-cost.ts's totals this splits our overhead per message (docs/performance.md).
 *
 * Run: node_modules/.bin/bun bench/prosody-stanza-cost.ts [count=100] [--version=0.12|13]
 * @module
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Element } from "ltx";

import { connectComponent } from "../test/helpers/xml-socket.ts";
import { disposeProsody, startProsody } from "../test/helpers/prosody.ts";
import { DEFAULT_PROSODY_VERSION, type ProsodyVersion } from "../test/helpers/prosody-versions.ts";
import { startUnderCallgrind, type CallgrindProsody } from "./lib/callgrind-prosody.ts";
import { fmtInt, result } from "./lib/stats.ts";

const COUNT = Number(process.argv.slice(2).find((a) => !a.startsWith("--")) ?? 100);
const VERSION = (process.argv.find((a) => a.startsWith("--version="))?.slice(10) ?? DEFAULT_PROSODY_VERSION) as ProsodyVersion;
const SECRET = "bench-secret";
const APP_SECRET = "bench-app-secret";
const NS = "urn:cloud-notifyd:bridge:1";
const BENCH_NS = "urn:cloud-notifyd:bench:0";

function publishIq(id: string, from: string): string {
  return (
    `<iq xmlns="jabber:client" type="set" from="${from}" to="app.localhost" id="${id}"><pubsub xmlns="http://jabber.org/protocol/pubsub">` +
    `<publish node="u1-0"><item><notification xmlns="urn:xmpp:push:0"><x xmlns="jabber:x:data" type="form">` +
    `<field type="hidden" var="FORM_TYPE"><value>urn:xmpp:push:summary</value></field>` +
    `<field type="text-single" var="message-count"><value>1</value></field>` +
    `<field type="text-single" var="pending-subscription-count"/><field type="jid-single" var="last-message-sender"/>` +
    `<field type="text-single" var="last-message-body"><value>New Message!</value></field></x></notification></item></publish></pubsub></iq>`
  );
}

const KINDS: Record<string, (n: string) => string> = {
  ack: (n) => `<message from="push.localhost" to="localhost"><ack xmlns="${NS}" epoch="e0000000" seq="${n}"/></message>`,
  "publish-as-host": (n) =>
    `<message from="push.localhost" to="localhost" id="ph-${n}"><publish-as-host xmlns="${NS}">${publishIq(`p${n}`, "localhost")}</publish-as-host></message>`,
  "publish-direct": (n) => publishIq(`d${n}`, "push.localhost").replace(' xmlns="jabber:client"', ""),
  ...Object.fromEntries(
    ["none", "build", "send"].map((mode) => [
      `trigger-${mode}`,
      (n: string) => `<message from="push.localhost" to="localhost" id="t-${n}"><trigger xmlns="${BENCH_NS}" mode="${mode}"/></message>`,
    ]),
  ),
};

const outRoot = mkdtempSync(join(tmpdir(), "cnd-stanza-cost-"));
console.log(
  `# Prosody ${VERSION} + bridge under callgrind: ${COUNT} stanzas of each kind from the daemon's component; dumps in ${outRoot}`,
);
const prosody = await startProsody({
  version: VERSION,
  componentSecret: SECRET,
  bridge: true,
  pluginPaths: [join(import.meta.dir, "lib/prosody")],
  extraModules: ["bench_publish"],
  extraGlobalConfig: `log = { warn = ${JSON.stringify(join(outRoot, "prosody.log"))} }\n`,
  extraConfig: `Component "app.localhost"\n  component_secret = "${APP_SECRET}"\n`,
});
let cg: CallgrindProsody | null = null;
let exitCode = 0;
try {
  await prosody.stop();
  cg = await startUnderCallgrind(prosody, outRoot);
  const vg = cg;
  const app = await connectComponent({ port: prosody.componentPort, domain: "app.localhost", secret: APP_SECRET });
  let results = 0;
  app.onStanza((el) => {
    if (el.name !== "iq" || el.attrs.type !== "set") return false;
    app.send(new Element("iq", { type: "result", from: "app.localhost", to: el.attrs.from, id: el.attrs.id }));
    return true;
  });
  const daemon = await connectComponent({ port: prosody.componentPort, domain: "push.localhost", secret: SECRET });
  daemon.onStanza((el) => {
    if (el.name === "iq" && el.attrs.type === "result") results++;
    return false;
  });
  let counter = 0;
  for (const [kind, render] of Object.entries(KINDS)) {
    const send = async () => {
      daemon.send(render(String(++counter).padStart(6, "0")));
      await idle(vg, 120);
    };
    for (let i = 0; i < 20; i++) await send(); // warm-up
    await idle(vg, 1500);
    vg.start();
    for (let i = 0; i < COUNT; i++) await send();
    await idle(vg, 2500);
    const { instructions } = await vg.dump();
    console.log(
      `${kind}: ${fmtInt(instructions / COUNT)} instructions per stanza (including what it causes: forwarding, the app's result)`,
    );
    result(`stanza_cost.${VERSION}.${kind}`, Math.round(instructions / COUNT), "instructions");
    control(vg, "off");
  }
  void results;
  await daemon.close();
  await app.close();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  exitCode = 1;
} finally {
  await cg?.stop();
  await disposeProsody(prosody);
}
process.exit(exitCode);

/** Instrumentation off between kinds (the next start() switches it on again). */
function control(vg: CallgrindProsody, what: "off"): void {
  Bun.spawnSync(["callgrind_control", "-i", what, String(vg.pid)], { stdout: "ignore", stderr: "ignore" });
}

async function idle(vg: CallgrindProsody, quietMs: number): Promise<void> {
  let last = vg.ticks();
  let since = performance.now();
  while (performance.now() - since < quietMs) {
    await Bun.sleep(40);
    const now = vg.ticks();
    if (now !== last) {
      last = now;
      since = performance.now();
    }
  }
}
