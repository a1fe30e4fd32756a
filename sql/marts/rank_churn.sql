-- mart.rank_churn: how each level's top-N list changes from one week to the next
-- (spec §2.1–2.6). One row per (complete week, level, top_n in getvariable('top_ns')).
-- Comparison columns need the previous calendar week (wk - 1): a missing week is not an
-- empty list (§1.6), so the first week and the week after a gap carry only the list.
-- A list shorter than top_n (fewer entities that week) is compared as an uneven pair of
-- lengths s ≤ l: k = l for the footrule, WMZ eq. 32 / Corsi & Urbano (2024) for RBO.
with depths as (
    select unnest(getvariable('top_ns')) as top_n
),

listed as (
    select e.level, n.top_n, e.wk, e.week_start, e.entity_id, e.rank
    from mart.entity_week as e
    join depths as n on e.rank <= n.top_n
),

lists as (
    select
        level,
        top_n,
        wk,
        any_value(week_start) as week_start,
        list(entity_id order by rank) as ranked_list,
        count(*) as list_length
    from listed
    group by level, top_n, wk
),

with_prev as (
    select
        *,
        ranked_list[1] as leader,
        lag(wk) over w = wk - 1 as has_prev,
        lag(ranked_list[1]) over w as prev_leader,
        lag(list_length) over w as prev_length
    from lists
    window w as (partition by level, top_n order by wk)
),

leader_runs as (
    select
        *,
        -- false in the first week of data (nothing to change from), NULL after a gap (unknown)
        case when prev_leader is null then false
             when has_prev then leader <> prev_leader end as leader_changed,
        -- gaps-and-islands: a run of consecutive weeks with one leader shares wk - row_number
        wk - row_number() over (partition by level, top_n, leader order by wk) as run_id
    from with_prev
),

leader_stats as (
    select
        *,
        row_number() over (partition by level, top_n, leader, run_id order by wk) as leader_tenure_weeks,
        sum(case when leader_changed then 1 else 0 end) over (
            partition by level, top_n order by wk range between 51 preceding and current row
        ) as leader_changes_52w
    from leader_runs
),

compared as (
    select
        level, top_n, wk,
        prev_length as len_prev,
        list_length as len_cur,
        least(prev_length, list_length) as len_short,
        greatest(prev_length, list_length) as len_long
    from with_prev
    where has_prev
),

pair_items as (
    -- the union of the two lists: a listed entity has its rank, an absent one NULL
    select
        coalesce(c.level, p.level) as level,
        coalesce(c.top_n, p.top_n) as top_n,
        coalesce(c.wk, p.wk + 1) as wk,
        coalesce(c.entity_id, p.entity_id) as entity_id,
        p.rank as rank_prev,
        c.rank as rank_cur
    from listed as c
    full join listed as p
        on p.level = c.level and p.top_n = c.top_n and p.wk = c.wk - 1 and p.entity_id = c.entity_id
),

union_items as (
    select
        i.*,
        k.len_prev, k.len_cur, k.len_short, k.len_long,
        i.rank_prev is not null and i.rank_cur is not null as in_both,
        count(*) over cmp as n_union,
        -- location parameter: an absent entity sits at k + 1 (Fagin, Kumar & Sivakumar 2003)
        coalesce(i.rank_prev, k.len_long + 1) as pos_prev,
        coalesce(i.rank_cur, k.len_long + 1) as pos_cur,
        -- rank in the longer list (either list when the lengths are equal)
        case when k.len_cur >= k.len_prev then i.rank_cur else i.rank_prev end as rank_long,
        case when k.len_cur >= k.len_prev then i.rank_prev else i.rank_cur end as rank_short
    from pair_items as i
    join compared as k using (level, top_n, wk)
    window cmp as (partition by i.level, i.top_n, i.wk)
),

ranked_items as (
    select
        *,
        -- survivors re-ranked 1..n within each week (intersection Spearman)
        case when in_both then row_number() over (
            partition by level, top_n, wk, in_both order by rank_prev) end as common_rank_prev,
        case when in_both then row_number() over (
            partition by level, top_n, wk, in_both order by rank_cur) end as common_rank_cur,
        -- average ranks as scipy.stats.spearmanr assigns them: the m absent items tie after the list
        coalesce(rank_prev, len_prev + (n_union - len_prev + 1) / 2.0) as avg_rank_prev,
        coalesce(rank_cur, len_cur + (n_union - len_cur + 1) / 2.0) as avg_rank_cur,
        -- i-th entity of the longer list that the shorter one lacks (RBO_MAX extension)
        case when rank_short is null then row_number() over (
            partition by level, top_n, wk, rank_short is null order by rank_long) end as long_only_index
    from union_items
),

