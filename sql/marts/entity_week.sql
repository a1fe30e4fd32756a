-- mart.entity_week: tokens per (complete week, level, entity), the base of every
-- other mart. Levels: model, base_model (variant stripped), author, price_tier.
-- Tokens are summed to the level first; metrics are computed on the sums (§1.7).
-- Incremental: a week's rows need that week and the week before (members_changed),
-- so the input starts one week before since_week and the output at since_week.
-- Members, base models and authors are handled as integer keys in slug order
-- (sorting, grouping and ranking strings costs several times more) and mapped back.
with weeks as (
    select
        week_start,
        date_diff('day', date '2000-01-03', week_start) // 7 as wk,
        total_tokens,
        other_tokens,
        cap_tokens,
        listed_models
    from core.market_week
    where is_complete and week_start >= getvariable('since_week') - 7
),

week_models as (
    select
        w.wk,
        m.model_permaslug,
        m.base_model,
        m.author,
        m.is_free,
        m.tokens,
        m.tokens_upper,
        m.is_complete,
        m.rank  -- core ranks the same way: tokens desc, slug
    from core.model_week as m
    join weeks as w using (week_start)
),

model_keys as (
    -- keys in slug / base / author order, so they sort and break ties like the strings
    select
        model_permaslug,
        base_model,
        author,
        cast(row_number() over (order by model_permaslug) as integer) as model_key,
        cast(dense_rank() over (order by base_model) as integer) as base_key,
        cast(dense_rank() over (order by author) as integer) as author_key,
        -- most base models have one model (no variants): their groups need no aggregation
        count(*) over (partition by base_model) = 1 as is_only_model_of_base
    from (select distinct model_permaslug, base_model, author from week_models)
),

slug_of_key as (
    select list(model_permaslug order by model_key) as slugs
    from model_keys
),

entity_names as (
    select distinct 1 as level_key, 'base_model' as level, base_key as entity_key, base_model as entity_id
    from model_keys
    union all
    select distinct 2, 'author', author_key, author
    from model_keys
    union all
    select * from (values (3, 'price_tier', 0, 'free'), (3, 'price_tier', 1, 'paid'))
),

model_weeks as (
    select
        m.wk,
        k.model_key,
        k.base_key,
        k.author_key,
        k.is_only_model_of_base,
        case when m.is_free then 0 else 1 end as tier_key,
        m.tokens,
        m.tokens_upper,
        m.is_complete,
        m.rank,
        -- one integer per (model, week); the same model's next week is + 1
        cast(k.model_key as bigint) * 65536 + m.wk as model_wk
    from week_models as m
    join model_keys as k using (model_permaslug)
),

listed as (
    -- a model's base model, author and tier follow from its slug (spec §0.2), so a
    -- member listed the week before was in the same groups then; a hash lookup of
    -- the integer key is cheaper than a window sorted by model
    select
        *,
        model_wk - 1 in (select model_wk from model_weeks) as listed_before
    from model_weeks
),

group_members as (
    select wk, 1 as level_key, base_key as entity_key, model_key, tokens, tokens_upper, is_complete, listed_before
    from listed
    where not is_only_model_of_base
    union all
    select wk, 2, author_key, model_key, tokens, tokens_upper, is_complete, listed_before
    from listed
    union all
    select wk, 3, tier_key, model_key, tokens, tokens_upper, is_complete, listed_before
    from listed
),

aggregated as (
    select
        wk,
        level_key,
        entity_key,
        cast(sum(tokens) as bigint) as tokens,
        cast(sum(tokens_upper) as bigint) as tokens_upper,
        count(*) as n_members,
        count(*) filter (where not listed_before) as n_arrived,
        list_sort(list(model_key)) as member_keys,
        bool_and(is_complete) as is_complete
    from group_members
    group by all
    union all
    select
        wk, 1, base_key, tokens, tokens_upper, 1, case when listed_before then 0 else 1 end,
        [model_key], is_complete
    from listed
    where is_only_model_of_base
),

ranked as (
    -- narrow on purpose: a window sorts and copies every column it is given; one
    -- integer per (week, level) partitions cheaper than the two columns
    select wk, level_key, entity_key,
           row_number() over (partition by wk * 4 + level_key order by tokens desc, entity_key) as rank
    from (select wk, level_key, entity_key, tokens from aggregated)
),

groups_keyed as materialized (
    -- materialized: the key-to-slug lookup below must see this as one input, so the
    -- one-row slug list stays a constant instead of being copied into a join's table
    select
        a.wk,
        e.level,
        e.entity_id,
        a.tokens,
        a.tokens_upper,
        r.rank,
        a.n_members,
        a.member_keys,
        -- the same set as the week before: nobody arrived, and as many members as
        -- then (so nobody left)
        case when p.n_members is not null
             then not (a.n_arrived = 0 and p.n_members = a.n_members) end as members_changed,
        a.is_complete
    from aggregated as a
    join ranked as r using (wk, level_key, entity_key)
    join entity_names as e using (level_key, entity_key)
    left join (select wk + 1 as wk, level_key, entity_key, n_members from aggregated) as p
        using (wk, level_key, entity_key)
),

groups as (
    select
        g.wk, g.level, g.entity_id, g.tokens, g.tokens_upper, g.rank, g.n_members,
        list_select(s.slugs, g.member_keys) as members,  -- keys sorted = slugs sorted
        g.members_changed, g.is_complete
    from groups_keyed as g
    cross join slug_of_key as s
),

unioned as (
    -- the slug is joined back by key: copying it through listed costs more
    select
        l.wk, 'model' as level, k.model_permaslug as entity_id, l.tokens, l.tokens_upper, l.rank,
        1 as n_members, [k.model_permaslug] as members,
        case when l.listed_before then false end as members_changed, l.is_complete
    from listed as l
    join model_keys as k using (model_key)
    union all
    select * from groups
),

final as (
    select
        w.week_start,
        w.wk,
        u.level,
        u.entity_id,
        cast(u.tokens as bigint) as tokens,
        cast(u.tokens_upper as bigint) as tokens_upper,
        cast(u.rank as integer) as rank,
        100.0 * u.tokens / w.total_tokens as share_pct,
        cast(u.n_members as integer) as n_members,
        u.members,
        u.members_changed,
        u.is_complete,
        w.total_tokens,
        w.other_tokens,
        w.cap_tokens,
        w.listed_models
    from unioned as u
    join weeks as w using (wk)
    where w.week_start >= getvariable('since_week')
)

select * from final
