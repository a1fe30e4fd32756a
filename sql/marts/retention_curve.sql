-- mart.retention_curve: the top-N retention curve and three half-life estimators per
-- (level, N) (spec §2.7, §6.9 fact_retention_curve): R(h), the mean of mart.retention's
-- cohort rows at horizon h, and the half-lives from it, from R(1) and from mart.top_spells.
-- Every new week changes the means, so it is rebuilt in full: a few hundred rows from
-- aggregates of mart.retention and mart.top_spells.
with mean_curve as (
    -- the mean as an exact fixed-point sum (retention * 2^80 is an integer), so it does not
    -- depend on the order rows are stored in (a weekly run appends the rows it recomputes)
    select
        level,
        top_n,
        h_weeks,
        sum((retention * 2.0 ^ 80)::hugeint) / (count(*) * 2.0 ^ 80) as mean_retention,
        count(*) as n_cohorts
    from mart.retention
    group by all
),

curve_summary as (
    select
        level,
        top_n,
        avg(mean_retention) filter (where h_weeks = 1) as mean_weekly_retention,
        min(h_weeks) filter (where mean_retention <= 0.5) as half_life_empirical_weeks
    from mean_curve
    group by all
),

km_steps as (
    -- Kaplan-Meier on spell lengths: spells running at the first week of data (or
    -- after a gap) are dropped (left-truncated, true start unknown); spells still
    -- running at the last week (or before a gap) are right-censored, at risk up to their length
    select
        level,
        top_n,
        length_weeks,
        count(*) filter (where not right_censored) as ended,
        count(*) as spells
    from mart.top_spells
    where not left_censored
    group by all
),

km_survival as (
    select
        level,
        top_n,
        length_weeks,
        product(1 - ended / at_risk) over (partition by level, top_n order by length_weeks) as survival
    from (
        select *, sum(spells) over (partition by level, top_n order by length_weeks desc) as at_risk
        from km_steps
    )
),

km_median as (
    -- the tolerance keeps an exact 0.5 (e.g. 3/4 * 2/3) from missing by rounding
    select level, top_n, min(length_weeks) filter (where survival <= 0.5 + 1e-12) as half_life_km_weeks
    from km_survival
    group by all
),

final as (
    select
        m.level,
        m.top_n,
        m.h_weeks,
        m.mean_retention,
        cast(m.n_cohorts as integer) as n_cohorts,
        s.mean_weekly_retention,
        case when s.mean_weekly_retention > 0 and s.mean_weekly_retention < 1
             then ln(0.5) / ln(s.mean_weekly_retention) end as half_life_geometric_weeks,
        cast(s.half_life_empirical_weeks as integer) as half_life_empirical_weeks,
        cast(k.half_life_km_weeks as integer) as half_life_km_weeks
    from mean_curve as m
    join curve_summary as s using (level, top_n)
    left join km_median as k on k.level = s.level and k.top_n = s.top_n
)

select * from final
