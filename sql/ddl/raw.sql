-- Raw layer: an append-only record of every pull and every version of every ranking row.
create schema if not exists raw;

create table if not exists raw.pulls (
    pull_id        varchar primary key,
    endpoint       varchar not null,
    params         varchar not null,
    period         varchar,
    segment_type   varchar not null,
    segment        varchar not null,
    start_date     date,
    end_date       date,
    http_status    integer not null,
    as_of          timestamptz,
    meta_start_date date,
    meta_end_date  date,
    pulled_at      timestamptz not null,
    sha256         varchar not null,
    raw_path       varchar not null,
    byte_count     bigint not null,
    row_count      integer not null,
    versions_added integer not null
);
comment on table raw.pulls is 'One row per landed API response (rejected responses land nothing; their bodies stay in data/raw/). Append-only.';
comment on column raw.pulls.pull_id is 'Identifier of the pull: the sha256 of its verbatim response body.';
comment on column raw.pulls.endpoint is 'API path that answered: datasets/rankings-daily or models.';
comment on column raw.pulls.params is 'Query parameters as canonical JSON (never contains the API key).';
comment on column raw.pulls.period is 'period parameter of a rankings pull: week or day (NULL for the catalogue).';
comment on column raw.pulls.segment_type is 'all for the main ranking; category or modality for use-case segments; catalogue for /models.';
comment on column raw.pulls.segment is 'The category or modality value; empty string for the main ranking and the catalogue.';
comment on column raw.pulls.start_date is 'Requested start_date (inclusive, UTC).';
comment on column raw.pulls.end_date is 'Requested end_date (inclusive, UTC).';
comment on column raw.pulls.http_status is 'HTTP status of the response.';
comment on column raw.pulls.as_of is 'meta.as_of: when OpenRouter generated the figures (the version time of every row in the pull).';
comment on column raw.pulls.meta_start_date is 'meta.start_date: the start date OpenRouter applied after clamping.';
comment on column raw.pulls.meta_end_date is 'meta.end_date: the end date OpenRouter applied after clamping.';
comment on column raw.pulls.pulled_at is 'When tokentide received the response (UTC).';
comment on column raw.pulls.sha256 is 'sha256 of the verbatim response body.';
comment on column raw.pulls.raw_path is 'Path of the gzip-compressed verbatim body, relative to the raw directory.';
comment on column raw.pulls.byte_count is 'Size of the uncompressed response body in bytes.';
comment on column raw.pulls.row_count is 'Number of rows in the response data array.';
comment on column raw.pulls.versions_added is 'How many (period, segment, bucket) versions this pull added to raw.rankings (0 when it restated nothing).';

create table if not exists raw.rankings (
    pull_id         varchar not null,
    period          varchar not null,
    segment_type    varchar not null,
    segment         varchar not null,
    bucket_date     date not null,
    model_permaslug varchar not null,
    tokens          bigint not null,
    position        integer not null,
    as_of           timestamptz not null
    -- Unique on (pull_id, period, segment_type, segment, bucket_date, model_permaslug), but not
    -- declared: raw.pulls' key lands a pull once and validation rejects a repeated row within a
    -- pull, while the index would be half the warehouse file (1.1 of 1.9 GiB at W2's 6 M rows)
    -- and was the largest cost of landing and of copying the file each run.
);
comment on table raw.rankings is 'Every version of every ranking row: a bucket is stored again only when a pull restates it with different numbers.';
comment on column raw.rankings.pull_id is 'The pull that introduced this version (raw.pulls.pull_id).';
comment on column raw.rankings.period is 'Bucket length: week (Monday start) or day.';
comment on column raw.rankings.segment_type is 'all, category or modality.';
comment on column raw.rankings.segment is 'Category or modality value; empty string for the main ranking.';
comment on column raw.rankings.bucket_date is 'Bucket start: the Monday for period=week, the UTC day for period=day.';
comment on column raw.rankings.model_permaslug is 'OpenRouter permanent model slug incl. :variant, or other for the long-tail bucket.';
comment on column raw.rankings.tokens is 'total_tokens (prompt + completion), parsed exactly from the decimal string.';
comment on column raw.rankings.position is 'Row position within the bucket in the response (1 = first).';
comment on column raw.rankings.as_of is 'meta.as_of of the pull: the version time of this row.';

create table if not exists raw.warehouse_info (
    key   varchar primary key,
    value varchar not null
);
comment on table raw.warehouse_info is 'Facts about this warehouse file, e.g. origin = live or synthetic (demo data is never mixed with live data).';
comment on column raw.warehouse_info.key is 'Name of the fact.';
comment on column raw.warehouse_info.value is 'Its value.';

-- Days of a bucket inside the window a pull's meta applied: a week pulled mid-week is partial.
-- Shared by landing (is a bucket restated?) and core (is a week complete?).
create or replace macro raw.days_covered(period, bucket_date, meta_start, meta_end) as
    case when period = 'day' then 1
         else greatest(0, date_diff('day', greatest(bucket_date, meta_start),
                                    least(bucket_date + 6, meta_end)) + 1)
    end;
