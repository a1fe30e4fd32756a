-- mart.rank_churn: how each level's top-N list changes from one week to the next
-- (spec §2.1–2.6). One row per (complete week, level, top_n in getvariable('top_ns')).
-- Comparison columns need the previous calendar week (wk - 1): a missing week is not an
-- empty list (§1.6), so the first week and the week after a gap carry only the list.
-- A list shorter than top_n (fewer entities that week) is compared as an uneven pair of
-- lengths s ≤ l: k = l for the footrule, WMZ eq. 32 / Corsi & Urbano (2024) for RBO.
-- Speed: one integer series_id per (level, top_n) keeps joins and windows on integers.
-- Incremental: a week's row depends on that week and the one before (plus the leader
-- history, read in full from rank 1 only), so weeks from getvariable('since_week') on are
-- computed; float sums are exact (fixed point), the same bits in a full or partial build.
with depths as (
    select unnest(getvariable('top_ns')) as top_n
),

leaders as (
    -- the leader of each level and week over all history: tenure and the 52-week change
    -- count look back without limit, and these integers are exact whatever since_week is
    select
        level,
        wk,
        leader,
        -- false in the first week of data (nothing to change from), NULL after a gap (unknown)
        case when lag(leader) over w is null then false
             when lag(wk) over w = wk - 1 then leader <> lag(leader) over w end as leader_changed,
        -- gaps-and-islands: a run of consecutive weeks with one leader shares wk - row_number
        wk - row_number() over (partition by level, leader order by wk) as run_id
    from (select level, wk, entity_id as leader from mart.entity_week where rank = 1)
    window w as (partition by level order by wk)
),

leader_stats as (
    select
        level,
        wk,
        leader,
        leader_changed,
        row_number() over (partition by level, leader, run_id order by wk) as leader_tenure_weeks,
        sum(case when leader_changed then 1 else 0 end) over (
            partition by level order by wk range between 51 preceding and current row
        ) as leader_changes_52w
    from leaders
),

series as (
    select l.level, d.top_n, row_number() over (order by l.level, d.top_n) as series_id
    from (select distinct level from leaders) as l
    cross join depths as d
),

ranked as (
    -- each level's ranking down to the deepest N, for the weeks this build writes and
    -- the week before them (the comparison week)
    select level, wk, week_start, entity_id, rank
    from mart.entity_week
    where rank <= (select max(top_n) from depths)
      and week_start >= coalesce(getvariable('since_week'), date '1900-01-01') - interval 7 day
),

listed as (
    select s.series_id, s.level, s.top_n, e.wk, e.week_start, e.entity_id, e.rank
    from ranked as e
    join series as s on s.level = e.level and e.rank <= s.top_n
),

level_lists as (
    select level, wk, any_value(week_start) as week_start, list(entity_id order by rank) as ranking
    from ranked
    group by level, wk
),

lists as (
    -- the top N is the ranking's first N entities (fewer when the level has fewer)
    select
        s.series_id,
        l.wk,
        s.level,
        s.top_n,
        l.week_start,
        list_resize(l.ranking, least(len(l.ranking), s.top_n)) as ranked_list,
        least(len(l.ranking), s.top_n) as list_length
    from level_lists as l
    join series as s using (level)
),

with_prev as (
    select
        *,
        lag(wk) over w = wk - 1 as has_prev,
        lag(list_length) over w as prev_length
    from lists
    window w as (partition by series_id order by wk)
),

compared as (
    select
        series_id, wk,
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
        coalesce(c.series_id, p.series_id) as series_id,
        coalesce(c.wk, p.wk + 1) as wk,
        coalesce(c.entity_id, p.entity_id) as entity_id,
        p.rank as rank_prev,
        c.rank as rank_cur
    from listed as c
    full join listed as p
        on p.series_id = c.series_id and p.wk = c.wk - 1 and p.entity_id = c.entity_id
),

union_items as (
    select
        i.*,
        k.len_prev, k.len_cur, k.len_short, k.len_long,
        i.rank_prev is not null and i.rank_cur is not null as in_both,
        -- location parameter: an absent entity sits at k + 1 (Fagin, Kumar & Sivakumar 2003)
        coalesce(i.rank_prev, k.len_long + 1) as pos_prev,
        coalesce(i.rank_cur, k.len_long + 1) as pos_cur
    from pair_items as i
    join compared as k using (series_id, wk)
),

