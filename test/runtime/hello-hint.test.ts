/** Issue 15 item 6: a refused bridge hello says what to check (src/runtime/hello-hint.ts). */
import { expect, test } from "bun:test";

import { helloRefusalHint } from "../../src/runtime/hello-hint.ts";

const ctx = { host: "example.com", componentDomain: "push.example.com" };

test("service-unavailable: the bridge module is probably not loaded on the host", () => {
  const hint = helloRefusalHint({ condition: "service-unavailable", text: null }, ctx);
  expect(hint).toContain("the bridge module is probably not loaded on example.com");
  expect(hint).toContain('add "cloud_notifyd" to modules_enabled of VirtualHost "example.com"');
  expect(hint).toContain("cloud-notifyd bridge install DIR");
});

test("forbidden: the bridge serves another component; feature-not-implemented: another protocol version", () => {
  expect(helloRefusalHint({ condition: "forbidden", text: undefined }, ctx)).toContain('set cloud_notifyd_component = "push.example.com"');
  expect(helloRefusalHint({ condition: "feature-not-implemented", text: "bridge speaks version 2" }, ctx)).toMatch(
    /^: bridge speaks version 2; this daemon speaks version \d+, install its bridge/,
  );
  expect(helloRefusalHint({ condition: "internal-server-error", text: null }, ctx)).toBe("");
});
