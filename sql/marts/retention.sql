-- mart.retention: how long top-N membership lasts (spec §2.7), per level and N:
-- each cohort's retention curve (share of week t's top N also in the top N at
-- t + h, gaps in between allowed) plus three half-life estimators per (level, N).
-- Always rebuilt in full: every row carries the mean curve over all cohorts, which
-- each new week changes.
with weeks as (
    select distinct wk, week_start
    from mart.entity_week
    where rank = 1  -- every week of data has a leader
),

top_ns as (
    select unnest(getvariable('top_ns')) as top_n
),

series as (
    -- one integer id per (level, N): the joins below run on integers
    select l.level, n.top_n, row_number() over (order by l.level, n.top_n) as series_id
    from (select distinct level from mart.entity_week) as l
    cross join top_ns as n
),

members as (
    select s.series_id, e.entity_id, e.wk
    from mart.entity_week as e
    join series as s on s.level = e.level and e.rank <= s.top_n
),

entity_bits as (
    -- each entity of a series gets a bit, numbered in order of its first week in the
    -- lists: a week's list then sits in one or two masks (entities of its time)
    select
        series_id,
        entity_id,
        row_number() over (partition by series_id order by first_wk, entity_id) - 1 as bit
    from (select series_id, entity_id, min(wk) as first_wk from members group by all)
),

week_lists as (
    -- the week's top N as bit masks of 127 entities (a hugeint less its sign bit), so
    -- "still in the list h weeks later" is a bit count of an AND, not a probe per
    -- member and horizon
    select
        m.series_id,
        m.wk,
        b.bit // 127 as chunk,
        bit_or(1::hugeint << (b.bit % 127)::hugeint) as mask,
        count(*) as listed
    from members as m
    join entity_bits as b using (series_id, entity_id)
    group by all
),

curve as (
    -- a year of horizons (pairing every week with every later one would be O(weeks²));
    -- cohort = the week's list (below N entities, e.g. two price tiers, it is shorter);
    -- only horizons whose week has data: a missing week is unknown, not an empty list
    select
        c.series_id,
        c.wk as cohort_wk,
        c.h_weeks,
        any_value(w.week_start) as week_start,
        sum(c.listed) as cohort_size,
        coalesce(sum(bit_count(c.mask & l.mask)), 0) as retained,
        coalesce(sum(bit_count(c.mask & l.mask)), 0) / sum(c.listed) as retention
    from (select *, unnest(range(0, 53)) as h_weeks from week_lists) as c
    join weeks as w on w.wk = c.wk + c.h_weeks
    left join week_lists as l on l.series_id = c.series_id and l.chunk = c.chunk and l.wk = c.wk + c.h_weeks
    group by c.series_id, c.wk, c.h_weeks
),

mean_curve as (
    -- the mean as an exact fixed-point sum (retention * 2^80 is an integer), so it does not
    -- depend on the order rows arrive in (an incremental run stores rows in another order)
    select
        series_id,
        h_weeks,
        sum((retention * 2.0 ^ 80)::hugeint) / (count(*) * 2.0 ^ 80) as mean_retention,
        count(*) as n_cohorts
    from curve
    group by all
),

curve_summary as (
    select
        s.level,
        s.top_n,
        s.series_id,
        avg(m.mean_retention) filter (where m.h_weeks = 1) as mean_weekly_retention,
        min(m.h_weeks) filter (where m.mean_retention <= 0.5) as half_life_empirical_weeks
    from mean_curve as m
    join series as s using (series_id)
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
        s.level,
        cast(s.top_n as integer) as top_n,
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
    join mean_curve as m using (series_id, h_weeks)
    join curve_summary as s using (series_id)
    left join km_median as k on k.level = s.level and k.top_n = s.top_n
)

select * from final
