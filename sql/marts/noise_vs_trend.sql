-- mart.noise_vs_trend: is an entity's week a trend, a one-off jump, or noise? (spec §3)
-- Per (week, level, entity) on y = ln(tokens) and g = week-over-week log growth.
-- Every window is in calendar weeks: RANGE frames over wk, and the 8-level
-- Mann-Kendall window needs lag(wk, 7) = wk - 7, so a missing week never counts as data.
with series as (
    select
        week_start,
        wk,
        level,
        entity_id,
        tokens,
        case when tokens > 0 then ln(tokens) end as y  -- zero tokens: log metrics NULL (§1.6)
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

windowed as (
    select
        *,
        -- baseline: the growths of weeks t-8 .. t-1 (current week excluded)
        count(g) over prior as n_prior,
        avg(g) over prior as prior_mean,
        stddev_samp(g) over prior as prior_sd,
        median(g) over prior as prior_median,
        mad(g) over prior as prior_mad,
        -- volatility: the growths of weeks t-7 .. t (current week included)
        count(g) over last8 as n_8w,
        avg(g) over last8 as last8_mean,
        stddev_samp(g) over last8 as last8_sd,
        -- largest single-week move among the 7 changes inside the 8-level window
        max(abs(g)) over last7 as max_abs_g_window,
        -- a growth is non-NULL only when the week before was observed, so lead(g)
        -- is the next calendar week's growth or NULL
        lead(g) over entity as next_g,
        lead(wk) over entity = wk + 1 as has_next_week,
        max(case when run_breaks then wk end) over (entity rows between unbounded preceding and current row)
            as run_start_wk,
        coalesce(lag(wk, 7) over entity = wk - 7, false) as has_mk_window,
        -- the 8 levels of the Mann-Kendall window: x_k / y_k are k weeks back
        lag(tokens, 1) over entity as x1,
        lag(tokens, 2) over entity as x2,
        lag(tokens, 3) over entity as x3,
        lag(tokens, 4) over entity as x4,
        lag(tokens, 5) over entity as x5,
        lag(tokens, 6) over entity as x6,
        lag(tokens, 7) over entity as x7,
        lag(y, 1) over entity as y1,
        lag(y, 2) over entity as y2,
        lag(y, 3) over entity as y3,
        lag(y, 4) over entity as y4,
        lag(y, 5) over entity as y5,
        lag(y, 6) over entity as y6,
        lag(y, 7) over entity as y7
    from runs
    window
        entity as (partition by level, entity_id order by wk),
        prior as (partition by level, entity_id order by wk range between 8 preceding and 1 preceding),
        last8 as (partition by level, entity_id order by wk range between 7 preceding and current row),
        last7 as (partition by level, entity_id order by wk range between 6 preceding and current row)
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
        -- Sen's slope: median of the 28 pairwise slopes of ln x, per week
        case when has_mk_window then list_median([
            y - y1, (y - y2) / 2, (y - y3) / 3, (y - y4) / 4, (y - y5) / 5, (y - y6) / 6, (y - y7) / 7,
            y1 - y2, (y1 - y3) / 2, (y1 - y4) / 3, (y1 - y5) / 4, (y1 - y6) / 5, (y1 - y7) / 6,
            y2 - y3, (y2 - y4) / 2, (y2 - y5) / 3, (y2 - y6) / 4, (y2 - y7) / 5,
            y3 - y4, (y3 - y5) / 2, (y3 - y6) / 3, (y3 - y7) / 4,
            y4 - y5, (y4 - y6) / 2, (y4 - y7) / 3,
            y5 - y6, (y5 - y7) / 2,
            y6 - y7
        ]) end as sen_slope
    from windowed
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
        max_abs_g_window / nullif(abs(net_log_change_window), 0) as max_week_share,
        -- the previous calendar week's z, for the spike-reversal rule
        case when lag(wk) over entity = wk - 1 then lag(z) over entity end as prev_z
    from statistics
    window entity as (partition by level, entity_id order by wk)
),

labelled as (
    select
        *,
        two_sided_p(mk_z) as mk_p,
        -- §3.4, evaluated in order, first match wins
        case
            when z is null or s is null then 'insufficient_history'
            when abs(prev_z) >= 2 and sign(g) * sign(prev_g) = -1 and abs(g) >= 0.5 * abs(prev_g)
                then 'spike_reversal'
            when abs(z) >= 2 and sign(next_g) * sign(g) = -1 and abs(next_g) >= 0.5 * abs(g)
                then case when g > 0 then 'spike_up' else 'spike_down' end
            when two_sided_p(mk_z) < 0.05 and abs(run_len) >= 3 and sign(run_len) = sign(sen_slope)
                 and max_week_share <= 0.5
                then case when sen_slope > 0 then 'trend_up' else 'trend_down' end
            when abs(z) >= 2 and next_g is null then 'jump_pending'
            when abs(z) >= 2 then case when g > 0 then 'level_shift_up' else 'level_shift_down' end
            else 'noise'
        end as label
    from tests
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
