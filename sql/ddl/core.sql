-- Core layer: the current truth, derived from raw by `assets.core.build_core`.
create schema if not exists core;

create table if not exists core.model_week (
    week_start      date not null,
    model_permaslug varchar not null,
    author          varchar not null,
    base_model      varchar not null,
    variant         varchar,
    is_free         boolean not null,
    tokens          bigint not null,
    tokens_upper    bigint not null,
    rank            integer not null,
    share           double not null,
    source          varchar not null,
    as_of           timestamptz not null,
    days_present    integer not null,
    is_complete     boolean not null,
    pull_id         varchar not null,
    primary key (week_start, model_permaslug)
);
comment on table core.model_week is 'One row per (week_start, model) listed in the week''s ranking, latest version; the other bucket is in core.market_week.';
comment on column core.model_week.week_start is 'Monday (UTC) that starts the week.';
comment on column core.model_week.model_permaslug is 'OpenRouter permanent slug incl. :variant (variants rank as separate entries).';
comment on column core.model_week.author is 'Text before the first / of the slug (the vendor, as on the Market Share chart).';
comment on column core.model_week.base_model is 'Slug with the trailing :variant removed.';
comment on column core.model_week.variant is 'The :variant suffix (e.g. free, beta), NULL for the default variant.';
comment on column core.model_week.is_free is 'True for :free variants.';
comment on column core.model_week.tokens is 'Tokens served in the week (exact for source api_week; sum of listed days for api_day).';
comment on column core.model_week.tokens_upper is 'Upper bound of the week''s tokens: equals tokens unless built from days on which the model was not listed (spec §0.6).';
comment on column core.model_week.rank is 'Rank within the week by tokens descending, ties broken by slug (1 = leader).';
comment on column core.model_week.share is 'tokens / the week''s market total (other included), a fraction in [0, 1].';
comment on column core.model_week.source is 'api_week (period=week buckets) or api_day (summed from period=day rows because period=week was refused).';
comment on column core.model_week.as_of is 'meta.as_of of the version shown (OpenRouter generation time).';
comment on column core.model_week.days_present is 'Days of the week covered by the data (7 for a closed week from api_week; days listed for api_day).';
comment on column core.model_week.is_complete is 'True when the value is exact for the full Monday-Sunday week.';
comment on column core.model_week.pull_id is 'raw.pulls.pull_id of the version shown.';

create table if not exists core.market_week (
    week_start     date primary key,
    total_tokens   bigint not null,
    other_tokens   bigint not null,
    named_tokens   bigint not null,
    listed_models  integer not null,
    named_share    double,
    cap_tokens     bigint,
    source         varchar not null,
    as_of          timestamptz not null,
    days_present   integer not null,
    is_complete    boolean not null
);
comment on table core.market_week is 'One row per week: the whole market total (listed models + other), latest version.';
comment on column core.market_week.week_start is 'Monday (UTC) that starts the week.';
comment on column core.market_week.total_tokens is 'All tokens of the week: listed models plus the other bucket.';
comment on column core.market_week.other_tokens is 'Tokens of the other bucket (every model outside the list); 0 when the bucket is absent.';
comment on column core.market_week.named_tokens is 'Tokens of the listed (named) models.';
comment on column core.market_week.listed_models is 'How many named models the week lists (50 today; the depth is data, not a rule).';
comment on column core.market_week.named_share is 'named_tokens / total_tokens: the coverage of the visible list.';
comment on column core.market_week.cap_tokens is 'The cap: tokens of the last listed model (weekly list) or the sum of each day''s last listed model (api_day); no unlisted model exceeds it.';
comment on column core.market_week.source is 'api_week or api_day (see core.model_week.source).';
comment on column core.market_week.as_of is 'meta.as_of of the version shown.';
comment on column core.market_week.days_present is 'Days of the week with data.';
comment on column core.market_week.is_complete is 'True when all 7 days are in the data; derived tables use complete weeks only.';

create table if not exists core.segment_week (
    week_start      date not null,
    segment_type    varchar not null,
    segment         varchar not null,
    model_permaslug varchar not null,
    tokens          bigint not null,
    rank            integer not null,
    share           double not null,
    is_estimate     boolean not null,
    as_of           timestamptz not null
    -- Unique on (week_start, segment_type, segment, model_permaslug): checked by build_core on
    -- the rows it writes rather than declared, because the index on millions of rows is most of
    -- the file's size and of the cost of rewriting it (see raw.rankings).
);
comment on table core.segment_week is 'Weekly ranking within a use-case segment (category or modality), latest version, other excluded.';
comment on column core.segment_week.week_start is 'Monday (UTC) that starts the week.';
comment on column core.segment_week.segment_type is 'category (sampled estimates) or modality (exact).';
comment on column core.segment_week.segment is 'The category or modality value, e.g. programming, tool_calling.';
comment on column core.segment_week.model_permaslug is 'OpenRouter permanent slug incl. :variant.';
comment on column core.segment_week.tokens is 'Tokens of the model in the segment that week.';
comment on column core.segment_week.rank is 'Rank within the segment and week (1 = leader; ties by slug).';
comment on column core.segment_week.share is 'tokens / the segment''s weekly total (other included).';
comment on column core.segment_week.is_estimate is 'True for categories: OpenRouter upsamples a classified sample, so figures are estimates.';
comment on column core.segment_week.as_of is 'meta.as_of of the version shown.';

