ALTER TABLE "downloads" DROP CONSTRAINT "downloads_adapter_id_adapters_id_fk";
--> statement-breakpoint
ALTER TABLE "downloads" DROP CONSTRAINT "downloads_version_id_adapter_versions_id_fk";
--> statement-breakpoint
ALTER TABLE "downloads" DROP CONSTRAINT "downloads_file_id_version_files_id_fk";
--> statement-breakpoint
ALTER TABLE "downloads" DROP CONSTRAINT "downloads_user_id_users_id_fk";
--> statement-breakpoint
ALTER TABLE "downloads" DROP CONSTRAINT "downloads_entitlement_id_entitlements_id_fk";
