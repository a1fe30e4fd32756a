-- mart.entity_week: tokens per (complete week, level, entity), the base of every
-- other mart. Levels: model, base_model (variant stripped), author, price_tier.
-- Tokens are summed to the level first; metrics are computed on the sums (§1.7).
with weeks as (
    select
        week_start,
        date_diff('day', date '2000-01-03', week_start) // 7 as wk,
        total_tokens,
        other_tokens,
        cap_tokens,
        listed_models
    from core.market_week
    where is_complete
),

members as (
    select m.week_start, m.model_permaslug, m.tokens, m.tokens_upper, m.is_complete,
           m.base_model, m.author, m.is_free
    from core.model_week as m
    join weeks using (week_start)
),

levels as (
    select week_start, 'model' as level, model_permaslug as entity_id, model_permaslug as member,
           tokens, tokens_upper, is_complete
    from members
    union all
    select week_start, 'base_model', base_model, model_permaslug, tokens, tokens_upper, is_complete
    from members
    union all
    select week_start, 'author', author, model_permaslug, tokens, tokens_upper, is_complete
    from members
    union all
    select week_start, 'price_tier', case when is_free then 'free' else 'paid' end,
           model_permaslug, tokens, tokens_upper, is_complete
    from members
),

aggregated as (
    select
        week_start,
        level,
        entity_id,
        sum(tokens) as tokens,
        sum(tokens_upper) as tokens_upper,
        count(*) as n_members,
        list(member order by member) as members,
        bool_and(is_complete) as is_complete
    from levels
    group by all
),

final as (
    select
        a.week_start,
        w.wk,
        a.level,
        a.entity_id,
        cast(a.tokens as bigint) as tokens,
        cast(a.tokens_upper as bigint) as tokens_upper,
        cast(row_number() over (
            partition by a.week_start, a.level order by a.tokens desc, a.entity_id
        ) as integer) as rank,
        100.0 * a.tokens / w.total_tokens as share_pct,
        cast(a.n_members as integer) as n_members,
        a.members,
        case when lag(w.wk) over entity = w.wk - 1
             then a.members is distinct from lag(a.members) over entity end as members_changed,
        a.is_complete,
        w.total_tokens,
        w.other_tokens,
        w.cap_tokens,
        w.listed_models
    from aggregated as a
    join weeks as w using (week_start)
    window entity as (partition by a.level, a.entity_id order by w.wk)
)

select * from final
