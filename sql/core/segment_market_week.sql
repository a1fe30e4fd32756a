-- core.segment_market_week: each use-case segment's weekly total (other included).
with buckets as (
    select
        bucket_date as week_start,
        segment_type,
        segment,
        sum(tokens) as total_tokens,
        coalesce(sum(tokens) filter (where is_other), 0) as other_tokens,
        count(*) filter (where not is_other) as listed_models,
        min(tokens) filter (where not is_other) as cap_tokens,
        max(days_covered) as days_covered,
        max(as_of) as as_of
    from latest_rankings
    where period = 'week' and segment_type <> 'all'
    group by all
),

final as (
    select
        week_start,
        segment_type,
        segment,
        cast(total_tokens as bigint) as total_tokens,
        cast(other_tokens as bigint) as other_tokens,
        cast(listed_models as integer) as listed_models,
        cast(cap_tokens as bigint) as cap_tokens,
        segment_type = 'category' as is_estimate,
        days_covered = 7 as is_complete,
        as_of
    from buckets
)

select * from final
