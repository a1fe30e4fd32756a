-- mart.top_spells: maximal runs of consecutive calendar weeks an entity spends in
-- the top N of its level, for each N in getvariable('top_ns') (spec §2.7, §6.8).
-- A missing week ends a run: whether the entity stayed in the top N is unknown.
-- Incremental: a spell depends on its weeks, the week after it (does it go on? is it
-- right-censored?) and the week before it (left-censored?), so a spell that ends before the
-- week before since_week reads only unchanged weeks and stays; the stale ones end later
-- (top_spells.stale.sql). They are the runs of member weeks from the week before since_week
-- on, except that a run holding that week may have begun earlier: it is traced back through
-- its entity's older member weeks (open_history), the only read of older history.
with params as (
    -- the week before since_week (in a full build, a week before any data)
    select date_diff('day', date '2000-01-03', getvariable('since_week') - 7) // 7 as open_wk
),

weeks as (
    -- a week of data has listed models, hence a model ranked 1: fewer rows to read than all
    select distinct wk
    from mart.entity_week
    where rank = 1 and level = 'model'
),

top_ns as (
    select unnest(getvariable('top_ns')) as top_n
),

members as (
    select e.level, n.top_n, e.entity_id, e.wk, e.week_start
    from mart.entity_week as e
    join top_ns as n on e.rank <= n.top_n
    where e.week_start >= getvariable('since_week') - 7
),

islands as (
    -- gaps and islands: consecutive weeks share wk - row_number()
    select
        *,
        wk - row_number() over (partition by level, top_n, entity_id order by wk) as island
    from members
),

runs as (
    select
        level,
        top_n,
        entity_id,
        min(wk) as first_wk,
        max(wk) as last_wk,
        min(week_start) as run_start,
        max(week_start) as spell_end,
        count(*) as run_weeks
    from islands
    group by level, top_n, entity_id, island
),

open_runs as (
    -- the runs that hold the week before since_week (none in a full build), with an integer key
    select r.level, r.top_n, r.entity_id, row_number() over () as run_key
    from runs as r
    join params as p on r.first_wk = p.open_wk
),

open_history as (
    -- their entities' member weeks before that week, one integer per (run, week): the same
    -- run's previous week is that integer - 1
    select o.run_key * 1048576 + e.wk as run_wk, e.wk, e.week_start
    from mart.entity_week as e
    join open_runs as o on o.level = e.level and o.entity_id = e.entity_id and e.rank <= o.top_n
    where e.week_start < getvariable('since_week') - 7
      and e.rank <= list_max(getvariable('top_ns'))  -- a constant filter, applied in the scan
),

earlier as (
    -- a week whose previous week is not a member week (not ranked <= N, not listed, or no data)
    -- starts a run; the latest such start begins the run up to the week before the open run,
    -- if that run reaches it (last_wk). A hash lookup: cheaper than a window over the history
    select
        o.level,
        o.top_n,
        o.entity_id,
        max(h.wk) filter (where h.starts_run) as first_wk,
        max(h.week_start) filter (where h.starts_run) as spell_start,
        max(h.wk) as last_wk
    from (
        select *, run_wk - 1 not in (select run_wk from open_history) as starts_run
        from open_history
    ) as h
    join open_runs as o on o.run_key = h.run_wk // 1048576
    group by o.level, o.top_n, o.entity_id
),

spells as (
    select
        r.level,
        r.top_n,
        r.entity_id,
        coalesce(x.first_wk, r.first_wk) as first_wk,
        r.last_wk,
        coalesce(x.spell_start, r.run_start) as spell_start,
        r.spell_end,
        -- the earlier part holds every week from its start to the open run's first week
        r.run_weeks + coalesce(r.first_wk - x.first_wk, 0) as length_weeks
    from runs as r
    left join earlier as x
        on x.level = r.level and x.top_n = r.top_n and x.entity_id = r.entity_id
        and x.last_wk = r.first_wk - 1
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
