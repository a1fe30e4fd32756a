-- mart.retention: how long top-N membership lasts (spec §2.7), per level and N: each
-- cohort's retention (share of week t's top N also in the top N at t + h, gaps in between
-- allowed). The mean curve over cohorts and the half-lives are mart.retention_curve.
-- Incremental: a row (t, h) compares the lists of weeks t and t + h alone, so the stale rows
-- are those whose week t + h is since_week or later, computed from the lists of the 52 weeks
-- before since_week on.
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
        -- 2000-01-03, as in mart.entity_week; rounded up, so that these rows and the stale
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

final as (
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
)

select * from final