harmonic as (
    -- H_p(n) = Σ_{d=1..n} p^d / d: every RBO depth sum below collapses onto it (no per-depth rows)
    select
        n,
        sum(case when n > 0 then 0.9 ^ n / n else 0 end) over w as h90,
        sum(case when n > 0 then 0.98 ^ n / n else 0 end) over w as h98
    from range(0, 2 * (select max(top_n) from depths) + 1) as r(n)
    window w as (order by n)
),

overlap_items as (
    -- X_d counts an entity of both lists from depth max(r_prev, r_cur) on (the SQL trick, §2.5),
    -- so Σ_{d≤l} X_d p^d / d = Σ_items (H(l) − H(depth − 1))
    select u.series_id, u.wk, u.rank_prev, u.rank_cur, h.h90, h.h98
    from union_items as u
    join harmonic as h on h.n = greatest(u.rank_prev, u.rank_cur) - 1
    where u.in_both
),

long_only as (
    -- entities of the longer list that the shorter one lacks, numbered in the longer list's order
    select
        series_id, wk, len_short, len_long,
        coalesce(rank_prev, rank_cur) as rank_long,
        row_number() over (partition by series_id, wk order by coalesce(rank_prev, rank_cur)) as long_only_index
    from union_items
    where (len_cur > len_prev and rank_prev is null) or (len_prev > len_cur and rank_cur is null)
),

unseen_matches as (
    -- RBO_MAX on uneven lists: the shorter list's unseen item s + i is the i-th longer-only
    -- entity, seen from depth max(s + i, its rank in the longer list) up to depth l
    select series_id, wk, greatest(len_short + long_only_index, rank_long) as depth
    from long_only
    where long_only_index <= len_long - len_short
),

unseen_sums as (
    -- float sums as exact fixed-point integers (x * 2^100, exact for these magnitudes): the
    -- same bits whatever order the rows arrive in, so an incremental build equals a full one
    select
        m.series_id,
        m.wk,
        count(*) as n_unseen,
        sum((h.h90 * 2.0 ^ 100)::hugeint) / 2.0 ^ 100 as h90_unseen,
        sum((h.h98 * 2.0 ^ 100)::hugeint) / 2.0 ^ 100 as h98_unseen
    from unseen_matches as m
    join harmonic as h on h.n = m.depth - 1
    group by m.series_id, m.wk
),

overlap_sums as (
    select
        series_id, wk,
        sum((h90 * 2.0 ^ 100)::hugeint) / 2.0 ^ 100 as h90_overlap,  -- exact, as in unseen_sums
        sum((h98 * 2.0 ^ 100)::hugeint) / 2.0 ^ 100 as h98_overlap,
        -- survivors' current ranks in last week's order: re-ranked Spearman and inversions
        list(rank_cur order by rank_prev) as cur_ranks_in_prev_order
    from overlap_items
    group by series_id, wk
),

survivor_inversions as (
    -- discordant survivor pairs: ahead last week, behind this week (≤ N²/2 pairs per week)
    select a.series_id, a.wk, count(*) as discordant_int
    from overlap_items as a
    join overlap_items as b
        on a.series_id = b.series_id and a.wk = b.wk
       and a.rank_prev < b.rank_prev and a.rank_cur > b.rank_cur
    group by a.series_id, a.wk
),

set_stats as (
    select
        series_id, wk,
        any_value(len_prev) as len_prev,
        any_value(len_cur) as len_cur,
        any_value(len_short) as len_short,
        any_value(len_long) as len_long,
        count(*) as n_union,
        count(*) filter (where in_both) as n_common,
        count(*) filter (where rank_prev is null) as n_entries,
        count(*) filter (where rank_cur is null) as n_exits,
        coalesce(list(entity_id order by entity_id) filter (where rank_prev is null), []) as entries,
        coalesce(list(entity_id order by entity_id) filter (where rank_cur is null), []) as exits,
        sum(abs(pos_prev - pos_cur)) as footrule_union,
        avg(abs(rank_prev - rank_cur)) filter (where in_both) as mean_abs_disp_int,
        -- pieces of Σ x·y over the union for Spearman with average ranks
        coalesce(sum(rank_prev * rank_cur) filter (where in_both), 0) as sum_both,
        coalesce(sum(rank_prev) filter (where rank_cur is null), 0) as sum_exit_ranks,
        coalesce(sum(rank_cur) filter (where rank_prev is null), 0) as sum_entry_ranks,
        -- X_s: overlap at the shorter list's depth (WMZ eq. 32)
        count(*) filter (where in_both and greatest(rank_prev, rank_cur) <= len_short) as overlap_short
    from union_items
    group by series_id, wk
),

