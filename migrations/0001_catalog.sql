CREATE TABLE "adapter_versions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"adapter_id" uuid NOT NULL,
	"version" text NOT NULL,
	"declared_base" text NOT NULL,
	"changelog" text DEFAULT '' NOT NULL,
	"evals" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"status" text DEFAULT 'uploading' NOT NULL,
	"findings" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"facts" jsonb,
	"validation_attempts" integer DEFAULT 0 NOT NULL,
	"published_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "adapter_versions_status_check" CHECK ("adapter_versions"."status" in ('uploading', 'validating', 'ready', 'rejected', 'published'))
);
--> statement-breakpoint
CREATE TABLE "adapters" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"team_id" uuid NOT NULL,
	"slug" text NOT NULL,
	"title" text NOT NULL,
	"summary" text DEFAULT '' NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"task_tags" text[] DEFAULT '{}' NOT NULL,
	"domain_tags" text[] DEFAULT '{}' NOT NULL,
	"language_tags" text[] DEFAULT '{}' NOT NULL,
	"license_spdx" text,
	"license_text" text,
	"commercial_use" boolean NOT NULL,
	"derivatives_allowed" boolean NOT NULL,
	"visibility" text DEFAULT 'draft' NOT NULL,
	"downloads" integer DEFAULT 0 NOT NULL,
	"search_vector" "tsvector" GENERATED ALWAYS AS (setweight(to_tsvector('english', coalesce(title, '')), 'A') || setweight(to_tsvector('english', coalesce(summary, '')), 'B') || setweight(to_tsvector('english', coalesce(description, '')), 'C')) STORED,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "adapters_visibility_check" CHECK ("adapters"."visibility" in ('draft', 'published', 'unlisted', 'archived')),
	CONSTRAINT "adapters_license_check" CHECK ("adapters"."license_spdx" is not null or "adapters"."license_text" is not null)
);
--> statement-breakpoint
CREATE TABLE "version_compatibility" (
	"version_id" uuid NOT NULL,
	"base_model" text NOT NULL,
	"compatible" boolean NOT NULL,
	"runtimes" jsonb NOT NULL,
	"findings" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "version_files" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"version_id" uuid NOT NULL,
	"path" text NOT NULL,
	"size" bigint NOT NULL,
	"sha256" text NOT NULL,
	"storage_key" text NOT NULL,
	"multipart_upload_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "version_files_size_check" CHECK ("version_files"."size" >= 0),
	CONSTRAINT "version_files_sha256_check" CHECK ("version_files"."sha256" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
CREATE TABLE "registered_base_models" (
	"id" text PRIMARY KEY NOT NULL,
	"model_type" text NOT NULL,
	"variant_of" text,
	"facts" jsonb NOT NULL,
	"hf_config" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "adapter_versions" ADD CONSTRAINT "adapter_versions_adapter_id_adapters_id_fk" FOREIGN KEY ("adapter_id") REFERENCES "public"."adapters"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adapters" ADD CONSTRAINT "adapters_team_id_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."teams"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "version_compatibility" ADD CONSTRAINT "version_compatibility_version_id_adapter_versions_id_fk" FOREIGN KEY ("version_id") REFERENCES "public"."adapter_versions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "version_files" ADD CONSTRAINT "version_files_version_id_adapter_versions_id_fk" FOREIGN KEY ("version_id") REFERENCES "public"."adapter_versions"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "adapter_versions_adapter_version_key" ON "adapter_versions" USING btree ("adapter_id","version");--> statement-breakpoint
CREATE UNIQUE INDEX "adapters_team_slug_key" ON "adapters" USING btree ("team_id","slug");--> statement-breakpoint
CREATE INDEX "adapters_search_idx" ON "adapters" USING gin ("search_vector");--> statement-breakpoint
CREATE INDEX "adapters_task_tags_idx" ON "adapters" USING gin ("task_tags");--> statement-breakpoint
CREATE UNIQUE INDEX "version_compatibility_key" ON "version_compatibility" USING btree ("version_id","base_model");--> statement-breakpoint
CREATE INDEX "version_compatibility_base_idx" ON "version_compatibility" USING btree ("base_model","compatible");--> statement-breakpoint
CREATE UNIQUE INDEX "version_files_version_path_key" ON "version_files" USING btree ("version_id","path");--> statement-breakpoint
CREATE UNIQUE INDEX "version_files_storage_key_key" ON "version_files" USING btree ("storage_key");--> statement-breakpoint
CREATE INDEX "version_files_version_idx" ON "version_files" USING btree ("version_id");