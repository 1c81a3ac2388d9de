CREATE TABLE "counted_downloads" (
	"version_id" uuid NOT NULL,
	"holder_id" uuid NOT NULL,
	"adapter_id" uuid NOT NULL,
	"first_at" timestamp with time zone NOT NULL,
	CONSTRAINT "counted_downloads_version_id_holder_id_pk" PRIMARY KEY("version_id","holder_id")
);
--> statement-breakpoint
ALTER TABLE "downloads" ADD COLUMN "by_seller" boolean DEFAULT false NOT NULL;