-- mart.market_week: the whole market per complete week (listed models + other) and
-- whether total volume is trending (spec §1.6, §3.6, §6.4): Mann-Kendall, Sen's slope and
-- the Hamed-Rao autocorrelation-corrected MK on y = ln(total tokens), over (a) the last
-- 12 weeks ending at the week and (b) all history up to it. Parity: pymannkendall
-- original_test / sens_slope / hamed_rao_modification_test.
-- Incremental: a week's row depends only on the weeks up to it, so only the weeks from
-- getvariable('since_week') on are computed (all history is still read: one row a week).
with weeks as (
    select
        week_start,
        date_diff('day', date '2000-01-03', week_start) // 7 as wk,
        total_tokens,
        other_tokens,
        named_tokens,
        listed_models,
        cap_tokens,
        ln(nullif(total_tokens, 0)) as y,
        row_number() over (order by week_start) as pos,  -- position in the series (1 = first week)
        -- the weeks this build writes (all when since_week is unset)
        week_start >= coalesce(getvariable('since_week'), date '1900-01-01') as in_build
    from core.market_week
    where is_complete
),

growth as (
    select
        *,
        case when lag(wk) over history = wk - 1
             then 100.0 * (total_tokens / nullif(lag(total_tokens) over history, 0) - 1) end as wow_pct,
        case when lag(wk) over history = wk - 1 then y - lag(y) over history end as log_growth,
        -- all 12 calendar weeks up to this one are complete
        lag(wk, 11) over history = wk - 11 as has_12w,
        -- Var(S) tie correction over all history, one week at a time: the c-th week with a
        -- given total turns its tie group's t(t-1)(2t+5) from c-1 to c
        row_number() over (partition by total_tokens order by wk) as tie_count
    from weeks
    window history as (order by wk)
),

windows as (
    -- the windows this build computes: all history up to each week from since_week on
    -- (3 weeks at least: MK, Sen and Hamed-Rao are all defined), and the last 12 weeks
    select 'all' as window_name, wk as end_wk, pos as end_pos, 1 as first_pos, pos as n
    from growth
    where in_build and pos >= 3
    union all
    select '12w', wk, pos, pos - 11, 12
    from growth
    where in_build and has_12w
),

pairs as (
    -- every pair of complete weeks i < j; sign on integers (exact ties), slope on ln T
    -- per calendar week
    select
        a.pos as i_pos,
        b.pos as j_pos,
        sign(b.total_tokens - a.total_tokens) as sign_change,
        (b.y - a.y) / (b.wk - a.wk) as slope
    from weeks as a
    join weeks as b on a.pos < b.pos
),

history_s as (
    -- all history: S(t) = S(t-1) + the signs of week t against every earlier week
    -- (integers: the running sum is exact)
    select j_pos as end_pos, sum(sum(sign_change)) over (order by j_pos rows unbounded preceding) as s
    from pairs
    group by j_pos
),

history_ties as (
    select
        pos as end_pos,
        sum(tie_count * (tie_count - 1) * (2 * tie_count + 5)
            - (tie_count - 1) * (tie_count - 2) * (2 * tie_count + 3))
            over (order by pos rows unbounded preceding) as tie_term
    from growth
),

history_ends as (
    select end_pos from windows where window_name = 'all'
),

history_sen as (
    -- all history: the median slope of every pair ending by the week. A weekly run (a few
    -- weeks) takes each median directly; a rebuild takes one growing-window median over
    -- all pairs instead of re-reading them for every week (same interpolation, same bits)
    select e.end_pos, median(p.slope) as sen_slope
    from history_ends as e
    join pairs as p on p.j_pos <= e.end_pos
    where (select count(*) from history_ends) <= 8
    group by e.end_pos
    union all
    select j_pos, sen_slope
    from (
        select
            j_pos,
            i_pos,
            median(slope) over (order by j_pos range between unbounded preceding and current row) as sen_slope
        from pairs
        where (select count(*) from history_ends) > 8
    )
    where i_pos = j_pos - 1 and j_pos in (select end_pos from history_ends)
),

last12_members as (
    select w.end_wk, w.end_pos, g.pos, g.total_tokens
    from windows as w
    join growth as g on g.pos between w.first_pos and w.end_pos
    where w.window_name = '12w'
),

last12_ties as (
    select end_wk, sum(t * (t - 1) * (2 * t + 5)) as tie_term
    from (select end_wk, count(*) as t from last12_members group by end_wk, total_tokens)
    group by end_wk
),