create table if not exists core.segment_market_week (
    week_start     date not null,
    segment_type   varchar not null,
    segment        varchar not null,
    total_tokens   bigint not null,
    other_tokens   bigint not null,
    listed_models  integer not null,
    cap_tokens     bigint,
    is_estimate    boolean not null,
    is_complete    boolean not null,
    as_of          timestamptz not null,
    primary key (week_start, segment_type, segment)
);
comment on table core.segment_market_week is 'One row per (week, segment): the segment total incl. its other bucket.';
comment on column core.segment_market_week.week_start is 'Monday (UTC) that starts the week.';
comment on column core.segment_market_week.segment_type is 'category or modality.';
comment on column core.segment_market_week.segment is 'The category or modality value.';
comment on column core.segment_market_week.total_tokens is 'All tokens of the segment that week (listed + other).';
comment on column core.segment_market_week.other_tokens is 'Tokens of the segment''s other bucket.';
comment on column core.segment_market_week.listed_models is 'Named models listed in the segment that week.';
comment on column core.segment_market_week.cap_tokens is 'Tokens of the last listed model (no unlisted model exceeds it).';
comment on column core.segment_market_week.is_estimate is 'True for categories (sampled, upsampled estimates).';
comment on column core.segment_market_week.is_complete is 'True when the week had ended by the pull''s meta.end_date.';
comment on column core.segment_market_week.as_of is 'meta.as_of of the version shown.';

create table if not exists core.models (
    model_permaslug varchar not null,
    model_id        varchar not null,
    canonical_slug  varchar not null,
    name            varchar,
    author          varchar not null,
    variant         varchar,
    created_at      timestamptz,
    context_length  bigint,
    prompt_usd_per_token     decimal(24, 12),
    completion_usd_per_token decimal(24, 12),
    record_hash     varchar not null,
    valid_from      timestamptz not null,
    valid_to        timestamptz,
    pull_id         varchar not null,
    primary key (model_id, valid_from)
);
comment on table core.models is 'The /models catalogue as a slowly changing dimension: a new row when a model''s attributes change.';
comment on column core.models.model_permaslug is 'Ranking join key: canonical_slug plus the :variant of the id (what rankings key on).';
comment on column core.models.model_id is 'Catalogue id (e.g. anthropic/claude-sonnet-4.5); differs from the permaslug.';
comment on column core.models.canonical_slug is 'Catalogue canonical_slug (the permaslug without variant).';
comment on column core.models.name is 'Display name.';
comment on column core.models.author is 'Text before the first / of the permaslug.';
comment on column core.models.variant is 'Variant suffix of the id (free, beta, ...), NULL for the default.';
comment on column core.models.created_at is 'Catalogue created timestamp (when the model was added to OpenRouter).';
comment on column core.models.context_length is 'Context window in tokens.';
comment on column core.models.prompt_usd_per_token is 'Listed prompt price in USD per token (-1 marks router models).';
comment on column core.models.completion_usd_per_token is 'Listed completion price in USD per token.';
comment on column core.models.record_hash is 'Hash of the tracked attributes; a change opens a new version.';
comment on column core.models.valid_from is 'as_of (pull time) from which this version holds.';
comment on column core.models.valid_to is 'When a later version replaced it or the model left the catalogue; NULL while current.';
comment on column core.models.pull_id is 'raw.pulls.pull_id of the catalogue pull that opened this version.';

create table if not exists core.model_dim (
    model_permaslug varchar primary key,
    author          varchar not null,
    base_model      varchar not null,
    variant         varchar,
    is_free         boolean not null,
    first_seen_week date,
    last_seen_week  date,
    weeks_listed    integer not null,
    in_catalogue    boolean not null,
    name            varchar,
    created_at      timestamptz
);
comment on table core.model_dim is 'Every model ever ranked (or in the catalogue), with its catalogue attributes when known; ranked models missing from the catalogue are kept.';
comment on column core.model_dim.model_permaslug is 'OpenRouter permanent slug incl. :variant.';
comment on column core.model_dim.author is 'Text before the first /.';
comment on column core.model_dim.base_model is 'Slug without the :variant.';
comment on column core.model_dim.variant is 'The :variant suffix, NULL for the default.';
comment on column core.model_dim.is_free is 'True for :free variants.';
comment on column core.model_dim.first_seen_week is 'First week the model was listed in the main ranking (NULL if never).';
comment on column core.model_dim.last_seen_week is 'Last week the model was listed in the main ranking.';
comment on column core.model_dim.weeks_listed is 'Number of weeks listed in the main ranking.';
comment on column core.model_dim.in_catalogue is 'True when the current /models catalogue has the model (stealth and retired models are not).';
comment on column core.model_dim.name is 'Catalogue display name (current version).';
comment on column core.model_dim.created_at is 'Catalogue created timestamp.';
