-- Recounts the public download counters as distinct (version, entitlement holder) pairs, the
-- selling team's own members excluded (membership as it stands now marks their past rows).
UPDATE "downloads" d SET "by_seller" = true
FROM "adapters" a
WHERE a."id" = d."adapter_id"
  AND EXISTS (SELECT 1 FROM "team_members" m WHERE m."team_id" = a."team_id" AND m."user_id" = d."user_id");
--> statement-breakpoint
INSERT INTO "counted_downloads" ("version_id", "holder_id", "adapter_id", "first_at")
SELECT d."version_id", coalesce(e."team_id", e."user_id"), d."adapter_id", min(d."created_at")
FROM "downloads" d JOIN "entitlements" e ON e."id" = d."entitlement_id"
WHERE NOT d."by_seller"
GROUP BY d."version_id", coalesce(e."team_id", e."user_id"), d."adapter_id"
ON CONFLICT DO NOTHING;
--> statement-breakpoint
UPDATE "downloads" SET "counted" = true WHERE NOT "counted";
--> statement-breakpoint
UPDATE "adapter_versions" v SET "downloads" = (SELECT count(*)::int FROM "counted_downloads" c WHERE c."version_id" = v."id");
--> statement-breakpoint
UPDATE "adapters" a SET "downloads" = (SELECT count(*)::int FROM "counted_downloads" c WHERE c."adapter_id" = a."id");
