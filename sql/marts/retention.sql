-- mart.retention: how long top-N membership lasts (spec §2.7), per level and N:
-- each cohort's retention curve (share of week t's top N also in the top N at
-- t + h, gaps in between allowed) plus three half-life estimators per (level, N).
with weeks as (
    select distinct wk, week_start
    from mart.entity_week
),

top_ns as (
    select unnest(getvariable('top_ns')) as top_n
),

horizons as (
    -- a year of horizons: pairing every week with every later one would be O(weeks²)
    select range as h_weeks from range(0, 53)
),

entity_keys as (
    -- integer keys: the pairing below probes millions of rows at benchmark size
    select level, entity_id, row_number() over () as entity_key
    from (select distinct level, entity_id from mart.entity_week)
),

members as (
    select e.level, n.top_n, k.entity_key, e.wk
    from mart.entity_week as e
    join entity_keys as k using (level, entity_id)
    join top_ns as n on e.rank <= n.top_n
),

cohorts as (
    -- the cohort is the week's list; below N entities (e.g. two price tiers) it is shorter
    select level, top_n, wk as cohort_wk, count(*) as cohort_size
    from members
    group by all
),

cohort_horizons as (
    -- only horizons whose week has data: a missing week is unknown, not an empty list
    select c.level, c.top_n, c.cohort_wk, h.h_weeks, w.week_start, c.cohort_size
    from cohorts as c
    cross join horizons as h
    join weeks as w on w.wk = c.cohort_wk + h.h_weeks
),

probes as (
    -- each member, looked for again h weeks later
    select m.level, m.top_n, m.entity_key, m.wk as cohort_wk, h.h_weeks, m.wk + h.h_weeks as later_wk
    from members as m
    cross join horizons as h
),

still_in as (
    -- a semi join: a plain join + count(*) here lets the optimizer pre-aggregate
    -- millions of unique probe rows (5x slower at benchmark size)
    select p.level, p.top_n, p.cohort_wk, p.h_weeks, count(*) as retained
    from probes as p
    semi join members as later
      on later.entity_key = p.entity_key and later.top_n = p.top_n and later.wk = p.later_wk
    group by all
),

curve as (
    select
        c.*,
        coalesce(s.retained, 0) as retained,
        coalesce(s.retained, 0) / c.cohort_size as retention
    from cohort_horizons as c
    left join still_in as s using (level, top_n, cohort_wk, h_weeks)
),

mean_curve as (
    select level, top_n, h_weeks, avg(retention) as mean_retention, count(*) as n_cohorts
    from curve
    group by all
),

curve_summary as (
    select
        level,
        top_n,
        avg(mean_retention) filter (where h_weeks = 1) as mean_weekly_retention,
        min(h_weeks) filter (where mean_retention <= 0.5) as half_life_empirical_weeks
    from mean_curve
    group by all
),

km_steps as (
    -- Kaplan-Meier on spell lengths: spells running at the first week of data (or
    -- after a gap) are dropped (left-truncated, true start unknown); spells still
    -- running at the last week (or before a gap) are right-censored, at risk up to their length
    select
        level,
        top_n,
        length_weeks,
        count(*) filter (where not right_censored) as ended,
        count(*) as spells
    from mart.top_spells
    where not left_censored
    group by all
),

km_survival as (
    select
        level,
        top_n,
        length_weeks,
        product(1 - ended / at_risk) over (partition by level, top_n order by length_weeks) as survival
    from (
        select *, sum(spells) over (partition by level, top_n order by length_weeks desc) as at_risk
        from km_steps
    )
),

km_median as (
    -- the tolerance keeps an exact 0.5 (e.g. 3/4 * 2/3) from missing by rounding
    select level, top_n, min(length_weeks) filter (where survival <= 0.5 + 1e-12) as half_life_km_weeks
    from km_survival
    group by all
),

final as (
    select
        c.level,
        cast(c.top_n as integer) as top_n,
        w.week_start as cohort_week,
        cast(c.h_weeks as integer) as h_weeks,
        c.week_start,
        cast(c.cohort_size as integer) as cohort_size,
        cast(c.retained as integer) as retained,
        c.retention,
        m.mean_retention,
        cast(m.n_cohorts as integer) as n_cohorts,
        s.mean_weekly_retention,
        case when s.mean_weekly_retention > 0 and s.mean_weekly_retention < 1
             then ln(0.5) / ln(s.mean_weekly_retention) end as half_life_geometric_weeks,
        cast(s.half_life_empirical_weeks as integer) as half_life_empirical_weeks,
        cast(k.half_life_km_weeks as integer) as half_life_km_weeks
    from curve as c
    join weeks as w on w.wk = c.cohort_wk
    join mean_curve as m using (level, top_n, h_weeks)
    join curve_summary as s using (level, top_n)
    left join km_median as k using (level, top_n)
)

select * from final
