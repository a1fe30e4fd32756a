-- core.model_dim: every ranked model, with catalogue attributes when the
-- current catalogue has it (stealth and retired models are kept, not dropped).
with ranked as (
    select
        model_permaslug,
        min(week_start) as first_seen_week,
        max(week_start) as last_seen_week,
        count(*) as weeks_listed
    from core.model_week
    group by model_permaslug
),

catalogue as (
    select * from core.models where valid_to is null
    qualify row_number() over (partition by model_permaslug order by valid_from desc, model_id) = 1
),

slugs as (
    select model_permaslug from ranked
    union
    select model_permaslug from catalogue
),

final as (
    select
        s.model_permaslug,
        split_part(s.model_permaslug, '/', 1) as author,
        regexp_replace(s.model_permaslug, ':[^:/]*$', '') as base_model,
        nullif(regexp_extract(s.model_permaslug, ':([^:/]*)$', 1), '') as variant,
        s.model_permaslug like '%:free' as is_free,
        r.first_seen_week,
        r.last_seen_week,
        cast(coalesce(r.weeks_listed, 0) as integer) as weeks_listed,
        c.model_permaslug is not null as in_catalogue,
        c.name,
        c.created_at
    from slugs as s
    left join ranked as r using (model_permaslug)
    left join catalogue as c using (model_permaslug)
)

select * from final
