-- adapter_search_terms (helper "searchgrowth", issue 24): kept by a trigger on adapters, in the
-- transaction of whatever changes a listing's text or whether it is listed (updateAdapter,
-- publishing a version, or any other writer); run after the migration that creates the table.
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
