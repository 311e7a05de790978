CREATE TABLE `push_history` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`user` text NOT NULL,
	`identifier` text NOT NULL,
	`publish_id` text,
	`trigger` text,
	`important` integer NOT NULL,
	`outcome` text NOT NULL,
	`latency_ms` integer,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `push_history_user_at_idx` ON `push_history` (`user`,`at`);--> statement-breakpoint
CREATE INDEX `push_history_user_identifier_at_idx` ON `push_history` (`user`,`identifier`,`at`);--> statement-breakpoint
CREATE INDEX `push_history_at_idx` ON `push_history` (`at`);--> statement-breakpoint
CREATE TABLE `removals` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`user` text NOT NULL,
	`identifier` text NOT NULL,
	`jid` text,
	`node` text,
	`reason` text NOT NULL,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `removals_user_at_idx` ON `removals` (`user`,`at`);--> statement-breakpoint
CREATE INDEX `removals_at_idx` ON `removals` (`at`);