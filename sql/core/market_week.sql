-- core.market_week: the week's total incl. other, from period=week buckets, or
-- summed from period=day rows for weeks the weekly feed does not have.
with weekly as (
    select
        bucket_date as week_start,
        sum(tokens) as total_tokens,
        coalesce(sum(tokens) filter (where is_other), 0) as other_tokens,
        count(*) filter (where not is_other) as listed_models,
        min(tokens) filter (where not is_other) as cap_tokens,
        'api_week' as source,
        max(as_of) as as_of,
        max(days_covered) as days_present
    from latest_rankings
    where period = 'week' and segment_type = 'all'
    group by bucket_date
),

daily_days as (
    select
        bucket_date,
        cast(date_trunc('week', bucket_date) as date) as week_start,
        sum(tokens) as total_tokens,
        coalesce(sum(tokens) filter (where is_other), 0) as other_tokens,
        min(tokens) filter (where not is_other) as cap_day,
        max(as_of) as as_of
    from latest_rankings
    where period = 'day' and segment_type = 'all'
    group by bucket_date
),

daily as (
    select
        d.week_start,
        sum(d.total_tokens) as total_tokens,
        sum(d.other_tokens) as other_tokens,
        (select count(distinct r.model_permaslug) from latest_rankings as r
          where r.period = 'day' and r.segment_type = 'all' and not r.is_other
            and cast(date_trunc('week', r.bucket_date) as date) = d.week_start) as listed_models,
        sum(d.cap_day) as cap_tokens,
        'api_day' as source,
        max(d.as_of) as as_of,
        count(*) as days_present
    from daily_days as d
    where d.week_start not in (select week_start from weekly)
    group by d.week_start
),

unioned as (
    select * from weekly
    union all
    select * from daily
),

final as (
    select
        week_start,
        cast(total_tokens as bigint) as total_tokens,
        cast(other_tokens as bigint) as other_tokens,
        cast(total_tokens - other_tokens as bigint) as named_tokens,
        cast(listed_models as integer) as listed_models,
        (total_tokens - other_tokens) / nullif(total_tokens, 0) as named_share,
        cast(cap_tokens as bigint) as cap_tokens,
        source,
        as_of,
        cast(days_present as integer) as days_present,
        days_present = 7 as is_complete
    from unioned
)

select * from final
