-- mart.succession: a newer model of an author taking over an older one's traffic,
-- one row per (complete week, author) where the rule fires (README "Succession rule").
-- Unit: base models (a :free variant is the same model, not a successor). Over the
-- 4 calendar weeks to week t, with both models listed in week t:
--   older: listed 4 weeks ago too, tokens flat or falling (4-week change <= +5 %);
--   newer: created later (catalogue `created`, else first week listed) and gained
--          >= 0.5 pp of market share; when it was not listed 4 weeks ago its share then
--          is taken as the cap's share (the most it can have had), so the gain is a floor.
-- The pair with the largest gain is reported (then the older one's largest loss).
-- Incremental: a week's row reads that week and the week 4 weeks before it (entity_week,
-- market_week), so it reads from 28 days before since_week and returns the weeks from
-- since_week on. Of core.model_dim it reads per base model only the earliest created_at and
-- first week listed, of base models listed that week: core records how far back a model_dim
-- change reaches (assets.core), and a change that can alter an older row (a catalogue edit, a
-- new variant with an earlier created_at) rebuilds it in full.
with rules as (
    select 5.0 as old_max_growth_pct, 0.5 as new_min_gain_pp, 4 as window_weeks
),

base_models as (
    select
        base_model,
        min(created_at) as created_at,
        min(first_seen_week) as first_seen_week
    from core.model_dim
    group by base_model
),

now_ as (
    select
        week_start,
        wk,
        wk - (select window_weeks from rules) as wk_before,  -- the comparison week
        entity_id,
        split_part(entity_id, '/', 1) as author,
        tokens,
        share_pct
    from mart.entity_week
    where level = 'base_model'
      and week_start >= getvariable('since_week') - 28  -- window_weeks before since_week
),

market as (
    -- the same week index as mart.entity_week
    select date_diff('day', date '2000-01-03', week_start) // 7 as wk,
           100.0 * cap_tokens / total_tokens as cap_share_pct
    from core.market_week
    where is_complete and week_start >= getvariable('since_week') - 28
),

new_weeks as (
    -- a newer model gains at least new_min_gain_pp of share, so it holds that much now: find
    -- the few that did first, then look at their authors' other models only
    select n.*, p.tokens as tokens_4w_ago, p.share_pct as share_pct_4w_ago, m.cap_share_pct
    from now_ as n
    cross join rules as r
    join market as m on m.wk = n.wk_before
    left join now_ as p on p.entity_id = n.entity_id and p.wk = n.wk_before
    where n.share_pct >= r.new_min_gain_pp and n.week_start >= getvariable('since_week')
),

news as (
    select
        w.*,
        100.0 * (w.tokens / w.tokens_4w_ago - 1) as growth_4w_pct,
        -- a model not listed 4 weeks ago had at most the cap then (a floor on its gain)
        w.share_pct - coalesce(w.share_pct_4w_ago, w.cap_share_pct) as share_change_4w_pp,
        b.created_at,
        b.first_seen_week
    from new_weeks as w
    cross join rules as r
    left join base_models as b on b.base_model = w.entity_id
    where w.share_pct - coalesce(w.share_pct_4w_ago, w.cap_share_pct) >= r.new_min_gain_pp
),

olds as (
    -- listed 4 weeks ago too, tokens flat or falling since
    select
        n.*,
        p.tokens as tokens_4w_ago,
        p.share_pct as share_pct_4w_ago,
        100.0 * (n.tokens / p.tokens - 1) as growth_4w_pct,
        b.created_at,
        b.first_seen_week
    from now_ as n
    cross join rules as r
    join now_ as p on p.entity_id = n.entity_id and p.wk = n.wk_before
    left join base_models as b on b.base_model = n.entity_id
    where (n.wk, n.author) in (select (wk, author) from news)
      and 100.0 * (n.tokens / p.tokens - 1) <= r.old_max_growth_pct
),

pairs as (
    select
        n.week_start,
        n.wk,
        n.author,
        o.entity_id as older_model,
        n.entity_id as newer_model,
        case when o.created_at is not null and n.created_at is not null then 'created'
             else 'first_seen' end as newer_by,
        o.created_at as older_created_at,
        n.created_at as newer_created_at,
        o.first_seen_week as older_first_seen_week,
        n.first_seen_week as newer_first_seen_week,
        o.tokens as older_tokens,
        o.share_pct as older_share_pct,
        o.share_pct_4w_ago as older_share_pct_4w_ago,
        o.share_pct - o.share_pct_4w_ago as older_share_change_4w_pp,
        o.growth_4w_pct as older_growth_4w_pct,
        n.tokens as newer_tokens,
        n.share_pct as newer_share_pct,
        n.share_pct_4w_ago as newer_share_pct_4w_ago,
        n.share_change_4w_pp as newer_share_change_4w_pp,
        n.growth_4w_pct as newer_growth_4w_pct,
        n.tokens_4w_ago is null as newer_entered_since
    from news as n
    join olds as o on o.wk = n.wk and o.author = n.author and o.entity_id <> n.entity_id
    where case when o.created_at is not null and n.created_at is not null
               then n.created_at > o.created_at
               else n.first_seen_week > o.first_seen_week end
),

final as (
    select
        week_start,
        cast(wk as integer) as wk,
        * exclude (week_start, wk),
        cast(count(*) over (partition by week_start, author) as integer) as candidate_pairs
    from pairs
    qualify row_number() over (
        partition by week_start, author
        order by newer_share_change_4w_pp desc, older_share_change_4w_pp, older_model, newer_model
    ) = 1
)

select * from final
