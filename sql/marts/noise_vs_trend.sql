-- mart.noise_vs_trend: is an entity's week a trend, a one-off jump, or noise? (spec §3)
-- Per (week, level, entity) on y = ln(tokens) and g = week-over-week log growth.
-- Every window is in calendar weeks: t_j is the tokens of week wk - j, NULL when that week
-- is not observed, so a missing week is never data (§1.6). Window statistics come from
-- lag columns and small lists rather than RANGE-frame medians (several times slower).
-- Incremental: a row reads the 10 weeks before it and the week after it (next_g), so the
-- stale rows start the week before since_week (noise_vs_trend.stale.sql) and read from 11
-- weeks before since_week; only runs of 10+ weeks read older history (long_runs).
with entities as (
    select
        level,
        entity_id,
        count(*) as n_weeks,
        max(n_members) = 1 and min(members[1]) = max(members[1]) as has_one_model,
        min(members[1]) as model
    from mart.entity_week
    where week_start >= getvariable('since_week') - 7 * 11
    group by all
),

mirrors as (
    -- a base model or author with one and the same model in each of its weeks, and as many
    -- weeks as that model, has that model's series, hence its statistics: its rows are
    -- copies (a third of all rows at benchmark size)
    select e.level, e.entity_id, e.model
    from entities as e
    join entities as m on m.level = 'model' and m.entity_id = e.model and m.n_weeks = e.n_weeks
    where e.level <> 'model' and e.has_one_model
),

keys as (
    -- an integer per computed entity: the window below sorts on one integer,
    -- entity_key * 2^20 + wk, and the strings stay out of it
    select level, entity_id, row_number() over () as entity_key
    from entities
    anti join mirrors using (level, entity_id)
),

copies as (
    -- where a computed entity's rows go: to itself and to the entities that mirror it; an
    -- integer copy_id keys the join with long_runs
    select entity_key, level, entity_id, row_number() over () as copy_id
    from (
        select entity_key, level, entity_id from keys
        union all
        select k.entity_key, m.level, m.entity_id
        from mirrors as m
        join keys as k on k.level = 'model' and k.entity_id = m.model
    )
),

lagged as (
    -- one sort: the keys and tokens of the 10 previous rows and of the next row. Key - j is
    -- week wk - j of the same entity and of no other (weeks stay far below 2^20)
    select
        *,
        lag(key_wk, 1) over entity as w1, lag(tokens, 1) over entity as x1,
        lag(key_wk, 2) over entity as w2, lag(tokens, 2) over entity as x2,
        lag(key_wk, 3) over entity as w3, lag(tokens, 3) over entity as x3,
        lag(key_wk, 4) over entity as w4, lag(tokens, 4) over entity as x4,
        lag(key_wk, 5) over entity as w5, lag(tokens, 5) over entity as x5,
        lag(key_wk, 6) over entity as w6, lag(tokens, 6) over entity as x6,
        lag(key_wk, 7) over entity as w7, lag(tokens, 7) over entity as x7,
        lag(key_wk, 8) over entity as w8, lag(tokens, 8) over entity as x8,
        lag(key_wk, 9) over entity as w9, lag(tokens, 9) over entity as x9,
        lag(key_wk, 10) over entity as w10, lag(tokens, 10) over entity as x10,
        lead(key_wk) over entity = key_wk + 1 as has_next_week,
        lead(tokens) over entity as next_tokens
    from (
        select k.entity_key * 1048576 + e.wk as key_wk, e.tokens
        from mart.entity_week as e
        join keys as k using (level, entity_id)
        where e.week_start >= getvariable('since_week') - 7 * 11
    )
    window entity as (order by key_wk)
),

