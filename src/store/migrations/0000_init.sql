CREATE TABLE `meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `registrations` (
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
	PRIMARY KEY(`user`, `identifier`)
);
