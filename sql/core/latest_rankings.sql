-- The version of every ranking bucket that core shows: the latest meta.as_of
-- (then the latest pull) per (period, segment, bucket). Days covered come from
-- the meta window the pull applied, so a week pulled mid-week counts as partial.
-- Only buckets from the Monday `core_since` on (every bucket on a full rebuild): a
-- core week depends on the buckets of that week alone.
with versions as (
    select distinct
        r.period, r.segment_type, r.segment, r.bucket_date, r.pull_id, r.as_of,
        p.pulled_at, p.meta_start_date, p.meta_end_date
    from raw.rankings as r
    join raw.pulls as p using (pull_id)
    where r.bucket_date >= getvariable('core_since')
),

latest as (
    select *
    from versions
    qualify row_number() over (
        partition by period, segment_type, segment, bucket_date
        order by as_of desc, pulled_at desc, pull_id desc
    ) = 1
),

final as (
    select
        r.period,
        r.segment_type,
        r.segment,
        r.bucket_date,
        r.model_permaslug,
        r.tokens,
        r.model_permaslug = 'other' as is_other,
        r.as_of,
        r.pull_id,
        raw.days_covered(r.period, r.bucket_date, l.meta_start_date, l.meta_end_date) as days_covered
    from raw.rankings as r
    join latest as l using (period, segment_type, segment, bucket_date, pull_id)
    where r.bucket_date >= getvariable('core_since')
)

select * from final