set_stats as (
    select
        level, top_n, wk,
        any_value(len_prev) as len_prev,
        any_value(len_cur) as len_cur,
        any_value(len_short) as len_short,
        any_value(len_long) as len_long,
        count(*) as n_union,
        count(*) filter (where in_both) as n_common,
        coalesce(list(entity_id order by entity_id) filter (where rank_prev is null), []) as entries,
        coalesce(list(entity_id order by entity_id) filter (where rank_cur is null), []) as exits,
        sum(abs(pos_prev - pos_cur)) as footrule_union,
        avg(abs(rank_prev - rank_cur)) filter (where in_both) as mean_abs_disp_int,
        sum((common_rank_prev - common_rank_cur) ^ 2) filter (where in_both) as sq_diff_int,
        corr(avg_rank_prev, avg_rank_cur) as pearson_avg_ranks,
        -- X_s: overlap at the shorter list's depth (WMZ eq. 32)
        count(*) filter (where in_both and rank_long <= len_short) as overlap_short
    from ranked_items
    group by level, top_n, wk
),

pair_stats as (
    -- discordant pairs of the union; an absent entity ranks behind every listed one
    select
        a.level, a.top_n, a.wk,
        count(*) filter (
            where (a.pos_prev - b.pos_prev) * (a.pos_cur - b.pos_cur) < 0) as discordant,
        count(*) filter (
            where (a.pos_prev - b.pos_prev) * (a.pos_cur - b.pos_cur) < 0
              and a.in_both and b.in_both) as discordant_int
    from union_items as a
    join union_items as b
        on a.level = b.level and a.top_n = b.top_n and a.wk = b.wk and a.entity_id < b.entity_id
    group by a.level, a.top_n, a.wk
),

rbo_events as (
    -- X_d counts an entity of both lists from depth max(r_prev, r_cur) on (the SQL trick, §2.5)
    select level, top_n, wk, greatest(rank_prev, rank_cur) as d, 1 as dx, 0 as du
    from ranked_items
    where in_both
    union all
    -- RBO_MAX: the shorter list's unseen item s + i matches the i-th longer-only entity
    select level, top_n, wk, greatest(len_short + long_only_index, rank_long), 0, 1
    from ranked_items
    where long_only_index <= len_long - len_short
),

rbo_event_counts as (
    select level, top_n, wk, d, sum(dx) as dx, sum(du) as du
    from rbo_events
    group by all
),

rbo_depths as (
    -- depths 1..f, f = l + s - X_l: beyond l only RBO_MAX's best-case tail contributes
    select
        level, top_n, wk, len_short, len_long, n_common, overlap_short,
        unnest(range(1, len_long + len_short - n_common + 1)) as d
    from set_stats
),

rbo_overlaps as (
    select
        dp.*,
        sum(coalesce(ev.dx, 0)) over cum as x_d,
        sum(coalesce(ev.du, 0)) over cum as unseen_d
    from rbo_depths as dp
    left join rbo_event_counts as ev using (level, top_n, wk, d)
    window cum as (partition by dp.level, dp.top_n, dp.wk order by dp.d
                   rows between unbounded preceding and current row)
),

rbo_sums as (
    select
        o.level, o.top_n, o.wk, ps.p,
        any_value(o.len_short) as s,
        any_value(o.len_long) as l,
        any_value(o.n_common) as x_l,
        any_value(o.overlap_short) as x_s,
        sum(o.x_d / o.d * ps.p ^ o.d) filter (where o.d <= o.len_long) as sum_agreement,
        sum(ps.p ^ o.d / o.d) filter (where o.d <= o.len_long) as sum_harmonic,
        sum((o.x_d + o.unseen_d) / o.d * ps.p ^ o.d) filter (where o.d <= o.len_long) as sum_max_seen,
        coalesce(sum((2 * o.d - o.len_long - o.len_short + o.n_common) / o.d * ps.p ^ o.d)
                 filter (where o.d > o.len_long), 0) as sum_max_tail,
        sum((o.x_d / o.d + case when o.d > o.len_short
                                then o.overlap_short * (o.d - o.len_short) / (o.len_short * o.d)
                                else 0 end) * ps.p ^ o.d) filter (where o.d <= o.len_long) as sum_ext
    from rbo_overlaps as o
    cross join (values (0.9::double), (0.98::double)) as ps(p)
    group by o.level, o.top_n, o.wk, ps.p
),

rbo as (
    select
        level, top_n, wk, p,
        (1 - p) / p * (sum_agreement + x_l * (ln(1 / (1 - p)) - sum_harmonic)) as rbo_min,
        (1 - p) / p * (sum_max_seen + sum_max_tail + p ^ (l + s - x_l + 1) / (1 - p)) as rbo_max,
        (1 - p) / p * sum_ext + ((x_l - x_s) / l + x_s / s) * p ^ l as rbo_ext
    from rbo_sums
),

