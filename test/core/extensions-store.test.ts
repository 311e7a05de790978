import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { openStore } from "../../src/store/db.ts";
import { convertUserStore } from "../../src/import/prosody.ts";
import { parseLuaData } from "../../src/import/lua-table.ts";
import type { PushFilters, Registration } from "../../src/core/types.ts";
import { APP, registration } from "./harness.ts";

const KEY = Buffer.alloc(16, 9).toString("base64");
const FILTERS: PushFilters = {
  ignoreUnknown: true,
  muted: ["spam@example.org"],
  groupchat: [{ room: "busy@muc.example", allow: "mentioned", nick: "Alice" }],
};

test("E1 E3 keys and filters are stored with the registration, read back after reopening, removed with it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cnd-ext-"));
  try {
    const url = `file:${dir}/store.db`;
    const enc = registration("alice@example.com", APP, "n1", {
      encryption: { alg: "aes-128-gcm", key: KEY, maxSize: 3072 },
      filters: FILTERS,
    });
    const plain = registration("alice@example.com", APP, "n2");
    let store = await openStore(url);
    await store.apply([
      { op: "upsert", registration: enc },
      { op: "upsert", registration: plain },
    ]);
    await store.close();
    store = await openStore(url);
    const [a, b] = await store.listByUser("alice@example.com");
    expect(a).toEqual(enc);
    expect(b).toEqual(plain);
    expect(b?.encryption).toBeUndefined();
    // re-enable without a key: the key is gone (upsert overwrites every column)
    await store.apply([{ op: "upsert", registration: { ...enc, encryption: null, filters: null } as Registration }]);
    expect((await store.listByUser("alice@example.com"))[0]?.encryption).toBeUndefined();
    await store.apply([
      { op: "upsert", registration: enc },
      { op: "delete", user: "alice@example.com", identifiers: [enc.identifier] },
    ]);
    expect(await store.listByUser("alice@example.com")).toEqual([plain]);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("E1 E3 import-prosody takes mod_cloud_notify_encrypted's and mod_cloud_notify_filters' fields from the same record", () => {
  const text =
    `return {\n ["push.app.example<n1"] = { ["jid"] = "push.app.example"; ["node"] = "n1"; ["timestamp"] = 1700000000;\n` +
    `  ["encryption"] = { ["algorithm"] = "aes-128-gcm"; ["key_base64"] = "${KEY}"; };\n` +
    `  ["filter_unknown"] = true; ["muted_jids"] = { ["Spam@example.org"] = true; ["bad jid@@"] = true; };\n` +
    `  ["groupchat_rules"] = { ["busy@muc.example"] = { ["when"] = "mentioned"; ["nick"] = "Alice"; }; ["q@muc.example"] = { ["when"] = "never"; }; };\n };\n` +
    ` ["push.app.example<n2"] = { ["jid"] = "push.app.example"; ["node"] = "n2"; ["encryption"] = { ["algorithm"] = "aes-256-cbc"; ["key_base64"] = "${KEY}"; }; };\n}\n`;
  const parsed = parseLuaData(text);
  if (!parsed.ok) throw new Error(parsed.error);
  const out = convertUserStore("alice", parsed.value, {
    host: "example.com",
    config: { maxNodeLength: 1024, maxPublishOptionsBytes: 8192 },
    now: 0,
  });
  if (!out.ok) throw new Error(out.error);
  expect(out.value.ignoredFields).toEqual([]);
  expect(out.value.registrations).toHaveLength(1);
  expect(out.value.registrations[0]?.encryption).toEqual({ alg: "aes-128-gcm", key: KEY, maxSize: null });
  expect(out.value.registrations[0]?.filters).toEqual({
    ignoreUnknown: true,
    muted: ["spam@example.org"],
    groupchat: [
      { room: "busy@muc.example", allow: "mentioned", nick: "Alice" },
      { room: "q@muc.example", allow: "never", nick: null },
    ],
  });
  expect(out.value.invalid).toEqual([{ identifier: "push.app.example<n2", error: "encryption: Unknown encryption algorithm" }]);
});
