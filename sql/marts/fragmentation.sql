-- mart.fragmentation: market concentration per (complete week, level), spec §4 / §6.5.
-- Only the top N is named; `other` is never one firm (except in *_other_as_one), so
-- market-wide HHI / entropy / N_eff are bounds, and top-N indices are conditional.
--   model: §4.4 bounds, tail items capped at the week's cap (v_N, or cap_week for
--     daily-built weeks), M = m_max_models.
--   author, base_model: §4.6, no per-entity cap (a vendor owns many tail models; a
--     variant hidden in other adds to its base beyond the cap), so the upper bound
--     gives all of other to the largest entity.
--   price_tier: only the free-share bounds (other could be all free or all paid).
-- Daily-built weeks (source api_day) use the §4.5 safe bounds: other also holds the
-- missing days of partially listed entities (fragment u = tokens_upper - tokens).
-- Incremental: a week's row reads that week (and the week before for delta_hhi_lower_pts),
-- so the weeks from getvariable('since_week') on are computed. Sums over entities are exact
-- integer (or fixed-point) sums, the same bits in any build and any storage order.
with entities as (
    select
        e.week_start,
        e.wk,
        e.level,
        e.entity_id,
        e.rank,
        e.tokens,
        e.tokens_upper - e.tokens as fragment_upper,
        e.tokens / e.total_tokens as s,
        e.total_tokens,
        e.other_tokens,
        e.cap_tokens
    from mart.entity_week as e
    where e.level in ('model', 'base_model', 'author')
      and e.week_start >= coalesce(getvariable('since_week'), date '1900-01-01') - interval 7 day
),

per_level as (
    select
        week_start,
        any_value(wk) as wk,
        level,
        any_value(total_tokens) as total_tokens,
        any_value(other_tokens) as other_tokens,
        any_value(cap_tokens) as cap_tokens,
        count(*) as n_named,
        max(entity_id) filter (where rank = 1) as leader_id,
        max(tokens) filter (where rank = 1) as x1,
        max(tokens) filter (where rank = 2) as x2,
        max(tokens) filter (where rank = 10) as x10,
        -- sums of shares from exact token sums, divided once; the entropy term as an exact
        -- fixed-point sum (each term * 2^100 rounded to an integer)
        sum(tokens) / any_value(total_tokens) as named_share,
        sum(tokens::hugeint * tokens) / (any_value(total_tokens)::double * any_value(total_tokens)) as sum_s2,
        -(sum((s * ln(s) * 2.0 ^ 100)::hugeint) filter (where s > 0) / 2.0 ^ 100) as h_named,
        -- Gini needs Σ i·x over ascending i = n + 1 - rank (ties are equal values, any order);
        -- exact integers so an even list gives exactly 0, not a round-off below it
        sum(tokens::hugeint) as named_tokens,
        sum(rank * tokens::hugeint) as sum_rank_tokens,
        sum(tokens) filter (where rank <= 3) / any_value(total_tokens) as cr3,
        sum(tokens) filter (where rank <= 5) / any_value(total_tokens) as cr5,
        sum(tokens) filter (where rank <= 10) / any_value(total_tokens) as cr10,
        -- §4.5 fragment term: Σ v_i·u_i and the largest partially listed v_i
        sum(tokens::hugeint * fragment_upper)::double as sum_v_u,
        max(tokens) filter (where fragment_upper > 0) as max_partial_tokens,
        count(*) filter (where fragment_upper > 0) as n_partial
    from entities
    group by week_start, level
),

