-- mart.leaderboard: the weekly top 50 models as the public rankings page shows
-- them, with the page's week-over-week label: round(100 * (w - w_prev) / w_prev)
-- as '+32%', or 'new' when the model was not listed the week before (sources.md §3.1).
with weeks as (
    select distinct wk
    from mart.entity_week
),

week_links as (
    -- the first week and the week after a gap cannot tell 'new' from unknown
    select wk, coalesce(lag(wk) over (order by wk) = wk - 1, false) as follows_observed_week
    from weeks
),

models as (
    select
        e.week_start,
        e.wk,
        e.rank,
        e.entity_id as model_permaslug,
        e.tokens,
        e.share_pct,
        w.follows_observed_week,
        case when lag(e.wk) over entity = e.wk - 1 then lag(e.tokens) over entity end as prev_tokens
    from mart.entity_week as e
    join week_links as w using (wk)
    where e.level = 'model'
    window entity as (partition by e.entity_id order by e.wk)
),

changes as (
    select
        *,
        case when prev_tokens > 0
             then cast(round(100.0 * (tokens - prev_tokens) / prev_tokens) as integer) end as change_pct_display
    from models
    where rank <= 50
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
