/**
 * Issue 15 item 3 in a real browser: Debian's chromium driven by playwright-core against the
 * COMPILED daemon, connected to the fake bridge (Prosody + bridge module) whose app service
 * answers every publish with an error. Asserts what the page shows for that user (device with its
 * error, the failed push, the hibernating session), the login/logout flow, that the session
 * cookie is HttpOnly + SameSite=Strict and not the token, that a cross-origin logout is refused,
 * and that no secret (token, node, publish-options value, message body, component secret) is in
 * the HTML. Takes a screenshot into a temp dir and prints its path.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Element } from "ltx";
import { type Browser, chromium } from "playwright-core";

import { type Daemon, ensureBinary, startDaemon } from "../helpers/daemon.ts";
import { type FakeBridge, NS_BRIDGE, startFakeBridge, waitFor } from "../helpers/fake-bridge.ts";

const CHROMIUM = "/usr/bin/chromium";
const SECRET = "admin-page-component-secret";
const TOKEN = "admin-page-token-5f0c2a9e7b41d3";
const HOST = "localhost";
const COMP = "push.localhost";
const APP = "push.app.example";
const NODE = "f00dfeedcafe0123456789abcdef4242";
const FORM_SECRET = "form-secret-value-9d8c7b";
const BODY = "Top secret message body 7e6f";

let bridge: FakeBridge;
let daemon: Daemon;
let browser: Browser;
let shots: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Cannot run the browser test: ${CHROMIUM} is missing (scripts/setup.sh installs chromium)`);
  await ensureBinary();
  // The app service refuses every push with a non-transient error.
  bridge = await startFakeBridge({
    secret: SECRET,
    host: HOST,
    componentDomain: COMP,
    publishReply: (inner) =>
      new Element("iq", { type: "error", from: inner.attrs.to, to: HOST, id: inner.attrs.id })
        .c("error", { type: "cancel" })
        .c("internal-server-error", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" })
        .root(),
  });
  daemon = await startDaemon({
    env: {
      CLOUD_NOTIFYD_HOST: HOST,
      CLOUD_NOTIFYD_COMPONENT_DOMAIN: COMP,
      CLOUD_NOTIFYD_COMPONENT_PORT: String(bridge.port),
      CLOUD_NOTIFYD_COMPONENT_SECRET: SECRET,
      CLOUD_NOTIFYD_ADMIN_TOKEN: TOKEN,
      CLOUD_NOTIFYD_LOG_LEVEL: "info",
    },
  });
  await daemon.waitReady();
  const conn = await bridge.ready();
  const replies = new Set<string>();
  bridge.onStanza((el) => {
    if (el.name === "iq" && el.attrs.id !== undefined) replies.add(String(el.attrs.id));
  });
  let seq = 0;
  const event = (attrs: string, inner = "") =>
    conn.write(
      `<message from='${HOST}' to='${COMP}'><event xmlns='${NS_BRIDGE}' epoch='${bridge.epoch}' seq='${++seq}' ${attrs}>${inner}</event></message>`,
    );
  event(`type='session-started' user='alice' session='sess-a' full='alice@${HOST}/phone' client-id='conversations-uuid'`);
  const form =
    `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>` +
    `<field var='secret'><value>${FORM_SECRET}</value></field></x>`;
  conn.write(
    `<iq type='set' from='${HOST}' to='${COMP}' id='enable-alice'><request xmlns='${NS_BRIDGE}' user='alice' session='sess-a' full='alice@${HOST}/phone' client-id='conversations-uuid'>` +
      `<iq xmlns='jabber:client' type='set' id='c1'><enable xmlns='urn:xmpp:push:0' jid='${APP}' node='${NODE}'>${form}</enable></iq></request></iq>`,
  );
  await waitFor(() => replies.has("enable-alice"), 5000, "the enable reply");
  event(`type='hibernation-started' user='alice' session='sess-a'`);
  event(
    `type='offline' user='alice'`,
    `<message xmlns='jabber:client' from='bob@example.org/x' to='alice@${HOST}' type='chat' id='m1'><body>${BODY}</body></message>`,
  );
  // wait until the failed push is in the history
  const auth = { Authorization: `Bearer ${TOKEN}` };
  await waitFor(() => bridge.publishes.length > 0, 5000, "a publish");
  const deadline = Date.now() + 5000;
  for (;;) {
    const v = (await (await fetch(daemon.url("/api/v1/users/alice"), { headers: auth })).json()) as {
      devices: Array<{ errorCount: number }>;
    };
    if (v.devices[0]?.errorCount === 1) break;
    if (Date.now() > deadline) throw new Error(`Cannot see the failed push: ${JSON.stringify(v)}`);
    await Bun.sleep(50);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  shots = mkdtempSync(join(tmpdir(), "cnd-admin-page-"));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (daemon && daemon.proc.exitCode === null) await daemon.stop();
  await bridge?.close();
});

function noSecrets(html: string): void {
  for (const secret of [TOKEN, NODE, FORM_SECRET, BODY, SECRET])
    expect({ secret, found: html.includes(secret) }).toEqual({ secret, found: false });
}

describe("admin page in chromium", () => {
  test("login, status with the chart, the failed user's page, logout; cookie HttpOnly + SameSite=Strict; no secret in any HTML", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const base = daemon.url("");

    // not logged in: the login form, never the data
    const first = await page.goto(`${base}/ui/users/alice`);
    expect(first?.status()).toBe(401);
    expect(await page.locator("#token").count()).toBe(1);
    expect(await page.content()).not.toContain("internal-server-error");

    await page.fill("#token", "not-the-token");
    await page.click("#login");
    expect(await page.locator("#login-error").textContent()).toBe("Cannot log in: wrong token");
    expect((await context.cookies()).filter((c) => c.name === "cnd_ui")).toEqual([]);

    await page.fill("#token", TOKEN);
    await page.click("#login");
    await page.waitForURL(`${base}/ui`);
    expect(page.url()).not.toContain(TOKEN);
    const status = await page.content();
    noSecrets(status);
    expect(await page.locator("#status").textContent()).toMatch(/ready/);
    expect(await page.locator("figure.chart svg rect[data-outcome='error']").count()).toBe(1);
    expect(await page.locator("figcaption").textContent()).toMatch(/error 1/);

    const cookies = (await context.cookies()).filter((c) => c.name === "cnd_ui");
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/ui" });
    expect(cookies[0]!.value).not.toContain(TOKEN);
    expect(await page.evaluate(() => document.cookie)).toBe(""); // HttpOnly: no script can read it

    // search → the user's page
    await page.fill("#q", "ali");
    await page.click("#search");
    await page.click(`a[href='/ui/users/alice%40${HOST}']`);
    await page.waitForURL(`${base}/ui/users/alice%40${HOST}`);
    const device = (await page.locator("#devices tbody tr").first().innerText()).split("\t").map((s) => s.trim());
    expect(device).toEqual([
      APP,
      "f00dfe…4242",
      "conversations-uuid",
      "-",
      expect.stringMatching(/ago\)$/),
      "1",
      expect.stringMatching(/^cancel\/internal-server-error at /),
      "no",
      "present",
      "none",
      "1",
    ]);
    const push = (await page.locator("#pushes tbody tr").first().innerText()).split("\t").map((s) => s.trim());
    expect(push.slice(1, 6)).toEqual([
      "offline (important)",
      "error",
      expect.stringMatching(/^\d+ ms$/),
      "cancel/internal-server-error",
      `${APP} f00dfe…4242`,
    ]);
    const session = (await page.locator("#sessions tbody tr").first().innerText()).split("\t").map((s) => s.trim());
    expect(session).toEqual(["phone", "conversations-uuid", expect.stringMatching(/^hibernating since /), `${APP} f00dfe…4242`]);
    noSecrets(await page.content());
    const shot = join(shots, "admin-page-user.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`admin page screenshot: ${shot}`);
    expect(existsSync(shot)).toBe(true);

    // a page of another origin posting the logout form is refused (Origin check + CSRF token)
    const evil = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () =>
        new Response(
          `<form id=f method=post action="${base}/ui/logout"><input name=csrf value=guess></form><script>document.getElementById("f").submit()</script>`,
          { headers: { "content-type": "text/html" } },
        ),
    });
    try {
      const other = await context.newPage();
      const answered = other.waitForResponse((r) => r.url() === `${base}/ui/logout`);
      await other.goto(`http://127.0.0.1:${evil.port}/`);
      expect((await answered).status()).toBe(403);
      await other.close();
    } finally {
      await evil.stop(true);
    }
    expect((await page.goto(`${base}/ui`))?.status()).toBe(200); // still logged in

    // logout (POST with the session's CSRF token) ends the session
    await page.click("#logout");
    await page.waitForURL(`${base}/ui`);
    expect(await page.locator("#token").count()).toBe(1);
    expect((await context.cookies()).filter((c) => c.name === "cnd_ui")).toEqual([]);
    const again = await context.request.get(`${base}/ui/users/alice`, { headers: { cookie: `cnd_ui=${cookies[0]!.value}` } });
    expect(again.status()).toBe(401); // the old session id is gone on the server too
    await context.close();
  }, 60_000);
});
