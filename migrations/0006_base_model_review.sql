ALTER TABLE "registered_base_models" ADD COLUMN "status" text DEFAULT 'pending' NOT NULL;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "team_id" uuid;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "registered_by" uuid;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "config_sha256" text;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "source_revision" text;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "shape_signature" text;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "merged_into" text;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "reviewed_by" uuid;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "reviewed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD CONSTRAINT "registered_base_models_team_id_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."teams"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD CONSTRAINT "registered_base_models_registered_by_users_id_fk" FOREIGN KEY ("registered_by") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD CONSTRAINT "registered_base_models_reviewed_by_users_id_fk" FOREIGN KEY ("reviewed_by") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "registered_base_models_id_lower_key" ON "registered_base_models" USING btree (lower("id"));--> statement-breakpoint
CREATE INDEX "registered_base_models_signature_idx" ON "registered_base_models" USING btree ("shape_signature","status");--> statement-breakpoint
CREATE INDEX "registered_base_models_team_status_idx" ON "registered_base_models" USING btree ("team_id","status");--> statement-breakpoint
CREATE INDEX "registered_base_models_status_idx" ON "registered_base_models" USING btree ("status","created_at");--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD CONSTRAINT "registered_base_models_status_check" CHECK ("registered_base_models"."status" in ('pending', 'verified', 'merged'));--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD CONSTRAINT "registered_base_models_merged_check" CHECK (("registered_base_models"."status" = 'merged') = ("registered_base_models"."merged_into" is not null));