rbo_wide as (
    select
        level, top_n, wk,
        any_value(rbo_min) filter (where p = 0.9) as rbo_min_p90,
        any_value(rbo_max) filter (where p = 0.9) as rbo_max_p90,
        any_value(rbo_ext) filter (where p = 0.9) as rbo_ext_p90,
        any_value(rbo_min) filter (where p = 0.98) as rbo_min_p98,
        any_value(rbo_max) filter (where p = 0.98) as rbo_max_p98,
        any_value(rbo_ext) filter (where p = 0.98) as rbo_ext_p98
    from rbo
    group by level, top_n, wk
),

churn as (
    select
        s.*,
        coalesce(ps.discordant, 0) as discordant,
        coalesce(ps.discordant_int, 0) as discordant_int,
        -- pairs tied in prev (both entered) / in cur (both exited); both ties at once cannot happen
        (s.n_union - s.len_prev) * (s.n_union - s.len_prev - 1) // 2 as ties_prev,
        (s.n_union - s.len_cur) * (s.n_union - s.len_cur - 1) // 2 as ties_cur,
        s.n_union * (s.n_union - 1) // 2 as n_pairs,
        s.n_common * (s.n_common - 1) // 2 as n_pairs_int
    from set_stats as s
    left join pair_stats as ps using (level, top_n, wk)
),

measures as (
    select
        level, top_n, wk, entries, exits,
        len(entries) as n_entries,
        len(exits) as n_exits,
        -- divided by last week's list length (= N for a full list), so turnover + retention = 1
        len(exits) / len_prev as turnover_rate,
        n_common / len_prev as retention_rate,
        n_common / n_union as jaccard,
        mean_abs_disp_int,
        footrule_union,
        footrule_union / n_union as mean_abs_disp_union,
        -- divided by the footrule of two disjoint lists (N(N+1) for full lists)
        footrule_union / (len_prev * (len_long + 1) - len_prev * (len_prev + 1) / 2
                          + len_cur * (len_long + 1) - len_cur * (len_cur + 1) / 2) as footrule_union_norm,
        case when n_common >= 2
             then 1 - 6 * sq_diff_int / (n_common * (n_common * n_common - 1)) end as spearman_int,
        case when n_common >= 2
             then (n_pairs_int - 2 * discordant_int) / n_pairs_int end as kendall_taub_int,
        case when n_union >= 2 then pearson_avg_ranks end as spearman_union,
        case when n_union >= 2
             then (n_pairs - ties_prev - ties_cur - 2 * discordant)
                  / sqrt((n_pairs - ties_cur) * (n_pairs - ties_prev)) end as kendall_taub_union,
        -- Fagin K^(p), p = 1/2: discordant pairs count 1, pairs seen in only one list count p
        discordant + (ties_prev + ties_cur) / 2 as fagin_K,
        (discordant + (ties_prev + ties_cur) / 2)
            / (len_prev * len_cur + (len_prev * (len_prev - 1) + len_cur * (len_cur - 1)) / 4)
            as fagin_K_norm
    from churn
),

final as (
    select
        l.week_start,
        cast(l.wk as integer) as wk,
        l.level,
        cast(l.top_n as integer) as top_n,
        cast(l.list_length as integer) as list_length,
        l.ranked_list,
        l.leader,
        l.leader_changed,
        cast(l.leader_tenure_weeks as integer) as leader_tenure_weeks,
        cast(l.leader_changes_52w as integer) as leader_changes_52w,
        m.entries,
        m.exits,
        cast(m.n_entries as integer) as n_entries,
        cast(m.n_exits as integer) as n_exits,
        m.turnover_rate,
        m.retention_rate,
        m.jaccard,
        m.mean_abs_disp_int,
        cast(m.footrule_union as integer) as footrule_union,
        m.mean_abs_disp_union,
        m.footrule_union_norm,
        m.spearman_int,
        m.kendall_taub_int,
        m.spearman_union,
        m.kendall_taub_union,
        m.fagin_K,
        m.fagin_K_norm,
        r.rbo_min_p90,
        r.rbo_max_p90,
        r.rbo_max_p90 - r.rbo_min_p90 as rbo_res_p90,
        r.rbo_ext_p90,
        r.rbo_min_p98,
        r.rbo_max_p98,
        r.rbo_max_p98 - r.rbo_min_p98 as rbo_res_p98,
        r.rbo_ext_p98
    from leader_stats as l
    left join measures as m using (level, top_n, wk)
    left join rbo_wide as r using (level, top_n, wk)
)

select * from final
