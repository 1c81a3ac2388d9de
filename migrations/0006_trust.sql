CREATE TABLE "counted_downloads" (
	"version_id" uuid NOT NULL,
	"holder_id" uuid NOT NULL,
	"adapter_id" uuid NOT NULL,
	"first_at" timestamp with time zone NOT NULL,
	CONSTRAINT "counted_downloads_version_id_holder_id_pk" PRIMARY KEY("version_id","holder_id")
);
--> statement-breakpoint
ALTER TABLE "stripe_events" ADD COLUMN "order_id" uuid;--> statement-breakpoint
ALTER TABLE "stripe_events" ADD COLUMN "rejected_reason" text;--> statement-breakpoint
ALTER TABLE "downloads" ADD COLUMN "by_seller" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "stripe_events" ADD CONSTRAINT "stripe_events_order_id_orders_id_fk" FOREIGN KEY ("order_id") REFERENCES "public"."orders"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "stripe_events_rejected_idx" ON "stripe_events" USING btree ("created_at") WHERE "stripe_events"."rejected_reason" is not null;--> statement-breakpoint
ALTER TABLE "stripe_events" ADD CONSTRAINT "stripe_events_rejected_reason_check" CHECK ("stripe_events"."rejected_reason" in ('unknown_session', 'session_mismatch', 'amount_mismatch', 'currency_mismatch'));