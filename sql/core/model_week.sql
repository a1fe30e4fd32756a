-- core.model_week: weekly buckets from period=week (exact), and for weeks that
-- only have period=day rows, the daily sums with their upper bounds (spec §0.6).
with weekly as (
    select * from latest_rankings
    where period = 'week' and segment_type = 'all' and not is_other
),

daily as (
    select *, cast(date_trunc('week', bucket_date) as date) as week_start
    from latest_rankings
    where period = 'day' and segment_type = 'all'
      and cast(date_trunc('week', bucket_date) as date) not in (
          select bucket_date from latest_rankings where period = 'week' and segment_type = 'all')
),

day_caps as (
    -- v_N(d): the last listed model of each day, the most any unlisted model had that day
    select bucket_date, week_start, min(tokens) filter (where not is_other) as cap_day
    from daily
    group by all
),

daily_models as (
    select
        d.week_start,
        d.model_permaslug,
        sum(d.tokens) as tokens,
        count(*) as days_present,
        max(d.as_of) as as_of,
        max(d.pull_id) as pull_id
    from daily as d
    where not d.is_other
    group by all
),

daily_bounds as (
    select
        m.*,
        m.tokens + coalesce((
            select sum(c.cap_day) from day_caps as c
            where c.week_start = m.week_start
              and c.bucket_date not in (
                  select x.bucket_date from daily as x
                  where x.model_permaslug = m.model_permaslug and x.week_start = m.week_start)
        ), 0) as tokens_upper
    from daily_models as m
),

unioned as (
    select
        bucket_date as week_start, model_permaslug, tokens, tokens as tokens_upper,
        'api_week' as source, as_of, days_covered as days_present,
        days_covered = 7 as is_complete, pull_id
    from weekly
    union all
    select
        week_start, model_permaslug, tokens, tokens_upper,
        'api_day' as source, as_of, days_present,
        days_present = 7 as is_complete, pull_id
    from daily_bounds
),

final as (
    select
        u.week_start,
        u.model_permaslug,
        split_part(u.model_permaslug, '/', 1) as author,
        regexp_replace(u.model_permaslug, ':[^:/]*$', '') as base_model,
        nullif(regexp_extract(u.model_permaslug, ':([^:/]*)$', 1), '') as variant,
        u.model_permaslug like '%:free' as is_free,
        u.tokens,
        u.tokens_upper,
        cast(row_number() over (
            partition by u.week_start order by u.tokens desc, u.model_permaslug
        ) as integer) as rank,
        u.tokens / m.total_tokens as share,
        u.source,
        u.as_of,
        u.days_present,
        u.is_complete,
        u.pull_id
    from unioned as u
    join core_market_week_staged as m using (week_start)
)

select * from final