churn as (
    select
        s.*,
        o.h90_overlap, o.h98_overlap, o.cur_ranks_in_prev_order,
        coalesce(un.n_unseen, 0) as n_unseen,
        coalesce(un.h90_unseen, 0) as h90_unseen,
        coalesce(un.h98_unseen, 0) as h98_unseen,
        -- discordant pairs (an absent entity ranks behind every listed one), the survivor pairs
        -- aside, without a pair join: an exit at prev rank r_j (j-th exit) is ahead of the c − (r_j − j) survivors behind it,
        -- which stayed listed while it left; entries mirror that; every exit–entry pair flips
        s.n_exits * s.n_common - s.sum_exit_ranks + s.n_exits * (s.n_exits + 1) // 2
            + s.n_entries * s.n_common - s.sum_entry_ranks + s.n_entries * (s.n_entries + 1) // 2
            + s.n_exits * s.n_entries as discordant_churn,
        coalesce(si.discordant_int, 0) as discordant_int,
        -- pairs tied in prev (both entered) / in cur (both exited); both ties at once cannot happen
        (s.n_union - s.len_prev) * (s.n_union - s.len_prev - 1) // 2 as ties_prev,
        (s.n_union - s.len_cur) * (s.n_union - s.len_cur - 1) // 2 as ties_cur,
        s.n_union * (s.n_union - 1) // 2 as n_pairs,
        s.n_common * (s.n_common - 1) // 2 as n_pairs_int,
        -- average rank of the m absent entities of each list, as scipy.stats.spearmanr gives them
        s.len_prev + (s.n_union - s.len_prev + 1) / 2 as tie_rank_prev,
        s.len_cur + (s.n_union - s.len_cur + 1) / 2 as tie_rank_cur,
        s.len_short + s.len_long - s.n_common as f_max,
        hl.h90 as h90_l, hl.h98 as h98_l,
        hs.h90 as h90_s, hs.h98 as h98_s,
        hf.h90 as h90_f, hf.h98 as h98_f
    from set_stats as s
    left join overlap_sums as o using (series_id, wk)
    left join unseen_sums as un using (series_id, wk)
    left join survivor_inversions as si using (series_id, wk)
    join harmonic as hl on hl.n = s.len_long
    join harmonic as hs on hs.n = s.len_short
    join harmonic as hf on hf.n = s.len_short + s.len_long - s.n_common
),

rbo_inputs as (
    -- one row per (comparison, p); G(n) = Σ_{d=1..n} p^d = p (1 − p^n) / (1 − p)
    select
        c.series_id, c.wk, p.p,
        c.n_common as x_l,
        c.overlap_short as x_s,
        c.len_short as s,
        c.len_long as l,
        c.f_max as f,
        c.n_unseen,
        case when p.p = 0.9 then c.h90_overlap else c.h98_overlap end as h_overlap,
        case when p.p = 0.9 then c.h90_unseen else c.h98_unseen end as h_unseen,
        case when p.p = 0.9 then c.h90_l else c.h98_l end as h_l,
        case when p.p = 0.9 then c.h90_s else c.h98_s end as h_s,
        case when p.p = 0.9 then c.h90_f else c.h98_f end as h_f,
        p.p * (1 - p.p ^ c.len_long) / (1 - p.p) as g_l,
        p.p * (1 - p.p ^ c.len_short) / (1 - p.p) as g_s,
        p.p * (1 - p.p ^ c.f_max) / (1 - p.p) as g_f
    from churn as c
    cross join (values (0.9::double), (0.98::double)) as p(p)
),

rbo as (
    select
        series_id, wk, p,
        -- WMZ eq. 11: no overlap beyond the lists
        (1 - p) / p * (x_l * ln(1 / (1 - p)) - coalesce(h_overlap, 0)) as rbo_min,
        -- best case: the shorter list's unseen items match first, then all unseen items pairwise
        (1 - p) / p * ((x_l + n_unseen) * h_l - coalesce(h_overlap, 0) - h_unseen
                       + 2 * (g_f - g_l) - (l + s - x_l) * (h_f - h_l) + p ^ (f + 1) / (1 - p)) as rbo_max,
        -- WMZ eq. 32: the shorter list's agreement X_s / s extrapolated to depth l and beyond
        (1 - p) / p * (x_l * h_l - coalesce(h_overlap, 0) + x_s / s * (g_l - g_s - s * (h_l - h_s)))
            + ((x_l - x_s) / l + x_s / s) * p ^ l as rbo_ext
    from rbo_inputs
),

