-- mart.retention: how long top-N membership lasts (spec §2.7), per level and N:
-- each cohort's retention curve (share of week t's top N also in the top N at
-- t + h, gaps in between allowed) plus three half-life estimators per (level, N).
-- Incremental by reusing its rows (assets/marts.py): every row carries the mean curve
-- over all cohorts, which each new week changes, so the table is replaced in full; but a
-- cohort row (t, h) compares the lists of weeks t and t + h alone, so rows whose week
-- t + h precedes since_week are copied from the previous build (getvariable('previous_rows'))
-- and only the others are computed, from the lists of the 52 weeks before since_week on.
-- A full build copies nothing (no_previous_rows) and computes every row.
with weeks as (
    -- the weeks a recomputed cohort row reads: its week t + h is since_week or later, so
    -- t is at most 52 weeks before
    select distinct wk, week_start
    from mart.entity_week
    where rank = 1  -- every week of data has a leader
      and week_start >= getvariable('since_week') - 7 * 52
),

top_ns as (
    select unnest(getvariable('top_ns')) as top_n
),

series as (
    -- one integer id per (level, N): the joins below run on integers
    select l.level, n.top_n, row_number() over (order by l.level, n.top_n) as series_id
    from (select distinct level from mart.entity_week where week_start >= getvariable('since_week') - 7 * 52) as l
    cross join top_ns as n
),

members as (
    select s.series_id, e.entity_id, e.wk
    from mart.entity_week as e
    join series as s on s.level = e.level and e.rank <= s.top_n
    where e.week_start >= getvariable('since_week') - 7 * 52
),

entity_bits as (
    -- each entity of a series gets a bit, numbered in order of its first week in the
    -- lists: a week's list then sits in one or two masks (entities of its time); the
    -- numbering is internal (a row counts common members), so numbering only the
    -- entities of the weeks read changes no value
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
    from (
        -- only the horizons whose week t + h is since_week or later (wk counts weeks from
        -- 2000-01-03, as in mart.entity_week; rounded up, so that these rows and the copied
        -- ones split at the same Monday); written inline: as a joined one-row subquery it
        -- turns the join below around and the full build takes about 1.4 times as long
        select
            *,
            unnest(range(greatest((date_diff('day', date '2000-01-03', getvariable('since_week')) + 6) // 7 - wk, 0),
                         53)) as h_weeks
        from week_lists
    ) as c
    join weeks as w on w.wk = c.wk + c.h_weeks
    left join week_lists as l on l.series_id = c.series_id and l.chunk = c.chunk and l.wk = c.wk + c.h_weeks
    group by c.series_id, c.wk, c.h_weeks
),

no_previous_rows as (
    -- what a full build reuses: nothing (mart.retention need not exist)
    select
        null::varchar as level,
        null::integer as top_n,
        null::date as cohort_week,
        null::integer as h_weeks,
        null::date as week_start,
        null::integer as cohort_size,
        null::integer as retained,
        null::double as retention
    where false
),

cohort_rows as (
    select
        s.level,
        cast(s.top_n as integer) as top_n,
        w.week_start as cohort_week,
        cast(c.h_weeks as integer) as h_weeks,
        c.week_start,
        cast(c.cohort_size as integer) as cohort_size,
        cast(c.retained as integer) as retained,
        c.retention
    from curve as c
    join weeks as w on w.wk = c.cohort_wk
    join series as s using (series_id)
    union all
    -- rows whose weeks t and t + h both precede since_week: the previous build's, as they were
    select level, top_n, cohort_week, h_weeks, week_start, cohort_size, retained, retention
    from query_table(getvariable('previous_rows'))
    where week_start < getvariable('since_week')
),

mean_curve as (
    -- the mean as an exact fixed-point sum (retention * 2^80 is an integer), so it does not
    -- depend on the order rows arrive in (reused rows come in another order than computed ones)
    select
        level,
        top_n,
        h_weeks,
        sum((retention * 2.0 ^ 80)::hugeint) / (count(*) * 2.0 ^ 80) as mean_retention,
        count(*) as n_cohorts
    from cohort_rows
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
        c.top_n,
        c.cohort_week,
        c.h_weeks,
        c.week_start,
        c.cohort_size,
        c.retained,
        c.retention,
        m.mean_retention,
        cast(m.n_cohorts as integer) as n_cohorts,
        s.mean_weekly_retention,
        case when s.mean_weekly_retention > 0 and s.mean_weekly_retention < 1
             then ln(0.5) / ln(s.mean_weekly_retention) end as half_life_geometric_weeks,
        cast(s.half_life_empirical_weeks as integer) as half_life_empirical_weeks,
        cast(k.half_life_km_weeks as integer) as half_life_km_weeks
    from cohort_rows as c
    join mean_curve as m using (level, top_n, h_weeks)
    join curve_summary as s using (level, top_n)
    left join km_median as k on k.level = s.level and k.top_n = s.top_n
)

select * from final