with_tail as (
    select
        p.*,
        b.source = 'api_day' as daily_built,
        p.other_tokens / p.total_tokens as r,
        p.cap_tokens / p.total_tokens as c,
        -- tail packed at the cap: q items of c plus a remainder rho (all exact integers)
        p.other_tokens // p.cap_tokens as q,
        p.other_tokens - (p.other_tokens // p.cap_tokens) * p.cap_tokens as rho_tokens,
        -- fewest tail items consistent with the cap: m0 = ceil(R / c)
        (p.other_tokens + p.cap_tokens - 1) // p.cap_tokens as m0,
        -- other splits into at most M tail items plus one fragment per partial entity
        case when p.level = 'author' then getvariable('m_max_authors')
             else getvariable('m_max_models') end + p.n_partial as m_pieces,
        2.0 * least(p.sum_v_u, p.other_tokens::double * coalesce(p.max_partial_tokens, 0))
            / (p.total_tokens::double * p.total_tokens) as fragment_term
    from per_level as p
    join core.market_week as b using (week_start)
),

bounds as (
    select
        t.*,
        t.rho_tokens / t.total_tokens as rho,
        t.sum_s2 + t.r * t.r as hhi_other_as_one,
        t.sum_s2 + t.r * t.r / t.m_pieces as hhi_lower_m,
        t.h_named - case when t.r > 0 then t.r * ln(t.r) else 0 end as entropy_other_as_one,
        t.h_named - case when t.r > 0 then t.r * ln(t.r / t.m_pieces) else 0 end as entropy_upper_m,
        case when t.level in ('author', 'base_model')
             -- §4.6: all of other to the largest author (no cap binds for a vendor)
             then t.sum_s2 - t.x1 / t.total_tokens * (t.x1 / t.total_tokens)
                  + (t.x1 / t.total_tokens + t.r) * (t.x1 / t.total_tokens + t.r)
             -- §4.4 / §4.5: tail at the cap, plus the fragment cross term (0 for snapshots)
             else t.sum_s2 + t.q * t.c * t.c + (t.rho_tokens / t.total_tokens) ** 2 + t.fragment_term
        end as hhi_upper,
        case when t.level in ('author', 'base_model') then null
             when t.m0 = 0 then t.sum_s2
             else t.sum_s2 + t.r * t.r / t.m0 end as hhi_mid,
        case when t.level in ('author', 'base_model') then null
             when t.m0 = 0 then t.h_named
             else t.h_named - t.r * ln(t.r / t.m0) end as entropy_mid
    from with_tail as t
),

indices as (
    select
        b.*,
        case
            when b.level in ('author', 'base_model')
                then b.h_named + b.x1 / b.total_tokens * ln(b.x1 / b.total_tokens)
                     - (b.x1 / b.total_tokens + b.r) * ln(b.x1 / b.total_tokens + b.r)
            -- §4.5: Rényi-2 entropy −ln(HHI_upper) is a valid Shannon lower bound
            when b.daily_built then -ln(b.hhi_upper)
            else b.h_named
                 - case when b.q > 0 then b.q * b.c * ln(b.c) else 0 end
                 - case when b.rho > 0 then b.rho * ln(b.rho) else 0 end
        end as entropy_lower,
        -- conditional on the named list: s' = s / named_share
        b.sum_s2 / (b.named_share * b.named_share) as hhi_topn_cond,
        b.h_named / b.named_share + ln(b.named_share) as entropy_topn_cond,
        -- M below the data's own minimum tail count makes the M-bounds infeasible
        b.level in ('author', 'base_model') or b.m_pieces >= b.m0 as m_feasible
    from bounds as b
),

concentration as (
    select
        week_start,
        wk,
        level,
        leader_id,
        cast(n_named as integer) as n_named,
        total_tokens as total,
        r as other_share,
        c as cap_share,
        case when level = 'model' then cast(m0 as bigint) end as tail_min_models,
        1e4 * sum_s2 as hhi_lower_pts,
        case when m_feasible then 1e4 * hhi_lower_m end as hhi_lower_m_pts,
        1e4 * hhi_mid as hhi_mid_pts,
        1e4 * hhi_upper as hhi_upper_pts,
        1e4 * hhi_other_as_one as hhi_other_as_one_pts,
        1e4 * hhi_topn_cond as hhi_topn_cond_pts,
        case when n_named > 1 then (hhi_topn_cond - 1.0 / n_named) / (1 - 1.0 / n_named) end
            as hhi_topn_cond_norm,
        1 / hhi_upper as neff_lower,
        1 / sum_s2 as neff_upper,
        1 / hhi_topn_cond as neff_topn,
        entropy_lower,
        entropy_other_as_one,
        entropy_mid,
        case when m_feasible then entropy_upper_m end as entropy_upper_m,
        entropy_topn_cond,
        case when n_named > 1 then entropy_topn_cond / ln(n_named) end as pielou_topn,
        exp(entropy_topn_cond) as hill1_topn,
        ((n_named + 1) * named_tokens - 2 * sum_rank_tokens)::double / (n_named * named_tokens)
            as gini_topn,
        x1 / total_tokens as cr1,
        case when n_named >= 3 then cr3 end as cr3,
        case when n_named >= 5 then cr5 end as cr5,
        case when n_named >= 10 then cr10 end as cr10,
        x1 / total_tokens as leader_share,
        x1 / x2 as leader_ratio,
        100 * (x1 - x2) / total_tokens as leader_gap_pp,
        x1 / x10 as top1_over_top10,
        x1,
        x2,
        daily_built
    from indices
),

labelled as (
    select
        c.*,
        -- §4.2 bands; 2023 (DOJ explainer): < 1000 / 1000-1800 / > 1800
        case when hhi_lower_pts > 1800 then 'highly_concentrated'
             when hhi_lower_pts >= 1000 then 'moderately_concentrated'
             else 'unconcentrated' end as doj2023_band_lower,
        case when hhi_upper_pts > 1800 then 'highly_concentrated'
             when hhi_upper_pts >= 1000 then 'moderately_concentrated'
             else 'unconcentrated' end as doj2023_band_upper,
        -- 2010 Horizontal Merger Guidelines §5.3: < 1500 / 1500-2500 / > 2500
        case when hhi_lower_pts > 2500 then 'highly_concentrated'
             when hhi_lower_pts >= 1500 then 'moderately_concentrated'
             else 'unconcentrated' end as doj2010_band_lower,
        case when hhi_upper_pts > 2500 then 'highly_concentrated'
             when hhi_upper_pts >= 1500 then 'moderately_concentrated'
             else 'unconcentrated' end as doj2010_band_upper,
        -- §4.3 wording, first match wins; compared on integer tokens so 1.1 or 30 % is exact
        case when 10 * x1::hugeint >= 3 * total::hugeint or x1::hugeint >= 2 * x2::hugeint
                 then 'dominant'
             when 10 * x1::hugeint < 11 * x2::hugeint then 'neck and neck'
             when neff_lower >= 10 then 'fragmented'
             else 'concentrated' end as market_shape
    from concentration as c
),

price_tier as (
    -- §4.6: the free share lies in [F/T, (F+R)/T]; F/(F+P) is the point estimate
    select
        e.week_start,
        any_value(e.wk) as wk,
        'price_tier' as level,
        any_value(e.total_tokens) as total,
        any_value(e.other_tokens) / any_value(e.total_tokens) as other_share,
        coalesce(sum(e.tokens) filter (where e.entity_id = 'free'), 0) / any_value(e.total_tokens)
            as free_share_lower,
        (coalesce(sum(e.tokens) filter (where e.entity_id = 'free'), 0) + any_value(e.other_tokens))
            / any_value(e.total_tokens) as free_share_upper,
        coalesce(sum(e.tokens) filter (where e.entity_id = 'free'), 0) / sum(e.tokens)
            as free_share_of_named,
        any_value(b.source) = 'api_day' as daily_built
    from mart.entity_week as e
    join core.market_week as b using (week_start)
    where e.level = 'price_tier'
      and e.week_start >= coalesce(getvariable('since_week'), date '1900-01-01') - interval 7 day
    group by e.week_start
),

unioned as (
    select * from labelled
    union all by name
    select * from price_tier
),

final as (
    select
        week_start,
        wk,
        level,
        leader_id,
        n_named,
        total,
        other_share,
        cap_share,
        tail_min_models,
        hhi_lower_pts,
        hhi_lower_m_pts,
        hhi_mid_pts,
        hhi_upper_pts,
        hhi_other_as_one_pts,
        hhi_topn_cond_pts,
        hhi_topn_cond_norm,
        neff_lower,
        neff_upper,
        neff_topn,
        entropy_lower,
        entropy_other_as_one,
        entropy_mid,
        entropy_upper_m,
        entropy_topn_cond,
        pielou_topn,
        hill1_topn,
        gini_topn,
        cr1,
        cr3,
        cr5,
        cr10,
        leader_share,
        leader_ratio,
        leader_gap_pp,
        top1_over_top10,
        doj2023_band_lower,
        doj2023_band_upper,
        doj2023_band_lower <> doj2023_band_upper as doj2023_band_ambiguous,
        doj2010_band_lower,
        doj2010_band_upper,
        doj2010_band_lower <> doj2010_band_upper as doj2010_band_ambiguous,
        case when lag(wk) over level_weeks = wk - 1
             then hhi_lower_pts - lag(hhi_lower_pts) over level_weeks end as delta_hhi_lower_pts,
        market_shape,
        free_share_lower,
        free_share_upper,
        free_share_of_named,
        case when daily_built then 'weekly_safe' else 'snapshot' end as bound_method
    from unioned
    window level_weeks as (partition by level order by wk)
    qualify week_start >= coalesce(getvariable('since_week'), date '1900-01-01')
)

select * from final
