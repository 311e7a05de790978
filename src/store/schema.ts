/**
 * Drizzle tables of the registration store. Generated migrations live in ./migrations
 * (`npm run db:generate`); never regenerate or renumber a committed migration (toolchain.md).
 * @module
 */
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * One row per push registration; mirrors `Registration` in src/core/types.ts, whose `user` is the
 * bare JID `local@host`: here split into `host` and `user` (the local part), issue 13.
 * The primary key (host, user, identifier) is also the by-user index: SQLite serves
 * `WHERE host = ? AND user = ?` from its leftmost columns, so a separate index would only cost writes.
 * `host` (migration 0004) is '' only in rows of a store written before 0004, until the first open
 * assigns them to the first configured host (user-key.ts).
 */
export const registrations = sqliteTable(
  "registrations",
  {
    host: text("host").notNull().default(""),
    user: text("user").notNull(),
    identifier: text("identifier").notNull(),
    jid: text("jid").notNull(),
    node: text("node"),
    includePayload: integer("include_payload", { mode: "boolean" }).notNull(),
    publishOptions: text("publish_options"),
    clientId: text("client_id"),
    resource: text("resource"),
    language: text("language"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    errorCount: integer("error_count").notNull().default(0),
    lastError: text("last_error"),
    lastErrorAt: integer("last_error_at"),
    /** E1 (migration 0003): the client's push encryption; null = plain pushes. The key is a secret. */
    encryptionAlg: text("encryption_alg"),
    encryptionKey: text("encryption_key"),
    encryptionMaxSize: integer("encryption_max_size"),
    /** E3 (migration 0003): the client's push filters as JSON (`PushFilters`); null = none. */
    filters: text("filters"),
  },
  (t) => [primaryKey({ columns: [t.host, t.user, t.identifier] })],
);

/** Small key/value table for store-level facts (e.g. a schema marker, instance data). */
export const meta = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

/** Per-registration push history (D17: never a body). Added by migration 0001. */
export const pushHistory = sqliteTable(
  "push_history",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    host: text("host").notNull().default(""),
    user: text("user").notNull(),
    identifier: text("identifier").notNull(),
    publishId: text("publish_id"),
    trigger: text("trigger"),
    important: integer("important", { mode: "boolean" }).notNull(),
    outcome: text("outcome").notNull(),
    latencyMs: integer("latency_ms"),
    error: text("error"),
  },
  // Two indexes: the admin API reads a user's newest rows (optionally of one identifier, filtered
  // from the user's rows), and pruning deletes by age. Each index is written on every push; with
  // three, inserting history cost ~14 µs of CPU per push (migration 0002, docs/performance.md).
  // `at` grows with time, so its index only appends.
  // Migration 0004 put `host` in front of the by-user index (one user is one (host, user) pair).
  (t) => [index("push_history_host_user_at_idx").on(t.host, t.user, t.at), index("push_history_at_idx").on(t.at)],
);

/** Registrations that went away, with the reason (D3, D13, D18). Added by migration 0001. */
export const removals = sqliteTable(
  "removals",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    host: text("host").notNull().default(""),
    user: text("user").notNull(),
    identifier: text("identifier").notNull(),
    jid: text("jid"),
    node: text("node"),
    reason: text("reason").notNull(),
    detail: text("detail"),
  },
  (t) => [index("removals_host_user_at_idx").on(t.host, t.user, t.at), index("removals_at_idx").on(t.at)],
);
