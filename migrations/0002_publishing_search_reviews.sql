CREATE TABLE "reviews" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"adapter_id" uuid NOT NULL,
	"version_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"team_id" uuid,
	"rating" smallint NOT NULL,
	"text" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "reviews_rating_check" CHECK ("reviews"."rating" between 1 and 5)
);
--> statement-breakpoint
CREATE TABLE "entitlements" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"adapter_id" uuid NOT NULL,
	"user_id" uuid,
	"team_id" uuid,
	"license" text NOT NULL,
	"source" text NOT NULL,
	"source_id" text NOT NULL,
	"revoked_at" timestamp with time zone,
	"revoke_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "entitlements_holder_check" CHECK (("entitlements"."user_id" is null) <> ("entitlements"."team_id" is null)),
	CONSTRAINT "entitlements_license_check" CHECK ("entitlements"."license" in ('research', 'commercial')),
	CONSTRAINT "entitlements_source_check" CHECK ("entitlements"."source" in ('free', 'order', 'access_request'))
);
--> statement-breakpoint
ALTER TABLE "adapters" ADD COLUMN "compat_keys" text[] DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE "adapters" ADD COLUMN "latest_version" text;--> statement-breakpoint
ALTER TABLE "adapters" ADD COLUMN "rating_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "adapters" ADD COLUMN "rating_average" real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "adapters" ADD COLUMN "published_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_adapter_id_adapters_id_fk" FOREIGN KEY ("adapter_id") REFERENCES "public"."adapters"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_version_id_adapter_versions_id_fk" FOREIGN KEY ("version_id") REFERENCES "public"."adapter_versions"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_team_id_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."teams"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "entitlements" ADD CONSTRAINT "entitlements_adapter_id_adapters_id_fk" FOREIGN KEY ("adapter_id") REFERENCES "public"."adapters"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "entitlements" ADD CONSTRAINT "entitlements_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "entitlements" ADD CONSTRAINT "entitlements_team_id_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."teams"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "reviews_version_user_key" ON "reviews" USING btree ("version_id","user_id") WHERE "reviews"."team_id" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "reviews_version_team_key" ON "reviews" USING btree ("version_id","team_id") WHERE "reviews"."team_id" is not null;--> statement-breakpoint
CREATE INDEX "reviews_adapter_idx" ON "reviews" USING btree ("adapter_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "entitlements_source_key" ON "entitlements" USING btree ("source","source_id");--> statement-breakpoint
CREATE INDEX "entitlements_user_idx" ON "entitlements" USING btree ("user_id","adapter_id");--> statement-breakpoint
CREATE INDEX "entitlements_team_idx" ON "entitlements" USING btree ("team_id","adapter_id");--> statement-breakpoint
CREATE INDEX "adapters_domain_tags_idx" ON "adapters" USING gin ("domain_tags");--> statement-breakpoint
CREATE INDEX "adapters_language_tags_idx" ON "adapters" USING gin ("language_tags");--> statement-breakpoint
CREATE INDEX "adapters_compat_keys_idx" ON "adapters" USING gin ("compat_keys");--> statement-breakpoint
CREATE INDEX "adapters_listed_newest_idx" ON "adapters" USING btree ("published_at","id") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "adapters_listed_rating_idx" ON "adapters" USING btree ("rating_average","id") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "adapters_listed_downloads_idx" ON "adapters" USING btree ("downloads","id") WHERE "adapters"."visibility" = 'published' and "adapters"."published_at" is not null;