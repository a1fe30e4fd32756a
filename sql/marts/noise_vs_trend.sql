-- mart.noise_vs_trend: is an entity's week a trend, a one-off jump, or noise? (spec §3)
-- Per (week, level, entity) on y = ln(tokens) and g = week-over-week log growth.
-- Every window is in calendar weeks: a previous row counts only if its wk lies in the
-- window, and the 8-level Mann-Kendall window needs lag(wk, 7) = wk - 7, so a missing
-- week is never data (§1.6). Window statistics come from lag columns and small lists
-- rather than RANGE-frame medians, which are several times slower at 600k rows.
with series as (
    select
        week_start,
        wk,
        level,
        entity_id,
        tokens,
        ln(nullif(tokens, 0)) as y  -- zero tokens: log metrics NULL (§1.6)
    from mart.entity_week
),

growth as (
    select
        *,
        case when lag(wk) over entity = wk - 1 then y - lag(y) over entity end as g,
        case when lag(wk, 2) over entity = wk - 2 then lag(y) over entity - lag(y, 2) over entity end
            as prev_g
    from series
    window entity as (partition by level, entity_id order by wk)
),

runs as (
    -- a run of same-signed growth restarts when the sign differs from the previous
    -- week's; a NULL growth (first week, or after a gap) differs from everything
    select *, sign(g) is distinct from sign(prev_g) as run_breaks
    from growth
),

lagged as (
    -- one window pass: the previous rows of each entity (weeks and growths 9 back, tokens 7 back)
    select
        *,
        max(case when run_breaks then wk end) over (entity rows between unbounded preceding and current row)
            as run_start_wk,
        -- g is non-NULL only when the week before was observed, so lead(g) is the
        -- next calendar week's growth or NULL
        lead(g) over entity as next_g,
        lead(wk) over entity = wk + 1 as has_next_week,
        lag(wk, 1) over entity as w1, lag(g, 1) over entity as g1,
        lag(wk, 2) over entity as w2, lag(g, 2) over entity as g2,
        lag(wk, 3) over entity as w3, lag(g, 3) over entity as g3,
        lag(wk, 4) over entity as w4, lag(g, 4) over entity as g4,
        lag(wk, 5) over entity as w5, lag(g, 5) over entity as g5,
        lag(wk, 6) over entity as w6, lag(g, 6) over entity as g6,
        lag(wk, 7) over entity as w7, lag(g, 7) over entity as g7,
        lag(wk, 8) over entity as w8, lag(g, 8) over entity as g8,
        lag(wk, 9) over entity as w9, lag(g, 9) over entity as g9,
        -- the 8 levels of the Mann-Kendall window: x_k is k rows back
        lag(tokens, 1) over entity as x1,
        lag(tokens, 2) over entity as x2,
        lag(tokens, 3) over entity as x3,
        lag(tokens, 4) over entity as x4,
        lag(tokens, 5) over entity as x5,
        lag(tokens, 6) over entity as x6,
        lag(tokens, 7) over entity as x7
    from runs
    window entity as (partition by level, entity_id order by wk)
),

windowed as (
    -- calendar-week windows from the previous rows: the k-th previous row is in a
    -- window of the last m weeks iff its wk >= wk - m (rows are strictly increasing in wk)
    select
        *,
        coalesce(w7 = wk - 7, false) as has_mk_window,  -- all 8 levels t-7 .. t observed
        ln(nullif(x1, 0)) as y1, ln(nullif(x2, 0)) as y2, ln(nullif(x3, 0)) as y3, ln(nullif(x4, 0)) as y4,
        ln(nullif(x5, 0)) as y5, ln(nullif(x6, 0)) as y6, ln(nullif(x7, 0)) as y7,
        -- baseline: the growths of weeks t-8 .. t-1 (current week excluded)
        [case when w1 >= wk - 8 then g1 end, case when w2 >= wk - 8 then g2 end,
         case when w3 >= wk - 8 then g3 end, case when w4 >= wk - 8 then g4 end,
         case when w5 >= wk - 8 then g5 end, case when w6 >= wk - 8 then g6 end,
         case when w7 >= wk - 8 then g7 end, case when w8 >= wk - 8 then g8 end] as prior_g,
        -- the same baseline one week earlier (weeks t-9 .. t-2), for last week's z
        [case when w2 >= wk - 9 then g2 end, case when w3 >= wk - 9 then g3 end,
         case when w4 >= wk - 9 then g4 end, case when w5 >= wk - 9 then g5 end,
         case when w6 >= wk - 9 then g6 end, case when w7 >= wk - 9 then g7 end,
         case when w8 >= wk - 9 then g8 end, case when w9 >= wk - 9 then g9 end] as prev_prior_g,
        -- volatility window: the growths of weeks t-7 .. t (current week included)
        [g, case when w1 >= wk - 7 then g1 end,
         case when w2 >= wk - 7 then g2 end, case when w3 >= wk - 7 then g3 end,
         case when w4 >= wk - 7 then g4 end, case when w5 >= wk - 7 then g5 end,
         case when w6 >= wk - 7 then g6 end, case when w7 >= wk - 7 then g7 end] as last8_g
    from lagged
),

window_stats as (
    select
        *,
        list_count(prior_g) as n_prior,
        list_avg(prior_g) as prior_mean,
        list_stddev_samp(prior_g) as prior_sd,
        -- medians only where robust_z is defined (they are the costly part)
        case when g is not null and list_count(prior_g) >= 4 then list_median(prior_g) end as prior_median,
        case when g is not null and list_count(prior_g) >= 4 then list_aggregate(prior_g, 'mad') end
            as prior_mad,
        list_count(last8_g) as n_8w,
        list_avg(last8_g) as last8_mean,
        list_stddev_samp(last8_g) as last8_sd,
        -- last week's z (same inputs as on last week's row), for the spike-reversal rule
        case when w1 = wk - 1 and g1 is not null and list_count(prev_prior_g) >= 4
             then (g1 - list_avg(prev_prior_g)) / greatest(list_stddev_samp(prev_prior_g), 0.02) end
            as prev_z
    from windowed
),

