-- core.segment_week: the models of each use-case segment's weekly ranking.
with rows_ as (
    select * from latest_rankings
    where period = 'week' and segment_type <> 'all' and not is_other
),

final as (
    select
        r.bucket_date as week_start,
        r.segment_type,
        r.segment,
        r.model_permaslug,
        r.tokens,
        cast(row_number() over (
            partition by r.bucket_date, r.segment_type, r.segment
            order by r.tokens desc, r.model_permaslug
        ) as integer) as rank,
        r.tokens / m.total_tokens as share,
        r.segment_type = 'category' as is_estimate,
        r.as_of
    from rows_ as r
    join core.segment_market_week as m
      on m.week_start = r.bucket_date and m.segment_type = r.segment_type and m.segment = r.segment
)

select * from final