last12_s_sen as (
    -- last 12 weeks: the 66 pairs inside the window (pairs at most 11 positions apart)
    select w.end_wk, sum(p.sign_change) as s, median(p.slope) as sen_slope
    from last12_members as w
    join pairs as p on p.j_pos = w.pos and p.i_pos >= w.end_pos - 11
    where p.j_pos - p.i_pos <= 11
    group by w.end_wk
),

mann_kendall as (
    select
        w.window_name,
        w.end_wk,
        w.end_pos,
        w.n,
        w.first_pos,
        coalesce(h.s, l.s) as s,
        coalesce(hs.sen_slope, l.sen_slope) as sen_slope,
        (w.n * (w.n - 1) * (2 * w.n + 5) - coalesce(ht.tie_term, lt.tie_term)) / 18.0 as var_s
    from windows as w
    left join history_s as h on w.window_name = 'all' and h.end_pos = w.end_pos
    left join history_ties as ht on w.window_name = 'all' and ht.end_pos = w.end_pos
    left join history_sen as hs on w.window_name = 'all' and hs.end_pos = w.end_pos
    left join last12_s_sen as l on w.window_name = '12w' and l.end_wk = w.end_wk
    left join last12_ties as lt on w.window_name = '12w' and lt.end_wk = w.end_wk
),

detrended_ranks as (
    -- Hamed-Rao: ranks (average for ties) of y - Sen slope * position (1..n); kept as
    -- 2 * centred rank, an integer, so every lag sum below is exact
    select
        window_name,
        end_wk,
        n,
        pos,
        2 * rank() over ordered + count(*) over (ordered range between current row and current row)
            - n - 2 as centred_rank_x2
    from (
        select
            k.window_name,
            k.end_wk,
            k.n,
            g.pos - k.first_pos + 1 as pos,
            g.y - k.sen_slope * (g.pos - k.first_pos + 1) as detrended
        from mann_kendall as k
        join growth as g on g.pos between k.first_pos and k.end_pos
    )
    window ordered as (partition by window_name, end_wk order by detrended)
),

rank_series as (
    select
        window_name,
        end_wk,
        n,
        list(centred_rank_x2::double order by pos) as ranks,
        sum(centred_rank_x2 * centred_rank_x2) as lag0
    from detrended_ranks
    group by all
),

shifted as (
    -- Lag sums without two slices of the ranks per lag (the copies cost more than the
    -- products): lag k = 32q + a pairs the ranks shifted right by a places (zeros in
    -- front, a = 0..31) with the ranks from position 32q + 1 on, so a window of n weeks
    -- builds 32 + n/32 lists instead of 2n
    select window_name, end_wk, n, a, list_concat(list_resize([]::double[], a, 0.0), ranks) as shifted
    from rank_series, range(0, 32) as t(a)
    where a < n
),

