/**
 * The README's `npm run quickstart` (scripts/quickstart.ts) really shows a push, on each Prosody:
 * it runs as a newcomer runs it and must print the publish the toy app service received, with
 * the placeholder body and without the message text (D17).
 */
import { expect, setDefaultTimeout, test } from "bun:test";

import { ROOT } from "../helpers/daemon.ts";
import { describeProsody } from "../helpers/prosody-versions.ts";

setDefaultTimeout(90000);

describeProsody("quickstart", (version) => {
  test("B26 D17 the quickstart prints the publish the app service received, placeholder body, no message text", async () => {
    const proc = Bun.spawn([process.execPath, "scripts/quickstart.ts"], {
      cwd: ROOT,
      env: { ...process.env, CLOUD_NOTIFYD_TEST_PROSODY: version },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout).text()]);
    expect(code).toBe(0);
    expect(out).toContain("the app push service received this publish");
    const publish = out.split("\n").find((l) => l.startsWith("<iq"));
    expect(publish).toBeDefined();
    expect(publish).toContain('node="device-token-1"');
    expect(publish).toContain("New Message!");
    expect(out).not.toContain("are you there?");
  });
});
