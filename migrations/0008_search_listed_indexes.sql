DROP INDEX "adapters_search_idx";--> statement-breakpoint
DROP INDEX "adapters_task_tags_idx";--> statement-breakpoint
DROP INDEX "adapters_domain_tags_idx";--> statement-breakpoint
DROP INDEX "adapters_language_tags_idx";--> statement-breakpoint
DROP INDEX "adapters_compat_keys_idx";--> statement-breakpoint
CREATE INDEX "adapters_search_idx" ON "adapters" USING gin ("search_vector") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "adapters_task_tags_idx" ON "adapters" USING gin ("task_tags") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "adapters_domain_tags_idx" ON "adapters" USING gin ("domain_tags") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "adapters_language_tags_idx" ON "adapters" USING gin ("language_tags") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "adapters_compat_keys_idx" ON "adapters" USING gin ("compat_keys") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;