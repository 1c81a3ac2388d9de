CREATE TABLE "rate_limit_windows" (
	"key" text PRIMARY KEY NOT NULL,
	"ends_at" timestamp with time zone NOT NULL,
	"count" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "fingerprint_matches" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"version_id" uuid NOT NULL,
	"matched_version_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"matched_modules" integer NOT NULL,
	"total_modules" integer NOT NULL,
	"share" real NOT NULL,
	"similarity" real NOT NULL,
	"verdict" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "version_fingerprints" (
	"version_id" uuid PRIMARY KEY NOT NULL,
	"fingerprint_version" smallint NOT NULL,
	"modules" text[] NOT NULL,
	"sketches" "bytea" NOT NULL,
	"module_keys" bigint[] NOT NULL,
	"exact_keys" bigint[] NOT NULL,
	"verdict" text NOT NULL,
	"duplicate_of_version_id" uuid,
	"reviewed_by" uuid,
	"reviewed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "version_fingerprints_verdict_check" CHECK ("version_fingerprints"."verdict" in ('unique', 'flagged', 'duplicate', 'overruled'))
);
--> statement-breakpoint
DROP INDEX "adapters_search_idx";--> statement-breakpoint
DROP INDEX "adapters_task_tags_idx";--> statement-breakpoint
DROP INDEX "adapters_domain_tags_idx";--> statement-breakpoint
DROP INDEX "adapters_language_tags_idx";--> statement-breakpoint
DROP INDEX "adapters_compat_keys_idx";--> statement-breakpoint
ALTER TABLE "fingerprint_matches" ADD CONSTRAINT "fingerprint_matches_version_id_adapter_versions_id_fk" FOREIGN KEY ("version_id") REFERENCES "public"."adapter_versions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fingerprint_matches" ADD CONSTRAINT "fingerprint_matches_matched_version_id_adapter_versions_id_fk" FOREIGN KEY ("matched_version_id") REFERENCES "public"."adapter_versions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "version_fingerprints" ADD CONSTRAINT "version_fingerprints_version_id_adapter_versions_id_fk" FOREIGN KEY ("version_id") REFERENCES "public"."adapter_versions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "version_fingerprints" ADD CONSTRAINT "version_fingerprints_duplicate_of_version_id_adapter_versions_id_fk" FOREIGN KEY ("duplicate_of_version_id") REFERENCES "public"."adapter_versions"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "version_fingerprints" ADD CONSTRAINT "version_fingerprints_reviewed_by_users_id_fk" FOREIGN KEY ("reviewed_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "rate_limit_windows_ends_at_idx" ON "rate_limit_windows" USING btree ("ends_at");--> statement-breakpoint
CREATE UNIQUE INDEX "fingerprint_matches_pair_key" ON "fingerprint_matches" USING btree ("version_id","matched_version_id");--> statement-breakpoint
CREATE INDEX "fingerprint_matches_matched_idx" ON "fingerprint_matches" USING btree ("matched_version_id","created_at");--> statement-breakpoint
CREATE INDEX "version_fingerprints_module_keys_idx" ON "version_fingerprints" USING gin ("module_keys");--> statement-breakpoint
CREATE INDEX "version_fingerprints_exact_keys_idx" ON "version_fingerprints" USING gin ("exact_keys");--> statement-breakpoint
CREATE INDEX "version_fingerprints_review_idx" ON "version_fingerprints" USING btree ("verdict","created_at") WHERE "version_fingerprints"."verdict" in ('flagged', 'duplicate');--> statement-breakpoint
CREATE INDEX "adapters_search_idx" ON "adapters" USING gin ("search_vector") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "adapters_task_tags_idx" ON "adapters" USING gin ("task_tags") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "adapters_domain_tags_idx" ON "adapters" USING gin ("domain_tags") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "adapters_language_tags_idx" ON "adapters" USING gin ("language_tags") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "adapters_compat_keys_idx" ON "adapters" USING gin ("compat_keys") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;