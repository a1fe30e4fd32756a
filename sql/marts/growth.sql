-- mart.growth: list status, week-over-week and multi-week growth per (complete
-- week, level, entity), spec §1.1–1.7. Windows are in calendar weeks (wk): a
-- missing week is not zero, so every comparison checks the week it reaches back to.
-- Incremental: a row looks back at most 12 weeks (tokens_12w_ago), so the rows from
-- since_week on are computed from the 12 weeks before on; whether an entity was
-- listed even earlier (re_entry, not new_entry) is looked up in the older rows.
with weeks as (
    select distinct wk, week_start, cap_tokens, total_tokens, other_tokens
    from mart.entity_week
    where week_start >= getvariable('since_week') - 84
),

week_links as (
    -- the first week and the week after a gap have no previous week to compare with
    select
        *,
        coalesce(lag(wk) over (order by wk) = wk - 1, false) as follows_observed_week,
        lag(cap_tokens) over (order by wk) as prev_week_cap_tokens,
        lag(total_tokens) over (order by wk) as prev_week_total_tokens
    from weeks
),

entity_keys as (
    -- an integer key per (level, entity): sorting and hashing on it costs about
    -- half as much as on the (level, entity_id) strings at benchmark size. Scanning
    -- entity_week twice (here and in history) is cheaper than materialising its rows once
    select
        level,
        entity_id,
        row_number() over () as entity_key,
        case when level in ('model', 'base_model') then split_part(entity_id, '/', 1)
             when level = 'author' then entity_id end as author,
        case when level = 'model' then case when entity_id like '%:free' then 'free' else 'paid' end
             when level = 'price_tier' then entity_id end as price_tier
    from (
        select distinct level, entity_id
        from mart.entity_week
        where week_start >= getvariable('since_week') - 84
    )
),

history as (
    -- one sort of all entity histories, by entity then week: the listing before and after,
    -- and the sum of the 4 weeks up to this one when all 4 are listed with exact values.
    -- A single integer sort key (entity_wk), not partitions: the row before belongs to the
    -- same entity and week - 1 exactly when its entity_wk is entity_wk - 1. Narrow on
    -- purpose: every window function copies all the columns it is given; names and week
    -- values are joined back by key below
    select
        *,
        lag(entity_key) over entity_weeks is distinct from entity_key as is_first_listing,
        coalesce(lag(entity_wk) over entity_weeks = entity_wk - 1, false) as listed_last_week,
        coalesce(lead(entity_wk) over entity_weeks = entity_wk + 1, false) as listed_next_week,
        -- the row before: only read for a listing continuing from last week (same entity)
        lag(tokens) over entity_weeks as prev_tokens,
        lag(tokens_upper) over entity_weeks as prev_tokens_upper,
        lag(is_complete) over entity_weeks as prev_is_complete,
        case when lag(entity_wk, 3) over entity_weeks = entity_wk - 3
             then exact_tokens + lag(exact_tokens, 1) over entity_weeks
                  + lag(exact_tokens, 2) over entity_weeks + lag(exact_tokens, 3) over entity_weeks
        end as tokens_4w_sum
    from (
        select
            k.entity_key, e.wk, e.tokens, e.tokens_upper, e.rank, e.share_pct, e.n_members,
            e.members_changed, e.is_complete,
            -- multi-week rates use exact values only (daily-built partial weeks are bounds, §0.6)
            case when e.is_complete then e.tokens end as exact_tokens,
            k.entity_key * 65536 + e.wk as entity_wk  -- one integer per (entity, week)
        from mart.entity_week as e
        join entity_keys as k using (level, entity_id)
        where e.week_start >= getvariable('since_week') - 84
    )
    window entity_weeks as (order by entity_wk)
),

listed_before_window as (
    -- entities whose first row read is from since_week on, but listed before the rows read
    select distinct h.entity_key
    from history as h
    join entity_keys as k using (entity_key)
    join mart.entity_week as e using (level, entity_id)
    where h.is_first_listing
      and h.wk >= date_diff('day', date '2000-01-03', getvariable('since_week')) // 7
      and e.week_start < getvariable('since_week') - 84
),

listed_rows as (
    select
        w.week_start,
        h.wk,
        k.level,
        k.entity_id,
        k.author,
        k.price_tier,
        case
            when not w.follows_observed_week then 'first_week_of_data'
            when h.listed_last_week then 'continuing'
            when h.is_first_listing and b.entity_key is null then 'new_entry'
            else 're_entry'
        end as status,
        h.tokens,
        h.rank,
        h.share_pct,
        100.0 * h.tokens / (w.total_tokens - w.other_tokens) as share_named_pct,
        w.follows_observed_week and h.listed_last_week as is_continuing,
        h.is_complete and h.prev_is_complete as is_exact_pair,
        h.prev_tokens,
        h.prev_tokens_upper,
        -- used only for a listing continuing from the week before
        w.prev_week_total_tokens as prev_total_tokens,
        w.prev_week_cap_tokens,
        h.tokens_upper,
        w.total_tokens,
        h.is_complete,
        h.exact_tokens,
        ago_4w.exact_tokens as tokens_4w_ago,
        ago_12w.exact_tokens as tokens_12w_ago,
        -- weeks t-3..t over t-7..t-4: together all 8 calendar weeks, listed and exact
        h.tokens_4w_sum as tokens_last_4w,
        ago_4w.tokens_4w_sum as tokens_prior_4w,
        h.n_members,
        h.members_changed
    from history as h
    join week_links as w using (wk)
    join entity_keys as k using (entity_key)
    left join listed_before_window as b using (entity_key)
    left join (select entity_wk + 4 as entity_wk, exact_tokens, tokens_4w_sum from history) as ago_4w
        using (entity_wk)
    left join (select entity_wk + 12 as entity_wk, exact_tokens from history) as ago_12w
        using (entity_wk)
    where w.week_start >= getvariable('since_week')
),

