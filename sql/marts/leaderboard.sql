-- mart.leaderboard: the weekly top 50 models as the public rankings page shows
-- them, with the page's week-over-week label: round(100 * (w - w_prev) / w_prev)
-- as '+32%', or 'new' when the model was not listed the week before (sources.md §3.1).
-- Incremental: a week's rows need that week and the week before.
with weeks as (
    select distinct wk
    from mart.entity_week
    where week_start >= getvariable('since_week') - 7
),

week_links as (
    -- the first week and the week after a gap cannot tell 'new' from unknown
    select wk, coalesce(lag(wk) over (order by wk) = wk - 1, false) as follows_observed_week
    from weeks
),

models as (
    select week_start, wk, rank, entity_id as model_permaslug, tokens, share_pct
    from mart.entity_week
    where level = 'model' and week_start >= getvariable('since_week') - 7
),

changes as (
    -- the week before: a hash lookup for the top 50 only, not a window over every model
    select
        t.week_start,
        t.rank,
        t.model_permaslug,
        t.tokens,
        t.share_pct,
        w.follows_observed_week,
        p.tokens as prev_tokens,
        case when p.tokens > 0
             then cast(round(100.0 * (t.tokens - p.tokens) / p.tokens) as integer) end as change_pct_display
    from models as t
    join week_links as w using (wk)
    left join models as p on p.model_permaslug = t.model_permaslug and p.wk = t.wk - 1
    where t.rank <= 50 and t.week_start >= getvariable('since_week')
),

final as (
    select
        week_start,
        rank,
        model_permaslug,
        split_part(model_permaslug, '/', 1) as author,
        tokens,
        share_pct,
        prev_tokens,
        change_pct_display,
        case
            when not follows_observed_week then null
            when prev_tokens is null then 'new'
            when change_pct_display > 0 then '+' || change_pct_display || '%'
            else change_pct_display || '%'
        end as change_label
    from changes
)

select * from final
