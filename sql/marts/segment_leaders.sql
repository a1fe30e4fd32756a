-- mart.segment_leaders: who wins each use case, per (complete week, segment_type, segment).
-- Segments are the Data API's categories (sampled estimates) and modalities (exact),
-- plus the free tier as its own segment: the :free variants of the main ranking.
-- Category and modality shares use the segment total (other included) and the §4.4
-- HHI bounds with the segment's cap. The free tier's hidden members sit in the main
-- feed's other, mixed with paid models, so its total is unknown: its shares are of
-- the listed free tokens and its HHI is the exact one of that visible list.
-- Incremental: a week's row looks back 3 weeks at most (leader_weeks_4w), so the weeks from
-- getvariable('since_week') on are computed from the 3 weeks before them on; sums of squares
-- are exact integers (the same bits in a full or partial build, in any storage order).
with segment_weeks as (
    select
        week_start,
        week_start >= coalesce(getvariable('since_week'), date '1900-01-01') as in_build,
        date_diff('day', date '2000-01-03', week_start) // 7 as wk,
        segment_type,
        segment,
        is_estimate,
        total_tokens,
        other_tokens,
        cap_tokens,
        listed_models
    from core.segment_market_week
    where is_complete
      and week_start >= coalesce(getvariable('since_week'), date '1900-01-01') - interval 21 day
),

segment_squares as (
    -- the sum of squares reads every member (4 M rows at benchmark size): one aggregate on
    -- the narrow columns; the leader and runner-up come from the rank 1 and 2 rows alone
    select week_start, segment_type, segment, sum(tokens::hugeint * tokens)::double as sum_x2
    from core.segment_week
    where week_start >= coalesce(getvariable('since_week'), date '1900-01-01') - interval 21 day
    group by all
),

segment_top2 as (
    -- core.segment_week already ranks each segment (tokens desc, ties by slug)
    select
        week_start,
        segment_type,
        segment,
        max(model_permaslug) filter (where rank = 1) as leader_id,
        max(tokens) filter (where rank = 1) as leader_tokens,
        max(model_permaslug) filter (where rank = 2) as runner_up_id,
        max(tokens) filter (where rank = 2) as runner_up_tokens
    from core.segment_week
    where rank <= 2
      and week_start >= coalesce(getvariable('since_week'), date '1900-01-01') - interval 21 day
    group by all
),

segment_stats as (
    select q.week_start, q.segment_type, q.segment, t.* exclude (week_start, segment_type, segment), q.sum_x2
    from segment_squares as q
    left join segment_top2 as t using (week_start, segment_type, segment)
),

free_members as (
    -- the model rows of complete weeks, as mart.entity_week has them; read from core, so this
    -- mart need not wait for entity_week and builds beside it
    select
        m.week_start,
        date_diff('day', date '2000-01-03', m.week_start) // 7 as wk,
        m.model_permaslug,
        m.tokens,
        row_number() over (partition by m.week_start order by m.tokens desc, m.model_permaslug) as rnk
    from core.model_week as m
    join core.market_week as w using (week_start)
    where w.is_complete and m.model_permaslug like '%:free'
      and m.week_start >= coalesce(getvariable('since_week'), date '1900-01-01') - interval 21 day
),

free_weeks as (
    select
        week_start,
        week_start >= coalesce(getvariable('since_week'), date '1900-01-01') as in_build,
        any_value(wk) as wk,
        'price_tier' as segment_type,
        'free' as segment,
        false as is_estimate,
        sum(tokens) as total_tokens,
        cast(null as bigint) as other_tokens,
        cast(null as bigint) as cap_tokens,
        count(*) as listed_models,
        max(model_permaslug) filter (where rnk = 1) as leader_id,
        max(tokens) filter (where rnk = 1) as leader_tokens,
        max(model_permaslug) filter (where rnk = 2) as runner_up_id,
        max(tokens) filter (where rnk = 2) as runner_up_tokens,
        sum(tokens::hugeint * tokens)::double as sum_x2
    from free_members
    group by week_start
),

weeks as (
    select w.*, p.* exclude (week_start, segment_type, segment)
    from segment_weeks as w
    join segment_stats as p using (week_start, segment_type, segment)
    union all by name
    select * from free_weeks
),

indices as (
    select
        *,
        -- §4.4: an infinitely fragmented tail gives the lower bound (the named squares
        -- alone); the tail packed into q pieces of the cap plus a remainder rho the upper
        1e4 * sum_x2 / (total_tokens::double * total_tokens) as hhi_lower_pts,
        -- (the free tier has no other and no cap: its tail term is 0)
        1e4 * (sum_x2 + coalesce((other_tokens // nullif(cap_tokens, 0)) * cap_tokens::double * cap_tokens, 0)
               + coalesce(other_tokens % nullif(cap_tokens, 0), other_tokens, 0)::double
                 * coalesce(other_tokens % nullif(cap_tokens, 0), other_tokens, 0))
            / (total_tokens::double * total_tokens) as hhi_upper_pts
    from weeks
),

tenure as (
    select
        *,
        -- how many of the last 4 calendar weeks (this one included) the same model led;
        -- a missing week counts as not led (lag is checked against wk)
        1 + (case when lag(wk, 1) over seg >= wk - 3 and lag(leader_id, 1) over seg = leader_id then 1 else 0 end)
          + (case when lag(wk, 2) over seg >= wk - 3 and lag(leader_id, 2) over seg = leader_id then 1 else 0 end)
          + (case when lag(wk, 3) over seg >= wk - 3 and lag(leader_id, 3) over seg = leader_id then 1 else 0 end)
            as leader_weeks_4w,
        case when lag(wk) over seg = wk - 1 then leader_id is distinct from lag(leader_id) over seg end
            as leader_changed
    from indices
    window seg as (partition by segment_type, segment order by wk)
),

final as (
    select
        week_start,
        cast(wk as integer) as wk,
        segment_type,
        segment,
        is_estimate,
        cast(total_tokens as bigint) as total_tokens,
        other_tokens,
        cap_tokens,
        cast(listed_models as integer) as listed_models,
        leader_id,
        cast(leader_tokens as bigint) as leader_tokens,
        100.0 * leader_tokens / total_tokens as leader_share_pct,
        runner_up_id,
        cast(runner_up_tokens as bigint) as runner_up_tokens,
        100.0 * runner_up_tokens / total_tokens as runner_up_share_pct,
        leader_tokens / runner_up_tokens as leader_ratio,
        100.0 * (leader_tokens - runner_up_tokens) / total_tokens as leader_gap_pp,
        hhi_lower_pts,
        hhi_upper_pts,
        1e4 / hhi_upper_pts as neff_lower,
        1e4 / hhi_lower_pts as neff_upper,
        cast(leader_weeks_4w as integer) as leader_weeks_4w,
        leader_changed
    from tenure
    where in_build
)

select * from final
