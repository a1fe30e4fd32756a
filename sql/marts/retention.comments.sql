comment on table mart.retention is 'How long top-N membership lasts (spec §2.7), per level and N in top_ns: one row per cohort week t and horizon h (0 to 52 weeks) with the share of the week''s top N that is in the top N again at t + h. The mean curve and the half-lives are in mart.retention_curve.';
comment on column mart.retention.level is 'model, base_model, author or price_tier.';
comment on column mart.retention.top_n is 'List depth N (the cohort is the week''s top N).';
comment on column mart.retention.cohort_week is 'Monday of the cohort week t.';
comment on column mart.retention.h_weeks is 'Horizon h in calendar weeks (0 to 52); only horizons whose week has data get a row.';
comment on column mart.retention.week_start is 'Monday of week t + h.';
comment on column mart.retention.cohort_size is 'Entities in the cohort: N, or fewer when the level has fewer entities that week.';
comment on column mart.retention.retained is 'Cohort members that are in the top N again at t + h (whatever happened in between).';
comment on column mart.retention.retention is 'retained / cohort_size.';