weeks_back as (
    -- t_j, the tokens of week wk - j, is on the row j back when no week in between is
    -- missing, else on a nearer one
    select
        date '2000-01-03' + cast(7 * wk as integer) as week_start,  -- wk counts weeks from that Monday
        wk,
        entity_key,
        tokens,
        coalesce(w7 = key_wk - 7, false) as has_mk_window,  -- all 8 levels t-7 .. t observed
        has_next_week,
        next_tokens,
        case key_wk - 1 when w1 then x1 end as t1,
        case key_wk - 2 when w2 then x2 when w1 then x1 end as t2,
        case key_wk - 3 when w3 then x3 when w2 then x2 when w1 then x1 end as t3,
        case key_wk - 4 when w4 then x4 when w3 then x3 when w2 then x2 when w1 then x1 end as t4,
        case key_wk - 5 when w5 then x5 when w4 then x4 when w3 then x3 when w2 then x2 when w1 then x1 end as t5,
        case key_wk - 6 when w6 then x6 when w5 then x5 when w4 then x4 when w3 then x3 when w2 then x2
                        when w1 then x1 end as t6,
        case key_wk - 7 when w7 then x7 when w6 then x6 when w5 then x5 when w4 then x4 when w3 then x3
                        when w2 then x2 when w1 then x1 end as t7,
        case key_wk - 8 when w8 then x8 when w7 then x7 when w6 then x6 when w5 then x5 when w4 then x4
                        when w3 then x3 when w2 then x2 when w1 then x1 end as t8,
        case key_wk - 9 when w9 then x9 when w8 then x8 when w7 then x7 when w6 then x6 when w5 then x5
                        when w4 then x4 when w3 then x3 when w2 then x2 when w1 then x1 end as t9,
        case key_wk - 10 when w10 then x10 when w9 then x9 when w8 then x8 when w7 then x7 when w6 then x6
                         when w5 then x5 when w4 then x4 when w3 then x3 when w2 then x2 when w1 then x1 end as t10
    from (select *, key_wk // 1048576 as entity_key, key_wk % 1048576 as wk from lagged)
    where wk >= date_diff('day', date '2000-01-03', getvariable('since_week')) // 7 - 1  -- the stale rows
),

growth as (
    -- g_j, the growth of week wk - j, is NULL unless that week and the one before it were observed
    select
        *,
        y - y1 as g, y1 - y2 as g1, y2 - y3 as g2, y3 - y4 as g3, y4 - y5 as g4,
        y5 - y6 as g5, y6 - y7 as g6, y7 - y8 as g7, y8 - y9 as g8, y9 - y10 as g9,
        case when has_next_week then ln(nullif(next_tokens, 0)) - y end as next_g
    from (
        select
            *,
            ln(nullif(tokens, 0)) as y,  -- zero tokens: log metrics NULL (§1.6)
            ln(nullif(t1, 0)) as y1, ln(nullif(t2, 0)) as y2, ln(nullif(t3, 0)) as y3,
            ln(nullif(t4, 0)) as y4, ln(nullif(t5, 0)) as y5, ln(nullif(t6, 0)) as y6,
            ln(nullif(t7, 0)) as y7, ln(nullif(t8, 0)) as y8, ln(nullif(t9, 0)) as y9,
            ln(nullif(t10, 0)) as y10
        from weeks_back
    )
),

windowed as (
    select
        *,
        -- the list aggregates skip the NULLs of weeks not observed
        [g1, g2, g3, g4, g5, g6, g7, g8] as prior_g,  -- baseline: the growths of weeks t-8 .. t-1
        [g, g1, g2, g3, g4, g5, g6, g7] as last8_g,  -- volatility: weeks t-7 .. t
        -- the run of weeks ending at t whose growth has the sign of g; 10 growths are in
        -- view, so NULL means 10 weeks or more (long_runs)
        case when g is null or g = 0 then 0
             when sign(g1) is distinct from sign(g) then 1
             when sign(g2) is distinct from sign(g) then 2
             when sign(g3) is distinct from sign(g) then 3
             when sign(g4) is distinct from sign(g) then 4
             when sign(g5) is distinct from sign(g) then 5
             when sign(g6) is distinct from sign(g) then 6
             when sign(g7) is distinct from sign(g) then 7
             when sign(g8) is distinct from sign(g) then 8
             when sign(g9) is distinct from sign(g) then 9
        end as visible_run_len
    from growth
),

prior_sorted as (
    -- the 8 baseline growths sorted (o0 <= .. <= o7; meaningful when all 8 are observed,
    -- 9 rows in 10): Batcher's odd-even merge network of least/greatest, 19 comparators,
    -- costs less than list_median plus list_aggregate(.., 'mad') on the 8-element list
    select * replace (least(o1, o2) as o1, greatest(o1, o2) as o2, least(o3, o4) as o3,
                      greatest(o3, o4) as o4, least(o5, o6) as o5, greatest(o5, o6) as o6)
    from (select * replace (least(o2, o4) as o2, greatest(o2, o4) as o4, least(o3, o5) as o3,
                            greatest(o3, o5) as o5)
    from (select * replace (least(o1, o5) as o1, greatest(o1, o5) as o5, least(o2, o6) as o2,
                            greatest(o2, o6) as o6)
    from (select * replace (least(o1, o2) as o1, greatest(o1, o2) as o2, least(o5, o6) as o5,
                            greatest(o5, o6) as o6, least(o0, o4) as o0, greatest(o0, o4) as o4,
                            least(o3, o7) as o3, greatest(o3, o7) as o7)
    from (select * replace (least(o0, o2) as o0, greatest(o0, o2) as o2, least(o1, o3) as o1,
                            greatest(o1, o3) as o3, least(o4, o6) as o4, greatest(o4, o6) as o6,
                            least(o5, o7) as o5, greatest(o5, o7) as o7)
    from (select * replace (least(o0, o1) as o0, greatest(o0, o1) as o1, least(o2, o3) as o2,
                            greatest(o2, o3) as o3, least(o4, o5) as o4, greatest(o4, o5) as o5,
                            least(o6, o7) as o6, greatest(o6, o7) as o7)
    from (select *, list_count(prior_g) as n_prior, g1 as o0, g2 as o1, g3 as o2, g4 as o3,
                 g5 as o4, g6 as o5, g7 as o6, g8 as o7
          from windowed))))))
),

prior_median as (
    -- DuckDB's median of an even count is (lo + hi) / 2, bit for bit
    select *, (o3 + o4) / 2 as median_8 from prior_sorted
),

window_stats as (
    select
        *,
        list_avg(prior_g) as prior_mean,
        list_stddev_samp(prior_g) as prior_sd,
        -- medians only where robust_z is defined; with 8 growths from the sorted columns: the
        -- MAD is the mean of the 4th and 5th smallest of |x - median|, which merge two sorted
        -- runs, median - o3 .. median - o0 and o4 - median .. o7 - median
        case when g is null or n_prior < 4 then null
             when n_prior = 8 then median_8
             else list_median(prior_g) end as prior_median,
        case when g is null or n_prior < 4 then null
             when n_prior = 8 then
                 (least(o7 - median_8, greatest(median_8 - o3, o6 - median_8),
                        greatest(median_8 - o2, o5 - median_8), greatest(median_8 - o1, o4 - median_8),
                        median_8 - o0)
                  + least(greatest(median_8 - o3, o7 - median_8), greatest(median_8 - o2, o6 - median_8),
                          greatest(median_8 - o1, o5 - median_8), greatest(median_8 - o0, o4 - median_8))) / 2
             else list_aggregate(prior_g, 'mad') end as prior_mad,
        list_count(last8_g) as n_8w,
        list_avg(last8_g) as last8_mean,
        list_stddev_samp(last8_g) as last8_sd,
        -- last week's z on last week's baseline (weeks t-9 .. t-2), only where the
        -- spike-reversal rule reads it (its other two conditions hold)
        case when sign(g) * sign(g1) = -1 and abs(g) >= 0.5 * abs(g1)
                  and list_count([g2, g3, g4, g5, g6, g7, g8, g9]) >= 4
             then (g1 - list_avg([g2, g3, g4, g5, g6, g7, g8, g9]))
                  / greatest(list_stddev_samp([g2, g3, g4, g5, g6, g7, g8, g9]), 0.02) end
            as prev_z
    from prior_median
),

mann_kendall as (
    -- S = sum of sign(later - earlier) over the 28 pairs of the window, on tokens:
    -- MK is rank-based, so integers give the same S as ln x without float ties.
    -- s_ab = sign(t_a - t_b) with t_0 = tokens; a tie is a 0
    select
        *,
        case when has_mk_window then
              s01 + s02 + s03 + s04 + s05 + s06 + s07
            + s12 + s13 + s14 + s15 + s16 + s17
            + s23 + s24 + s25 + s26 + s27
            + s34 + s35 + s36 + s37
            + s45 + s46 + s47
            + s56 + s57
            + s67
        end as s,
        -- ties are rare, so the exact tie term is only worked out for windows that have one
        case when has_mk_window then
              s01 * s02 * s03 * s04 * s05 * s06 * s07
            * s12 * s13 * s14 * s15 * s16 * s17
            * s23 * s24 * s25 * s26 * s27
            * s34 * s35 * s36 * s37
            * s45 * s46 * s47
            * s56 * s57
            * s67 = 0
        end as has_ties,
        -- Sen's slope: median of the 28 pairwise slopes of ln x, per week (no slope to a zero week)
        case when has_mk_window and least(tokens, t1, t2, t3, t4, t5, t6, t7) > 0 then list_median([
            y - y1, (y - y2) / 2, (y - y3) / 3, (y - y4) / 4, (y - y5) / 5, (y - y6) / 6, (y - y7) / 7,
            y1 - y2, (y1 - y3) / 2, (y1 - y4) / 3, (y1 - y5) / 4, (y1 - y6) / 5, (y1 - y7) / 6,
            y2 - y3, (y2 - y4) / 2, (y2 - y5) / 3, (y2 - y6) / 4, (y2 - y7) / 5,
            y3 - y4, (y3 - y5) / 2, (y3 - y6) / 3, (y3 - y7) / 4,
            y4 - y5, (y4 - y6) / 2, (y4 - y7) / 3,
            y5 - y6, (y5 - y7) / 2,
            y6 - y7
        ]) end as sen_slope
    from (
        select
            *,
            sign(tokens - t1) as s01, sign(tokens - t2) as s02, sign(tokens - t3) as s03,
            sign(tokens - t4) as s04, sign(tokens - t5) as s05, sign(tokens - t6) as s06,
            sign(tokens - t7) as s07,
            sign(t1 - t2) as s12, sign(t1 - t3) as s13, sign(t1 - t4) as s14, sign(t1 - t5) as s15,
            sign(t1 - t6) as s16, sign(t1 - t7) as s17,
            sign(t2 - t3) as s23, sign(t2 - t4) as s24, sign(t2 - t5) as s25, sign(t2 - t6) as s26,
            sign(t2 - t7) as s27,
            sign(t3 - t4) as s34, sign(t3 - t5) as s35, sign(t3 - t6) as s36, sign(t3 - t7) as s37,
            sign(t4 - t5) as s45, sign(t4 - t6) as s46, sign(t4 - t7) as s47,
            sign(t5 - t6) as s56, sign(t5 - t7) as s57,
            sign(t6 - t7) as s67
        from window_stats
    )
),

statistics as (
    select
        *,
        case when n_prior >= 4 then prior_mean end as mu_prior,
        case when n_prior >= 4 then prior_sd end as sd_prior,
        case when n_prior >= 4 then greatest(prior_sd, 0.02) end as sd_eff,
        case when n_prior >= 4 and g is not null
             then (g - prior_mean) / greatest(prior_sd, 0.02) end as z,
        -- modified z-score (Iglewicz & Hoaglin): 1.4826 * MAD is a sigma-consistent scale
        case when n_prior >= 4 and g is not null
             then (g - prior_median) / greatest(1.4826 * prior_mad, 0.02) end as robust_z,
        case when n_8w >= 4 then last8_sd end as vol_8w,
        case when n_8w >= 4 then last8_mean end as mean_g_8w,
        case when n_8w >= 4 then abs(last8_mean) / last8_sd end as snr_8w,
        case when n_8w >= 4 then last8_mean / (last8_sd / sqrt(n_8w)) end as tstat_8w,
        -- Var(S) = [n(n-1)(2n+5) - sum over tie groups t(t-1)(2t+5)] / 18 with n = 8
        case when not has_mk_window then null
             when not has_ties then 8 * 7 * 21 / 18.0
             -- a group of t equal values adds t(t-1)(2t+5): (t-1)(2t+5) for each member
             else (8 * 7 * 21 - list_sum(list_transform(
                 [tokens, t1, t2, t3, t4, t5, t6, t7],
                 lambda v: (len(list_filter([tokens, t1, t2, t3, t4, t5, t6, t7], lambda w: w = v)) - 1)
                     * (2 * len(list_filter([tokens, t1, t2, t3, t4, t5, t6, t7], lambda w: w = v)) + 5)
             ))) / 18.0
        end as mk_var_s,
        case when has_mk_window then y - y7 end as net_log_change_window,
        -- largest single-week move among the 7 changes inside the 8-level window
        case when has_mk_window
             then greatest(abs(g), abs(g1), abs(g2), abs(g3), abs(g4), abs(g5), abs(g6)) end
            as max_abs_g_window
    from mann_kendall
),

tests as (
    select
        *,
        -- continuity-corrected normal approximation, as pymannkendall.original_test
        case when s > 0 then (s - 1) / sqrt(mk_var_s)
             when s < 0 then (s + 1) / sqrt(mk_var_s)
             when s = 0 then 0.0 end as mk_z,
        s / 28.0 as mk_tau,
        max_abs_g_window / nullif(abs(net_log_change_window), 0) as max_week_share
    from statistics
),

p_values as (
    select *, two_sided_p(mk_z) as mk_p
    from tests
),

saturated as (
    -- the computed entities that may have a run of 10+ weeks in view: 11 stale-row weeks without
    -- a gap whose tokens are monotone (to within 1e-12, as ln is monotone only to within rounding)
    select distinct key_wk // 1048576 as entity_key
    from lagged
    where key_wk % 1048576 >= date_diff('day', date '2000-01-03', getvariable('since_week')) // 7 - 1
      and w10 = key_wk - 10
      and (   (tokens >= x1 * (1 - 1e-12) and x1 >= x2 * (1 - 1e-12) and x2 >= x3 * (1 - 1e-12)
               and x3 >= x4 * (1 - 1e-12) and x4 >= x5 * (1 - 1e-12) and x5 >= x6 * (1 - 1e-12)
               and x6 >= x7 * (1 - 1e-12) and x7 >= x8 * (1 - 1e-12) and x8 >= x9 * (1 - 1e-12)
               and x9 >= x10 * (1 - 1e-12))
           or (tokens <= x1 * (1 + 1e-12) and x1 <= x2 * (1 + 1e-12) and x2 <= x3 * (1 + 1e-12)
               and x3 <= x4 * (1 + 1e-12) and x4 <= x5 * (1 + 1e-12) and x5 <= x6 * (1 + 1e-12)
               and x6 <= x7 * (1 + 1e-12) and x7 <= x8 * (1 + 1e-12) and x8 <= x9 * (1 + 1e-12)
               and x9 <= x10 * (1 + 1e-12)))
),

long_runs as (
    -- those entities and their copies over their whole history (integer work on a few rows): a
    -- run restarts where the sign of the growth differs from the previous week's (a NULL growth
    -- differs from everything); the rows of runs of 10+ weeks
    select copy_id, wk, run_start_wk
    from (
        select
            copy_id, wk,
            max(case when run_breaks then wk end) over (entity rows unbounded preceding) as run_start_wk
        from (
            select
                copy_id, wk,
                sign(case when lag(wk) over entity = wk - 1 then y - lag(y) over entity end)
                    is distinct from
                sign(case when lag(wk, 2) over entity = wk - 2 then lag(y) over entity - lag(y, 2) over entity end)
                    as run_breaks
            from (
                select c.copy_id, e.wk, ln(nullif(e.tokens, 0)) as y
                from mart.entity_week as e
                join (from copies semi join saturated using (entity_key)) as c using (level, entity_id)
            )
            window entity as (partition by copy_id order by wk)
        )
        window entity as (partition by copy_id order by wk)
    )
    where run_start_wk <= wk - 9
),

