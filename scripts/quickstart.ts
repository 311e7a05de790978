/**
 * See a push happen end to end on this machine, in one command (`npm run quickstart`):
 * a throw-away Prosody with the bridge, the compiled daemon, a toy app push service, a phone
 * (slixmpp) that enables push and goes offline, and a friend who sends it a message.
 * Everything runs on loopback in a temporary directory and is removed at the end.
 */
import { Element } from "ltx";

import { ensureBinary, startDaemon } from "../test/helpers/daemon.ts";
import { disposeProsody, startProsody } from "../test/helpers/prosody.ts";
import { connectComponent } from "../test/helpers/xml-socket.ts";
import { startClient } from "../test/helpers/xmpp-client.ts";

const say = (msg: string) => console.log(`» ${msg}`);
const SECRET = "quickstart-secret";
const APP = "app.localhost";

say("building dist/cloud-notifyd");
await ensureBinary();
say("starting Prosody with mod_cloud_notifyd and a Component for the toy app service");
const prosody = await startProsody({
  componentSecret: SECRET,
  bridge: true,
  users: [
    ["phone", "pw"],
    ["friend", "pw"],
  ],
  extraConfig: `Component "${APP}"\n    component_secret = "${SECRET}"\n`,
});
const stops: Array<() => Promise<unknown>> = [() => disposeProsody(prosody)];
try {
  say("starting the daemon");
  const daemon = await startDaemon({
    env: {
      CLOUD_NOTIFYD_HOST: prosody.host,
      CLOUD_NOTIFYD_COMPONENT_DOMAIN: prosody.componentDomain,
      CLOUD_NOTIFYD_COMPONENT_PORT: String(prosody.componentPort),
      CLOUD_NOTIFYD_COMPONENT_SECRET: SECRET,
      CLOUD_NOTIFYD_LOG_LEVEL: "info",
    },
  });
  stops.unshift(() => daemon.stop());
  await daemon.waitReady();
  say(`daemon ready: ${daemon.url("/readyz")}`);

  const app = await connectComponent({ port: prosody.componentPort, domain: APP, secret: SECRET });
  stops.unshift(() => app.close());
  app.onStanza((el) => {
    if (el.name !== "iq" || el.attrs.type !== "set") return false;
    app.send(new Element("iq", { type: "result", id: el.attrs.id, to: el.attrs.from, from: APP }));
    return false;
  });

  const phone = await startClient({ jid: `phone@${prosody.host}`, password: "pw", port: prosody.c2sPort });
  const enable = `<iq type='set' id='en1'><enable xmlns='urn:xmpp:push:0' jid='${APP}' node='device-token-1'/></iq>`;
  const reply = await phone.iq(enable, "en1");
  say(`phone enabled push: iq ${reply.type}`);
  await phone.quit();
  say("phone went offline");

  const friend = await startClient({ jid: `friend@${prosody.host}`, password: "pw", port: prosody.c2sPort });
  stops.unshift(() => friend.quit());
  friend.command({ cmd: "message", to: `phone@${prosody.host}`, body: "are you there?", id: "m1", type: "chat" });
  say("friend sent a message to the phone");

  const publish = await app.waitFor((el) => el.name === "iq" && el.attrs.type === "set", 10000, "publish");
  say(`the app push service received this publish (from ${publish.attrs.from}):`);
  console.log(publish.toString());
  say("the message body did not leave the server; the placeholder marks it as important");
} finally {
  for (const stop of stops) await stop().catch(() => {});
}