rbo_wide as (
    select
        series_id, wk,
        any_value(rbo_min) filter (where p = 0.9) as rbo_min_p90,
        any_value(rbo_max) filter (where p = 0.9) as rbo_max_p90,
        any_value(rbo_ext) filter (where p = 0.9) as rbo_ext_p90,
        any_value(rbo_min) filter (where p = 0.98) as rbo_min_p98,
        any_value(rbo_max) filter (where p = 0.98) as rbo_max_p98,
        any_value(rbo_ext) filter (where p = 0.98) as rbo_ext_p98
    from rbo
    group by series_id, wk
),

pair_counts as (
    select *, discordant_int + discordant_churn as discordant
    from churn
),

measures as (
    select
        series_id, wk, entries, exits, n_entries, n_exits,
        -- divided by last week's list length (= N for a full list), so turnover + retention = 1
        n_exits / len_prev as turnover_rate,
        n_common / len_prev as retention_rate,
        n_common / n_union as jaccard,
        mean_abs_disp_int,
        footrule_union,
        footrule_union / n_union as mean_abs_disp_union,
        -- divided by the footrule of two disjoint lists (N(N+1) for full lists)
        footrule_union / (len_prev * (len_long + 1) - len_prev * (len_prev + 1) / 2
                          + len_cur * (len_long + 1) - len_cur * (len_cur + 1) / 2) as footrule_union_norm,
        -- survivors re-ranked 1..n: Σd² = Σ_j (argsort_j − j)² of their current ranks in last week's order
        case when n_common >= 2 then 1 - 6 * list_sum(list_transform(
                list_grade_up(cur_ranks_in_prev_order), lambda g, j: (g - j) * (g - j)))
                / (n_common * (n_common * n_common - 1)) end as spearman_int,
        case when n_common >= 2
             then (n_pairs_int - 2 * discordant_int) / n_pairs_int end as kendall_taub_int,
        -- Pearson of average ranks; both have mean (u + 1) / 2 and exact sums of squares
        case when n_union >= 2 then
            (sum_both + tie_rank_cur * sum_exit_ranks + tie_rank_prev * sum_entry_ranks
             - n_union * ((n_union + 1) / 2) ^ 2)
            / sqrt((len_prev * (len_prev + 1) * (2 * len_prev + 1) / 6
                    + (n_union - len_prev) * tie_rank_prev ^ 2 - n_union * ((n_union + 1) / 2) ^ 2)
                   * (len_cur * (len_cur + 1) * (2 * len_cur + 1) / 6
                    + (n_union - len_cur) * tie_rank_cur ^ 2 - n_union * ((n_union + 1) / 2) ^ 2))
        end as spearman_union,
        case when n_union >= 2
             then (n_pairs - ties_prev - ties_cur - 2 * discordant)
                  / sqrt((n_pairs - ties_cur) * (n_pairs - ties_prev)) end as kendall_taub_union,
        -- Fagin K^(p), p = 1/2: discordant pairs count 1, pairs seen in only one list count p
        discordant + (ties_prev + ties_cur) / 2 as fagin_K,
        (discordant + (ties_prev + ties_cur) / 2)
            / (len_prev * len_cur + (len_prev * (len_prev - 1) + len_cur * (len_cur - 1)) / 4)
            as fagin_K_norm
    from pair_counts
),

final as (
    select
        l.week_start,
        cast(l.wk as integer) as wk,
        l.level,
        cast(l.top_n as integer) as top_n,
        cast(l.list_length as integer) as list_length,
        l.ranked_list,
        ls.leader,
        ls.leader_changed,
        cast(ls.leader_tenure_weeks as integer) as leader_tenure_weeks,
        cast(ls.leader_changes_52w as integer) as leader_changes_52w,
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
    from with_prev as l
    join leader_stats as ls using (level, wk)
    left join measures as m using (series_id, wk)
    left join rbo_wide as r using (series_id, wk)
    where l.week_start >= coalesce(getvariable('since_week'), date '1900-01-01')
)

select * from final
