comment on table mart.top_spells is 'Spells in the top N: maximal runs of consecutive calendar weeks an entity ranks <= N at its level, one row per (level, N, entity, spell start), for each N in the top_ns setting (spec §2.7).';
comment on column mart.top_spells.level is 'model, base_model, author or price_tier.';
comment on column mart.top_spells.top_n is 'List depth N of the spell (rank <= N).';
comment on column mart.top_spells.entity_id is 'The model slug, base slug, author or price tier.';
comment on column mart.top_spells.spell_start is 'Monday of the first week of the spell.';
comment on column mart.top_spells.spell_end is 'Monday of the last week of the spell.';
comment on column mart.top_spells.length_weeks is 'Weeks in the spell (spell_end - spell_start in weeks + 1).';
comment on column mart.top_spells.left_censored is 'True when the week before spell_start has no data (first week of data or a missing week): the spell may have started earlier.';
comment on column mart.top_spells.right_censored is 'True when the week after spell_end has no data (latest week or a missing week): the spell may still be running.';
