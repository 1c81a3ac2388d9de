CREATE TABLE "adapter_search_terms" (
	"adapter_id" uuid NOT NULL,
	"term" text NOT NULL,
	"weight" real NOT NULL,
	CONSTRAINT "adapter_search_terms_adapter_id_term_pk" PRIMARY KEY("adapter_id","term")
);
--> statement-breakpoint
CREATE TABLE "fingerprint_keys" (
	"key" bigint NOT NULL,
	"version_id" uuid NOT NULL,
	CONSTRAINT "fingerprint_keys_key_version_id_pk" PRIMARY KEY("key","version_id")
);
--> statement-breakpoint
DROP INDEX "version_fingerprints_module_keys_idx";--> statement-breakpoint
DROP INDEX "version_fingerprints_exact_keys_idx";--> statement-breakpoint
ALTER TABLE "adapter_search_terms" ADD CONSTRAINT "adapter_search_terms_adapter_id_adapters_id_fk" FOREIGN KEY ("adapter_id") REFERENCES "public"."adapters"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fingerprint_keys" ADD CONSTRAINT "fingerprint_keys_version_id_version_fingerprints_version_id_fk" FOREIGN KEY ("version_id") REFERENCES "public"."version_fingerprints"("version_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "adapter_search_terms_rank_idx" ON "adapter_search_terms" USING btree ("term","weight","adapter_id");--> statement-breakpoint
CREATE INDEX "fingerprint_keys_version_idx" ON "fingerprint_keys" USING btree ("version_id");--> statement-breakpoint
-- Hand-written (drizzle cannot express them): the trigger that keeps adapter_search_terms, and the
-- backfills of both new tables from rows written before them.
create or replace function adapter_search_terms_sync() returns trigger language plpgsql as $$
begin
  delete from adapter_search_terms where adapter_id = new.id;
  if new.visibility = 'published' and new.published_at is not null then
    insert into adapter_search_terms (adapter_id, term, weight)
    select new.id, q.query::text, ts_rank(new.search_vector, q.query)
    from unnest(new.search_vector) as l(lexeme, positions, weights)
    cross join lateral (select ('''' || replace(replace(l.lexeme, '\', '\\'), '''', '''''') || '''')::tsquery as query) q;
  end if;
  return null;
end
$$;
--> statement-breakpoint
create trigger adapter_search_terms_sync
  after insert or update of title, summary, description, visibility, published_at on adapters
  for each row execute function adapter_search_terms_sync();
--> statement-breakpoint
-- Backfill: the same rows for every listed listing (searchTermsInsert in src/catalog/search-terms.ts).
insert into adapter_search_terms (adapter_id, term, weight)
select a.id, q.query::text, ts_rank(a.search_vector, q.query)
from adapters a
cross join lateral unnest(a.search_vector) as l(lexeme, positions, weights)
cross join lateral (select ('''' || replace(replace(l.lexeme, '\', '\\'), '''', '''''') || '''')::tsquery as query) q
where a.visibility = 'published' and a.published_at is not null
on conflict do nothing;
--> statement-breakpoint
-- fingerprint_keys: every version fingerprinted before the table existed; module_keys keeps each version's keys.
INSERT INTO "fingerprint_keys" ("key", "version_id")
SELECT DISTINCT k.key, f.version_id
FROM "version_fingerprints" f, unnest(f.module_keys) AS k(key)
ON CONFLICT DO NOTHING;
