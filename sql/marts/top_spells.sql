-- mart.top_spells: maximal runs of consecutive calendar weeks an entity spends in
-- the top N of its level, for each N in getvariable('top_ns') (spec §2.7, §6.8).
-- A missing week ends a run: whether the entity stayed in the top N is unknown.
-- Always rebuilt in full: a spell can reach back to the first week of data, the table is
-- small (13 k rows at 520 weeks, < 0.1 s) and its one reader (the retention mart) is full too.
with weeks as (
    select distinct wk, week_start
    from mart.entity_week
),

top_ns as (
    select unnest(getvariable('top_ns')) as top_n
),

members as (
    select e.level, n.top_n, e.entity_id, e.wk, e.week_start
    from mart.entity_week as e
    join top_ns as n on e.rank <= n.top_n
),

islands as (
    -- gaps and islands: consecutive weeks share wk - row_number()
    select
        *,
        wk - row_number() over (partition by level, top_n, entity_id order by wk) as island
    from members
),

spells as (
    select
        level,
        top_n,
        entity_id,
        min(wk) as first_wk,
        max(wk) as last_wk,
        min(week_start) as spell_start,
        max(week_start) as spell_end,
        count(*) as length_weeks
    from islands
    group by level, top_n, entity_id, island
),

final as (
    select
        s.level,
        cast(s.top_n as integer) as top_n,
        s.entity_id,
        s.spell_start,
        s.spell_end,
        cast(s.length_weeks as integer) as length_weeks,
        -- censored = the week beyond the spell's edge has no data (start or end of data, or a gap)
        before.wk is null as left_censored,
        after.wk is null as right_censored
    from spells as s
    left join weeks as before on before.wk = s.first_wk - 1
    left join weeks as after on after.wk = s.last_wk + 1
)

select * from final
