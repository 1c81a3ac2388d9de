-- fingerprints (issue 22): fill fingerprint_keys, the duplicate lookup's btree index, for every
-- version fingerprinted before the table existed. Run after the migration that creates it; safe to
-- run again (the primary key absorbs repeats). version_fingerprints.module_keys keeps each
-- version's keys, so this derives them in SQL without re-reading any weights.
INSERT INTO "fingerprint_keys" ("key", "version_id")
SELECT DISTINCT k.key, f.version_id
FROM "version_fingerprints" f, unnest(f.module_keys) AS k(key)
ON CONFLICT DO NOTHING;
