-- Issue 13: a host column on registrations, push_history and removals; registrations' primary key
-- becomes (host, user, identifier), so SQLite needs the table recreated and its rows copied.
-- Edited by hand after drizzle-kit generate: its INSERT … SELECT listed "host" on both sides, but the
-- old table has no such column and SQLite reads an unknown double-quoted name as the string 'host',
-- so every copied row would have got host = 'host'. The copy leaves host out (default ''); the store
-- assigns those rows to the first configured host at open (src/store/host-upgrade.ts).
DROP INDEX `push_history_user_at_idx`;--> statement-breakpoint
ALTER TABLE `push_history` ADD `host` text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE INDEX `push_history_host_user_at_idx` ON `push_history` (`host`,`user`,`at`);--> statement-breakpoint
DROP INDEX `removals_user_at_idx`;--> statement-breakpoint
ALTER TABLE `removals` ADD `host` text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE INDEX `removals_host_user_at_idx` ON `removals` (`host`,`user`,`at`);--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_registrations` (
	`host` text DEFAULT '' NOT NULL,
	`user` text NOT NULL,
	`identifier` text NOT NULL,
	`jid` text NOT NULL,
	`node` text,
	`include_payload` integer NOT NULL,
	`publish_options` text,
	`client_id` text,
	`resource` text,
	`language` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`error_count` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`last_error_at` integer,
	`encryption_alg` text,
	`encryption_key` text,
	`encryption_max_size` integer,
	`filters` text,
	PRIMARY KEY(`host`, `user`, `identifier`)
);
--> statement-breakpoint
INSERT INTO `__new_registrations`("user", "identifier", "jid", "node", "include_payload", "publish_options", "client_id", "resource", "language", "created_at", "updated_at", "error_count", "last_error", "last_error_at", "encryption_alg", "encryption_key", "encryption_max_size", "filters") SELECT "user", "identifier", "jid", "node", "include_payload", "publish_options", "client_id", "resource", "language", "created_at", "updated_at", "error_count", "last_error", "last_error_at", "encryption_alg", "encryption_key", "encryption_max_size", "filters" FROM `registrations`;--> statement-breakpoint
DROP TABLE `registrations`;--> statement-breakpoint
ALTER TABLE `__new_registrations` RENAME TO `registrations`;--> statement-breakpoint
PRAGMA foreign_keys=ON;