mann_kendall as (
    -- S = sum of sign(later - earlier) over the 28 pairs of the window, on tokens:
    -- MK is rank-based, so integers give the same S as ln x without float ties.
    select
        *,
        case when has_mk_window then
              sign(tokens - x1) + sign(tokens - x2) + sign(tokens - x3) + sign(tokens - x4)
            + sign(tokens - x5) + sign(tokens - x6) + sign(tokens - x7)
            + sign(x1 - x2) + sign(x1 - x3) + sign(x1 - x4) + sign(x1 - x5) + sign(x1 - x6) + sign(x1 - x7)
            + sign(x2 - x3) + sign(x2 - x4) + sign(x2 - x5) + sign(x2 - x6) + sign(x2 - x7)
            + sign(x3 - x4) + sign(x3 - x5) + sign(x3 - x6) + sign(x3 - x7)
            + sign(x4 - x5) + sign(x4 - x6) + sign(x4 - x7)
            + sign(x5 - x6) + sign(x5 - x7)
            + sign(x6 - x7)
        end as s,
        -- ties are rare, so the exact tie term is only worked out for windows that have one
        case when has_mk_window then
              (tokens = x1)::int + (tokens = x2)::int + (tokens = x3)::int + (tokens = x4)::int
            + (tokens = x5)::int + (tokens = x6)::int + (tokens = x7)::int
            + (x1 = x2)::int + (x1 = x3)::int + (x1 = x4)::int + (x1 = x5)::int + (x1 = x6)::int + (x1 = x7)::int
            + (x2 = x3)::int + (x2 = x4)::int + (x2 = x5)::int + (x2 = x6)::int + (x2 = x7)::int
            + (x3 = x4)::int + (x3 = x5)::int + (x3 = x6)::int + (x3 = x7)::int
            + (x4 = x5)::int + (x4 = x6)::int + (x4 = x7)::int
            + (x5 = x6)::int + (x5 = x7)::int
            + (x6 = x7)::int
        end as tied_pairs,
        -- Sen's slope: median of the 28 pairwise slopes of ln x, per week (no slope to a zero week)
        case when has_mk_window and least(tokens, x1, x2, x3, x4, x5, x6, x7) > 0 then list_median([
            y - y1, (y - y2) / 2, (y - y3) / 3, (y - y4) / 4, (y - y5) / 5, (y - y6) / 6, (y - y7) / 7,
            y1 - y2, (y1 - y3) / 2, (y1 - y4) / 3, (y1 - y5) / 4, (y1 - y6) / 5, (y1 - y7) / 6,
            y2 - y3, (y2 - y4) / 2, (y2 - y5) / 3, (y2 - y6) / 4, (y2 - y7) / 5,
            y3 - y4, (y3 - y5) / 2, (y3 - y6) / 3, (y3 - y7) / 4,
            y4 - y5, (y4 - y6) / 2, (y4 - y7) / 3,
            y5 - y6, (y5 - y7) / 2,
            y6 - y7
        ]) end as sen_slope
    from window_stats
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
             when tied_pairs = 0 then 8 * 7 * 21 / 18.0
             -- a group of t equal values adds t(t-1)(2t+5): (t-1)(2t+5) for each member
             else (8 * 7 * 21 - list_sum(list_transform(
                 [tokens, x1, x2, x3, x4, x5, x6, x7],
                 lambda v: (len(list_filter([tokens, x1, x2, x3, x4, x5, x6, x7], lambda w: w = v)) - 1)
                     * (2 * len(list_filter([tokens, x1, x2, x3, x4, x5, x6, x7], lambda w: w = v)) + 5)
             ))) / 18.0
        end as mk_var_s,
        case when has_mk_window then y - y7 end as net_log_change_window,
        -- largest single-week move among the 7 changes inside the 8-level window
        case when has_mk_window
             then greatest(abs(g), abs(g1), abs(g2), abs(g3), abs(g4), abs(g5), abs(g6)) end
            as max_abs_g_window,
        case when g is null or g = 0 then 0 else sign(g) * (wk - run_start_wk + 1) end as run_len
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

labelled as (
    select
        *,
        -- §3.4, evaluated in order, first match wins
        case
            when z is null or s is null then 'insufficient_history'
            when abs(prev_z) >= 2 and sign(g) * sign(g1) = -1 and abs(g) >= 0.5 * abs(g1)
                then 'spike_reversal'
            when abs(z) >= 2 and sign(next_g) * sign(g) = -1 and abs(next_g) >= 0.5 * abs(g)
                then case when g > 0 then 'spike_up' else 'spike_down' end
            when mk_p < 0.05 and abs(run_len) >= 3 and sign(run_len) = sign(sen_slope)
                 and max_week_share <= 0.5
                then case when sen_slope > 0 then 'trend_up' else 'trend_down' end
            when abs(z) >= 2 and next_g is null then 'jump_pending'
            when abs(z) >= 2 then case when g > 0 then 'level_shift_up' else 'level_shift_down' end
            else 'noise'
        end as label
    from p_values
),

final as (
    select
        week_start,
        wk,
        level,
        entity_id,
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
        cast(run_len as integer) as run_len,
        net_log_change_window,
        max_week_share,
        next_g,
        label,
        not coalesce(has_next_week, false) as is_provisional
    from labelled
)

select * from final
