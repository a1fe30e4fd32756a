-- mart.market_week: the whole market per complete week (listed models + other) and
-- whether total volume is trending (spec §1.6, §3.6, §6.4): Mann-Kendall, Sen's slope and
-- the Hamed-Rao autocorrelation-corrected MK on y = ln(total tokens), over (a) the last
-- 12 weeks ending at the week and (b) all history up to it. Parity: pymannkendall
-- original_test / sens_slope / hamed_rao_modification_test.
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
        row_number() over (order by week_start) as pos  -- position in the series (1 = first week)
    from core.market_week
    where is_complete
),

growth as (
    select
        *,
        case when lag(wk) over history = wk - 1
             then 100.0 * (total_tokens / nullif(lag(total_tokens) over history, 0) - 1) end as wow_pct,
        case when lag(wk) over history = wk - 1 then y - lag(y) over history end as log_growth
    from weeks
    window history as (order by wk)
),

pairs as (
    -- every pair of complete weeks i < j; sign on integers (exact ties), slope on ln T
    select
        a.wk as i_wk,
        b.wk as j_wk,
        sign(b.total_tokens - a.total_tokens) as sign_change,
        (b.y - a.y) / (b.wk - a.wk) as slope
    from weeks as a
    join weeks as b on a.wk < b.wk
),

members as (
    -- the weeks of each window: all history up to the end week, and the last 12 weeks
    select 'all' as window_name, t.wk as end_wk, m.wk, m.pos, m.y, m.total_tokens
    from weeks as t
    join weeks as m on m.wk <= t.wk
    union all
    select '12w', t.wk, m.wk, m.pos, m.y, m.total_tokens
    from weeks as t
    join weeks as m on m.wk between t.wk - 11 and t.wk
),

window_sizes as (
    -- 12w needs all 12 calendar weeks complete; all history needs 3 weeks, the least
    -- on which MK, Sen and Hamed-Rao are all defined (p < 0.05 needs >= 5 anyway)
    select window_name, end_wk, count(*) as n, min(pos) as first_pos
    from members
    group by all
    having (window_name = '12w' and count(*) = 12) or (window_name = 'all' and count(*) >= 3)
),

tie_groups as (
    -- Var(S) tie correction: each group of t equal totals removes t(t-1)(2t+5)
    select window_name, end_wk, sum(t * (t - 1) * (2 * t + 5)) as tie_term
    from (select window_name, end_wk, count(*) as t from members group by window_name, end_wk, total_tokens)
    group by all
),

history_s as (
    -- all history: S(t) = S(t-1) + the signs of week t against every earlier week,
    -- so a running sum avoids re-pairing every week with all its history
    select
        j_wk as end_wk,
        sum(sum(sign_change)) over (order by j_wk rows between unbounded preceding and current row) as s
    from pairs
    group by j_wk
),

history_sen as (
    -- all history: median slope of every pair ending by week t (a growing window)
    select distinct
        j_wk as end_wk,
        median(slope) over (order by j_wk range between unbounded preceding and current row) as sen_slope
    from pairs
),

last12_s_sen as (
    -- last 12 weeks: the 66 pairs inside the window
    select t.end_wk, sum(p.sign_change) as s, median(p.slope) as sen_slope
    from window_sizes as t
    join (select * from pairs where j_wk - i_wk <= 11) as p
      on p.j_wk between t.end_wk - 10 and t.end_wk and p.i_wk >= t.end_wk - 11
    where t.window_name = '12w'
    group by t.end_wk
),

mann_kendall as (
    select
        w.window_name,
        w.end_wk,
        w.n,
        w.first_pos,
        coalesce(h.s, l.s) as s,
        coalesce(hs.sen_slope, l.sen_slope) as sen_slope,
        (w.n * (w.n - 1) * (2 * w.n + 5) - tg.tie_term) / 18.0 as var_s
    from window_sizes as w
    join tie_groups as tg using (window_name, end_wk)
    left join history_s as h on w.window_name = 'all' and h.end_wk = w.end_wk
    left join history_sen as hs on w.window_name = 'all' and hs.end_wk = w.end_wk
    left join last12_s_sen as l on w.window_name = '12w' and l.end_wk = w.end_wk
),

detrended_ranks as (
    -- Hamed-Rao: ranks (average for ties) of y - Sen slope * position (1..n), centred
    select
        window_name,
        end_wk,
        n,
        pos,
        rank() over ordered - 1 + (count(*) over (ordered range between current row and current row) + 1) / 2.0
            - (n + 1) / 2.0 as centred_rank
    from (
        select
            m.window_name,
            m.end_wk,
            k.n,
            m.pos - k.first_pos + 1 as pos,
            m.y - k.sen_slope * (m.pos - k.first_pos + 1) as detrended
        from members as m
        join mann_kendall as k using (window_name, end_wk)
    )
    window ordered as (partition by window_name, end_wk order by detrended)
),

rank_series as (
    select window_name, end_wk, n, list(centred_rank order by pos) as ranks
    from detrended_ranks
    group by all
),

autocorrelation as (
    -- lag-k autocorrelation of the ranks for k = 1 .. n-1 (as pymannkendall's __acf)
    select
        window_name,
        end_wk,
        n,
        k,
        list_dot_product(ranks[1:n - k], ranks[1 + k:n]) / nullif(list_dot_product(ranks, ranks), 0) as acf
    from (select *, unnest(range(1, n)) as k from rank_series)
),

hamed_rao as (
    -- only lags outside the 95 % band 1.96 / sqrt(n) count (pymannkendall's rule)
    select
        window_name,
        end_wk,
        n,
        sum(case when abs(acf) > 1.959963984540054 / sqrt(n) then (n - k) * (n - k - 1) * (n - k - 2) * acf
                 else 0 end) as significant_sum,
        bool_or(acf is null) as ranks_constant
    from autocorrelation
    group by all
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
)

select * from final
