"""Land validated pulls into the raw layer, bitemporally.

A bucket (period, segment, bucket_date) gets a new version only when a pull
restates it: different rows or tokens, or a different number of days covered.
Re-pulling unchanged data therefore adds nothing, and a restatement adds
exactly one version while the earlier one stays in `raw.rankings`.
"""

import datetime as dt
import json
from dataclasses import dataclass, field

import duckdb
import polars as pl

from assets.parse import RankingsPull
from assets.raw_store import StoredPull


@dataclass
class LandResult:
    """What one pull changed."""

    pull_id: str
    landed: bool  # False when this exact body had landed before
    new_buckets: list[str] = field(default_factory=list)
    restated_buckets: list[str] = field(default_factory=list)


def _record_pull(conn, stored: StoredPull, *, period, segment_type, segment, as_of, meta_start, meta_end,
                 row_count, versions_added) -> None:
    p = stored.params
    conn.execute(
        "insert into raw.pulls values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [stored.sha256, stored.endpoint, json.dumps(p, sort_keys=True), period, segment_type, segment,
         p.get("start_date"), p.get("end_date"), stored.status, as_of, meta_start, meta_end,
         stored.fetched_at_dt, stored.sha256, stored.path, stored.byte_count, row_count, versions_added],
    )


def already_landed(conn: duckdb.DuckDBPyConnection, pull_id: str) -> bool:
    return bool(conn.execute("select count(*) from raw.pulls where pull_id = ?", [pull_id]).fetchall()[0][0])


def land_rankings(conn: duckdb.DuckDBPyConnection, pull: RankingsPull) -> LandResult:
    """Insert the buckets of `pull` that restate (or first state) a bucket; record the pull."""
    pull_id = pull.stored.sha256
    if already_landed(conn, pull_id):
        return LandResult(pull_id, landed=False)
    conn.register("incoming", pull.rows)
    try:
        changed = conn.execute(
            """
            with incoming_sig as (
                select bucket_date,
                       -- a partial week (fewer days covered) is a different fact from the full week
                       md5(string_agg(model_permaslug || '=' || tokens, ',' order by model_permaslug)
                           || '|' || raw.days_covered(?, bucket_date, ?::date, ?::date)) as sig
                from incoming group by bucket_date
            ),
            versions as (
                select r.bucket_date, r.pull_id, any_value(r.as_of) as as_of, any_value(p.pulled_at) as pulled_at,
                       md5(string_agg(r.model_permaslug || '=' || r.tokens, ',' order by r.model_permaslug)
                           || '|' || raw.days_covered(r.period, r.bucket_date, any_value(p.meta_start_date),
                                                      any_value(p.meta_end_date))) as sig
                from raw.rankings r join raw.pulls p using (pull_id)
                where r.period = ? and r.segment_type = ? and r.segment = ?
                  and r.bucket_date in (select bucket_date from incoming_sig)
                group by r.bucket_date, r.pull_id, r.period
            ),
            current as (
                select * from versions
                qualify row_number() over (partition by bucket_date order by as_of desc, pulled_at desc, pull_id desc) = 1
            )
            select i.bucket_date, c.sig is not null as had_version
            from incoming_sig i left join current c using (bucket_date)
            where c.sig is distinct from i.sig
            order by i.bucket_date
            """,
            [pull.period, pull.meta_start_date, pull.meta_end_date, pull.period, pull.segment_type, pull.segment],
        ).fetchall()
        changed_dates = [d for d, _ in changed]
        if changed_dates:
            conn.execute(
                """insert into raw.rankings
                   select ?, ?, ?, ?, bucket_date, model_permaslug, tokens, position, ?
                   from incoming where list_contains(?::date[], bucket_date)""",
                [pull_id, pull.period, pull.segment_type, pull.segment, pull.as_of, changed_dates],
            )
    finally:
        conn.unregister("incoming")
    _record_pull(conn, pull.stored, period=pull.period, segment_type=pull.segment_type, segment=pull.segment,
                 as_of=pull.as_of, meta_start=pull.meta_start_date, meta_end=pull.meta_end_date,
                 row_count=pull.rows.height, versions_added=len(changed_dates))
    return LandResult(
        pull_id, landed=True,
        new_buckets=[str(d) for d, had in changed if not had],
        restated_buckets=[str(d) for d, had in changed if had],
    )


TRACKED = ("model_permaslug", "canonical_slug", "name", "variant", "created_at", "context_length",
           "prompt_usd_per_token", "completion_usd_per_token")


def land_catalogue(conn: duckdb.DuckDBPyConnection, stored: StoredPull, models: pl.DataFrame) -> LandResult:
    """Apply a catalogue snapshot to `core.models` as SCD type 2 (close changed/removed, open new)."""
    if already_landed(conn, stored.sha256):
        return LandResult(stored.sha256, landed=False)
    valid_from = stored.fetched_at_dt
    conn.register("snapshot", models)
    try:
        conn.execute(
            f"""create or replace temp table snapshot_hashed as
                select *, split_part(model_permaslug, '/', 1) as author,
                       md5(concat_ws('|', {', '.join(f"coalesce({c}::varchar, '')" for c in TRACKED)})) as record_hash
                from snapshot"""
        )
        closed = conn.execute(
            """update core.models m set valid_to = ?
               where valid_to is null and valid_from < ? and not exists (
                   select 1 from snapshot_hashed s where s.model_id = m.model_id and s.record_hash = m.record_hash)
               returning model_id""",
            [valid_from, valid_from],
        ).fetchall()
        opened = conn.execute(
            """insert into core.models
               select s.model_permaslug, s.model_id, s.canonical_slug, s.name, s.author, s.variant, s.created_at,
                      s.context_length, try_cast(s.prompt_usd_per_token as decimal(24, 12)),
                      try_cast(s.completion_usd_per_token as decimal(24, 12)), s.record_hash, ?, null, ?
               from snapshot_hashed s
               where not exists (select 1 from core.models m
                                 where m.model_id = s.model_id and m.valid_to is null)
               returning model_id""",
            [valid_from, stored.sha256],
        ).fetchall()
        conn.execute("drop table snapshot_hashed")
    finally:
        conn.unregister("snapshot")
    _record_pull(conn, stored, period=None, segment_type="catalogue", segment="", as_of=valid_from,
                 meta_start=None, meta_end=None, row_count=models.height, versions_added=len(opened))
    return LandResult(stored.sha256, landed=True, new_buckets=[m for (m,) in opened],
                      restated_buckets=[m for (m,) in closed])