listed_growth as (
    select
        week_start,
        wk,
        level,
        entity_id,
        author,
        price_tier,
        status,
        tokens,
        rank,
        share_pct,
        share_named_pct,
        case when is_continuing and is_exact_pair and prev_tokens > 0
             then 100.0 * (tokens / prev_tokens - 1) end as wow_pct,
        case when is_continuing and is_exact_pair and prev_tokens > 0 and tokens > 0
             then ln(tokens / prev_tokens) end as log_growth,
        case when is_continuing and is_exact_pair
             then share_pct - 100.0 * prev_tokens / prev_total_tokens end as share_change_pp,
        case when is_continuing and is_exact_pair and prev_tokens > 0 and tokens > 0
             then ln((tokens / total_tokens) / (prev_tokens / prev_total_tokens)) end as share_log_change,
        case
            -- a partial week on either side: x_t in [obs, upper] gives a range, not a value
            when is_continuing and not is_exact_pair and prev_tokens_upper > 0
                then 100.0 * (tokens / prev_tokens_upper - 1)
            -- an entrant had at most the cap last week; a cap bounds one model, not a group
            when status in ('new_entry', 're_entry') and level = 'model' and prev_week_cap_tokens > 0
                then 100.0 * (tokens / prev_week_cap_tokens - 1)
        end as wow_lower_bound_pct,
        case when is_continuing and not is_exact_pair and prev_tokens > 0
             then 100.0 * (tokens_upper / prev_tokens - 1) end as wow_upper_bound_pct,
        case when not is_complete then tokens_upper end as tokens_upper_bound,
        case when exact_tokens > 0 and tokens_4w_ago > 0
             then ln(exact_tokens / tokens_4w_ago) end as log_growth_4w,
        case when tokens_4w_ago > 0
             then 100.0 * (exact_tokens / tokens_4w_ago - 1) end as growth_4w_pct,
        case when exact_tokens > 0 and tokens_12w_ago > 0
             then ln(exact_tokens / tokens_12w_ago) end as log_growth_12w,
        case when tokens_12w_ago > 0
             then 100.0 * (exact_tokens / tokens_12w_ago - 1) end as growth_12w_pct,
        case when tokens_prior_4w > 0
             then 100.0 * (tokens_last_4w / tokens_prior_4w - 1) end as growth_4w_over_4w_pct,
        rank <= 10 as in_top10,
        rank <= 20 as in_top20,
        rank <= 50 as in_top50,
        n_members,
        members_changed,
        is_complete
    from listed_rows
),

exited_rows as (
    -- one row in the week after the last listed week, when that week has data
    select
        w.week_start,
        w.wk,
        k.level,
        k.entity_id,
        k.author,
        k.price_tier,
        'exited' as status,
        cast(null as bigint) as tokens,
        cast(null as integer) as rank,
        cast(null as double) as share_pct,
        cast(null as double) as share_named_pct,
        cast(null as double) as wow_pct,
        cast(null as double) as log_growth,
        cast(null as double) as share_change_pp,
        cast(null as double) as share_log_change,
        cast(null as double) as wow_lower_bound_pct,
        case when k.level = 'model' and l.tokens > 0
             then 100.0 * (w.cap_tokens / l.tokens - 1) end as wow_upper_bound_pct,
        case when k.level = 'model' then w.cap_tokens end as tokens_upper_bound,
        cast(null as double) as log_growth_4w,
        cast(null as double) as growth_4w_pct,
        cast(null as double) as log_growth_12w,
        cast(null as double) as growth_12w_pct,
        cast(null as double) as growth_4w_over_4w_pct,
        false as in_top10,
        false as in_top20,
        false as in_top50,
        0 as n_members,
        true as members_changed,
        cast(null as boolean) as is_complete
    from history as l
    join entity_keys as k using (entity_key)
    join weeks as w on w.wk = l.wk + 1
    where not l.listed_next_week
      and w.week_start >= getvariable('since_week')
),

unioned as (
    select * from listed_growth
    union all by name
    select * from exited_rows
),

final as (
    select
        week_start,
        cast(wk as integer) as wk,
        level,
        entity_id,
        author,
        price_tier,
        status,
        tokens,
        rank,
        share_pct,
        share_named_pct,
        wow_pct,
        log_growth,
        share_change_pp,
        share_log_change,
        wow_lower_bound_pct,
        wow_upper_bound_pct,
        cast(tokens_upper_bound as bigint) as tokens_upper_bound,
        log_growth_4w,
        growth_4w_pct,
        log_growth_12w,
        growth_12w_pct,
        growth_4w_over_4w_pct,
        -- CAGR-like; only from a 12-week window (annualising shorter ones compounds noise, §1.4)
        100.0 * (exp((52.0 / 12.0) * log_growth_12w) - 1) as annualised_12w_pct,
        in_top10,
        in_top20,
        in_top50,
        cast(n_members as integer) as n_members,
        members_changed,
        is_complete
    from unioned
)

select * from final
