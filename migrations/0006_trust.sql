CREATE TABLE "team_invitations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"team_id" uuid NOT NULL,
	"email" text NOT NULL,
	"role" text NOT NULL,
	"invited_by" uuid,
	"status" text DEFAULT 'pending' NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"decided_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "team_invitations_role_check" CHECK ("team_invitations"."role" in ('owner', 'admin', 'member')),
	CONSTRAINT "team_invitations_status_check" CHECK ("team_invitations"."status" in ('pending', 'accepted', 'declined', 'revoked'))
);
--> statement-breakpoint
CREATE TABLE "counted_downloads" (
	"version_id" uuid NOT NULL,
	"holder_id" uuid NOT NULL,
	"adapter_id" uuid NOT NULL,
	"first_at" timestamp with time zone NOT NULL,
	CONSTRAINT "counted_downloads_version_id_holder_id_pk" PRIMARY KEY("version_id","holder_id")
);
--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "token_version" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "status" text DEFAULT 'pending' NOT NULL;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "team_id" uuid;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "registered_by" uuid;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "config_sha256" text;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "source_revision" text;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "shape_signature" text;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "merged_into" text;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "reviewed_by" uuid;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD COLUMN "reviewed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "stripe_events" ADD COLUMN "order_id" uuid;--> statement-breakpoint
ALTER TABLE "stripe_events" ADD COLUMN "rejected_reason" text;--> statement-breakpoint
ALTER TABLE "downloads" ADD COLUMN "by_seller" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "team_invitations" ADD CONSTRAINT "team_invitations_team_id_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."teams"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "team_invitations" ADD CONSTRAINT "team_invitations_invited_by_users_id_fk" FOREIGN KEY ("invited_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "team_invitations_pending_key" ON "team_invitations" USING btree ("team_id","email") WHERE "team_invitations"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "team_invitations_email_idx" ON "team_invitations" USING btree ("email");--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD CONSTRAINT "registered_base_models_team_id_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."teams"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD CONSTRAINT "registered_base_models_registered_by_users_id_fk" FOREIGN KEY ("registered_by") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD CONSTRAINT "registered_base_models_reviewed_by_users_id_fk" FOREIGN KEY ("reviewed_by") REFERENCES "public"."users"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stripe_events" ADD CONSTRAINT "stripe_events_order_id_orders_id_fk" FOREIGN KEY ("order_id") REFERENCES "public"."orders"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "version_compatibility_fits_idx" ON "version_compatibility" USING btree ("version_id","base_model") WHERE "version_compatibility"."compatible";--> statement-breakpoint
CREATE UNIQUE INDEX "registered_base_models_id_lower_key" ON "registered_base_models" USING btree (lower("id"));--> statement-breakpoint
CREATE INDEX "registered_base_models_signature_idx" ON "registered_base_models" USING btree ("shape_signature","status");--> statement-breakpoint
CREATE INDEX "registered_base_models_team_status_idx" ON "registered_base_models" USING btree ("team_id","status");--> statement-breakpoint
CREATE INDEX "registered_base_models_status_idx" ON "registered_base_models" USING btree ("status","created_at");--> statement-breakpoint
CREATE INDEX "stripe_events_rejected_idx" ON "stripe_events" USING btree ("created_at") WHERE "stripe_events"."rejected_reason" is not null;--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD CONSTRAINT "registered_base_models_status_check" CHECK ("registered_base_models"."status" in ('pending', 'verified', 'merged'));--> statement-breakpoint
ALTER TABLE "registered_base_models" ADD CONSTRAINT "registered_base_models_merged_check" CHECK (("registered_base_models"."status" = 'merged') = ("registered_base_models"."merged_into" is not null));--> statement-breakpoint
ALTER TABLE "stripe_events" ADD CONSTRAINT "stripe_events_rejected_reason_check" CHECK ("stripe_events"."rejected_reason" in ('unknown_session', 'session_mismatch', 'amount_mismatch', 'currency_mismatch'));