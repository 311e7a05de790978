ALTER TABLE `registrations` ADD `encryption_alg` text;--> statement-breakpoint
ALTER TABLE `registrations` ADD `encryption_key` text;--> statement-breakpoint
ALTER TABLE `registrations` ADD `encryption_max_size` integer;--> statement-breakpoint
ALTER TABLE `registrations` ADD `filters` text;