suffixes as (
    select window_name, end_wk, n, q, ranks[32 * q + 1:] as suffix
    from (select *, unnest(range(0, (n + 31) // 32)) as q from rank_series)
),

autocorrelation as (
    -- lag sums of the ranks for k = 1 .. n-3 (pymannkendall's __acf numerators; lags n-2
    -- and n-1 have weight 0 below): sums of integer products, exact
    select
        s.window_name,
        s.end_wk,
        s.n,
        32 * c.q + s.a as k,
        list_dot_product(list_resize(s.shifted, s.n - 32 * c.q), c.suffix) as lag_sum
    from suffixes as c
    join shifted as s
      on s.window_name = c.window_name and s.end_wk = c.end_wk and 32 * c.q + s.a between 1 and s.n - 3
),

hamed_rao as (
    -- only lags outside the 95 % band 1.96 / sqrt(n) count (pymannkendall's rule); the
    -- weighted sum is taken over exact integers, then divided once
    select
        r.window_name,
        r.end_wk,
        coalesce(sum(case when abs(a.lag_sum / nullif(r.lag0, 0)) > 1.959963984540054 / sqrt(r.n)
                          then ((r.n - a.k) * (r.n - a.k - 1) * (r.n - a.k - 2))::hugeint * a.lag_sum::hugeint end), 0)
            / nullif(any_value(r.lag0), 0) as significant_sum,
        any_value(r.lag0) = 0 as ranks_constant
    from rank_series as r
    left join autocorrelation as a using (window_name, end_wk)
    group by r.window_name, r.end_wk
),

trend as (
    select
        k.window_name,
        k.end_wk,
        k.n,
        k.s,
        k.var_s,
        case when k.s > 0 then (k.s - 1) / sqrt(k.var_s)
             when k.s < 0 then (k.s + 1) / sqrt(k.var_s)
             else 0.0 end as mk_z,
        k.s / (k.n * (k.n - 1) / 2.0) as mk_tau,
        k.sen_slope,
        -- Hamed-Rao is reported only when it widens Var(S) (positive serial correlation,
        -- what it corrects for). A factor < 1 comes from significant negative rank
        -- autocorrelation, in short windows mostly noise; it makes the test more confident
        -- than plain MK, and below 0 pymannkendall returns NaN (negative variance).
        -- The factor is 1 + 2 / (n(n-1)(n-2)) * significant_sum, so >= 1 iff the sum >= 0.
        case when not h.ranks_constant and h.significant_sum >= 0
             then k.var_s * (1 + 2.0 / (k.n * (k.n - 1) * (k.n - 2)) * h.significant_sum) end
            as hamed_rao_var_s
    from mann_kendall as k
    left join hamed_rao as h using (window_name, end_wk)
),

trend_tests as (
    select
        *,
        two_sided_p(mk_z) as mk_p,
        case when s > 0 then (s - 1) / sqrt(hamed_rao_var_s)
             when s < 0 then (s + 1) / sqrt(hamed_rao_var_s)
             when hamed_rao_var_s is not null then 0.0 end as hamed_rao_z
    from trend
),

by_week as (
    select
        end_wk as wk,
        max(n) filter (where window_name = 'all') as weeks_all,
        max(s) filter (where window_name = '12w') as mk_s_12w,
        max(var_s) filter (where window_name = '12w') as mk_var_s_12w,
        max(mk_z) filter (where window_name = '12w') as mk_z_12w,
        max(mk_p) filter (where window_name = '12w') as mk_p_12w,
        max(mk_tau) filter (where window_name = '12w') as mk_tau_12w,
        max(sen_slope) filter (where window_name = '12w') as sen_slope_12w,
        max(hamed_rao_z) filter (where window_name = '12w') as hamed_rao_z_12w,
        max(s) filter (where window_name = 'all') as mk_s_all,
        max(var_s) filter (where window_name = 'all') as mk_var_s_all,
        max(mk_z) filter (where window_name = 'all') as mk_z_all,
        max(mk_p) filter (where window_name = 'all') as mk_p_all,
        max(mk_tau) filter (where window_name = 'all') as mk_tau_all,
        max(sen_slope) filter (where window_name = 'all') as sen_slope_all,
        max(hamed_rao_z) filter (where window_name = 'all') as hamed_rao_z_all
    from trend_tests
    group by end_wk
),

final as (
    select
        g.week_start,
        g.wk,
        g.total_tokens,
        g.other_tokens,
        g.named_tokens,
        g.named_tokens / nullif(g.total_tokens, 0) as coverage,
        g.listed_models,
        g.cap_tokens,
        g.wow_pct,
        g.log_growth,
        cast(t.mk_s_12w as integer) as mk_s_12w,
        t.mk_var_s_12w,
        t.mk_z_12w,
        t.mk_p_12w,
        t.mk_tau_12w,
        t.sen_slope_12w,
        100 * (exp(t.sen_slope_12w) - 1) as sen_weekly_pct_12w,
        t.hamed_rao_z_12w,
        two_sided_p(t.hamed_rao_z_12w) as hamed_rao_p_12w,
        cast(t.weeks_all as integer) as weeks_all,
        cast(t.mk_s_all as integer) as mk_s_all,
        t.mk_var_s_all,
        t.mk_z_all,
        t.mk_p_all,
        t.mk_tau_all,
        t.sen_slope_all,
        100 * (exp(t.sen_slope_all) - 1) as sen_weekly_pct_all,
        t.hamed_rao_z_all,
        two_sided_p(t.hamed_rao_z_all) as hamed_rao_p_all,
        case when t.mk_p_12w < 0.05 and t.sen_slope_12w > 0 then 'growing'
             when t.mk_p_12w < 0.05 and t.sen_slope_12w < 0 then 'shrinking'
             when t.mk_p_12w is not null then 'no clear trend' end as trend_verdict_12w
    from growth as g
    left join by_week as t using (wk)
    where g.in_build
)

select * from final
