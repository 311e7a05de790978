/** Pre-seeds a daemon store with registrations (through the store's own upsert op). @module */
import type { Registration } from "../../src/core/types.ts";
import { openStore } from "../../src/store/db.ts";

export const APP_JID = "app.localhost";

export function registration(user: string, node: string, now = Date.now()): Registration {
  return {
    user,
    identifier: `${APP_JID}<${node}`,
    jid: APP_JID,
    node,
    includePayload: false,
    publishOptions: null,
    clientId: null,
    resource: null,
    language: null,
    createdAt: now,
    updatedAt: now,
    errorCount: 0,
    lastError: null,
    lastErrorAt: null,
    // BENCH_ENCRYPTED=1: every registration asked for Tigase encrypted payloads (bench/encrypted-ceiling.ts)
    ...(process.env.BENCH_ENCRYPTED === "1"
      ? { encryption: { alg: "aes-128-gcm" as const, key: Buffer.alloc(16, user.length).toString("base64"), maxSize: null } }
      : {}),
  };
}

/** Users `u0 … u(users-1)`, each with `perUser` registrations (nodes `u<i>-<k>`), in `<dataDir>/cloud-notifyd.db`. */
export async function seedStore(dataDir: string, users: number, perUser: number): Promise<void> {
  const store = await openStore(`file:${dataDir}/cloud-notifyd.db`);
  const BATCH = 2000;
  let ops = [];
  for (let i = 0; i < users; i++) {
    for (let k = 0; k < perUser; k++) ops.push({ op: "upsert" as const, registration: registration(`u${i}`, `u${i}-${k}`) });
    if (ops.length >= BATCH) {
      await store.apply(ops);
      ops = [];
    }
  }
  if (ops.length > 0) await store.apply(ops);
  await store.close();
}