labelled as (
    -- labels before the rows are copied: a run that is not in view (visible_run_len NULL) is
    -- 10 weeks or more with the sign of g, which is all the trend rule reads of run_len
    select
        *,
        coalesce(sign(g), 0) * coalesce(visible_run_len, 10) as run_len_10,
        -- §3.4, evaluated in order, first match wins
        case
            when z is null or s is null then 'insufficient_history'
            when abs(prev_z) >= 2 and sign(g) * sign(g1) = -1 and abs(g) >= 0.5 * abs(g1)
                then 'spike_reversal'
            when abs(z) >= 2 and sign(next_g) * sign(g) = -1 and abs(next_g) >= 0.5 * abs(g)
                then case when g > 0 then 'spike_up' else 'spike_down' end
            when mk_p < 0.05 and abs(run_len_10) >= 3 and sign(run_len_10) = sign(sen_slope)
                 and max_week_share <= 0.5
                then case when sen_slope > 0 then 'trend_up' else 'trend_down' end
            when abs(z) >= 2 and next_g is null then 'jump_pending'
            when abs(z) >= 2 then case when g > 0 then 'level_shift_up' else 'level_shift_down' end
            else 'noise'
        end as label
    from p_values
),

computed as (
    select
        entity_key,
        week_start,
        wk,
        tokens,
        g,
        cast(n_prior as integer) as n_prior,
        mu_prior,
        sd_prior,
        sd_eff,
        z,
        robust_z,
        vol_8w,
        mean_g_8w,
        snr_8w,
        tstat_8w,
        cast(s as integer) as mk_s,
        mk_var_s,
        mk_z,
        mk_p,
        mk_tau,
        sen_slope,
        100 * (exp(sen_slope) - 1) as sen_weekly_pct,
        100 * (exp(52 * sen_slope) - 1) as sen_annualised_pct,
        coalesce(sign(g), 0) * visible_run_len as visible_run_len,
        net_log_change_window,
        max_week_share,
        next_g,
        label,
        not coalesce(has_next_week, false) as is_provisional
    from labelled
),

final as (
    select
        p.week_start,
        p.wk,
        c.level,
        c.entity_id,
        p.tokens,
        p.g,
        p.n_prior,
        p.mu_prior,
        p.sd_prior,
        p.sd_eff,
        p.z,
        p.robust_z,
        p.vol_8w,
        p.mean_g_8w,
        p.snr_8w,
        p.tstat_8w,
        p.mk_s,
        p.mk_var_s,
        p.mk_z,
        p.mk_p,
        p.mk_tau,
        p.sen_slope,
        p.sen_weekly_pct,
        p.sen_annualised_pct,
        cast(coalesce(p.visible_run_len, sign(p.g) * (p.wk - l.run_start_wk + 1)) as integer) as run_len,
        p.net_log_change_window,
        p.max_week_share,
        p.next_g,
        p.label,
        p.is_provisional
    from computed as p
    join copies as c using (entity_key)
    left join long_runs as l on l.copy_id = c.copy_id and l.wk = p.wk
)

select * from final
