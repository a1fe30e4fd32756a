"""Land validated pulls into the raw layer, bitemporally.

A bucket (period, segment, bucket_date) gets a new version only when a pull
restates it: different rows or tokens, or a different number of days covered.
Re-pulling unchanged data therefore adds nothing, and a restatement adds
exactly one version while the earlier one stays in `raw.rankings`.
"""

import contextlib
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


def _pull_row(stored: StoredPull, *, period, segment_type, segment, as_of, meta_start, meta_end,
              row_count, versions_added) -> list:
    p = stored.params
    return [stored.sha256, stored.endpoint, json.dumps(p, sort_keys=True), period, segment_type, segment,
            p.get("start_date"), p.get("end_date"), stored.status, as_of, meta_start, meta_end,
            stored.fetched_at_dt, stored.sha256, stored.path, stored.byte_count, row_count, versions_added]


_INSERT_PULL = "insert into raw.pulls values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _record_pull(conn, stored: StoredPull, **fields) -> None:
    conn.execute(_INSERT_PULL, _pull_row(stored, **fields))


def already_landed(conn: duckdb.DuckDBPyConnection, pull_id: str) -> bool:
    return bool(conn.execute("select count(*) from raw.pulls where pull_id = ?", [pull_id]).fetchall()[0][0])


# Rows compared in one wave: the comparison sorts and hashes a wave's rows, and the writer's
# memory_limit (750 MB) must hold them; 10 years of 500-deep lists with segments are ~6 M rows.
WAVE_ROWS = 500_000


def land_pulls(conn: duckdb.DuckDBPyConnection, parsed: list) -> list[LandResult]:
    """Land validated pulls ((stored, RankingsPull or catalogue frame), in order) as landing them one
    by one would, with a few set-based statements for all the rankings pulls instead of ~5 per pull.

    A pull's buckets are compared with the versions landed before it, so the pulls go in waves in
    which no bucket (period, segment, bucket_date) and no pull id repeats: within a wave no pull can
    see another's rows, and a wave sees every wave before it. A run's pulls are one wave; `rebuild`
    replaying runs that re-pulled the same weeks starts a new wave at each repeat. A wave holds at
    most WAVE_ROWS rows (or one pull), so a backfill of deep history lands in bounded memory."""
    results: list[LandResult] = []
    wave: list[RankingsPull] = []
    seen: set = set()
    rows = 0

    def flush() -> None:
        nonlocal rows
        results.extend(_land_rankings_wave(conn, wave))
        wave.clear()
        seen.clear()
        rows = 0

    for stored, item in parsed:
        if stored.endpoint == "models":
            flush()
            results.append(land_catalogue(conn, stored, item))
            continue
        keys = {(item.period, item.segment_type, item.segment, day) for day in item.rows["bucket_date"].unique()}
        keys.add(stored.sha256)
        if not seen.isdisjoint(keys) or (wave and rows + item.rows.height > WAVE_ROWS):
            flush()
        wave.append(item)
        seen |= keys
        rows += item.rows.height
    flush()
    return results


def _land_rankings_wave(conn: duckdb.DuckDBPyConnection, pulls: list[RankingsPull]) -> list[LandResult]:
    """Land rankings pulls none of which shares a bucket or a pull id with another (see land_pulls)."""
    if not pulls:
        return []
    ids = [p.stored.sha256 for p in pulls]
    landed_before = {pull_id for (pull_id,) in conn.execute(
        "select pull_id from raw.pulls where list_contains(?::varchar[], pull_id)", [ids]).fetchall()}
    todo = [(seq, p) for seq, p in enumerate(pulls) if p.stored.sha256 not in landed_before]
    changed: list[tuple[int, dt.date, bool]] = []
    if todo:
        incoming = pl.concat([p.rows.select("bucket_date", "model_permaslug", "tokens", "position",
                                            pl.lit(seq, pl.Int32).alias("seq")) for seq, p in todo]
                             ).with_row_index("idx")
        incoming_pulls = pl.DataFrame(
            [(seq, p.stored.sha256, p.period, p.segment_type, p.segment, p.meta_start_date, p.meta_end_date,
              p.as_of.astimezone(dt.UTC)) for seq, p in todo],
            schema={"seq": pl.Int32, "pull_id": pl.String, "period": pl.String, "segment_type": pl.String,
                    "segment": pl.String, "meta_start_date": pl.Date, "meta_end_date": pl.Date,
                    "as_of": pl.Datetime("us", "UTC")}, orient="row")
        conn.register("incoming", incoming)
        conn.register("incoming_pulls", incoming_pulls)
        try:
            changed = conn.execute(
                """
                with incoming_sig as (
                    select i.seq, p.period, p.segment_type, p.segment, i.bucket_date,
                           -- a partial week (fewer days covered) is a different fact from the full week
                           md5(string_agg(i.model_permaslug || '=' || i.tokens, ',' order by i.model_permaslug)
                               || '|' || raw.days_covered(p.period, i.bucket_date, p.meta_start_date,
                                                          p.meta_end_date)) as sig
                    from incoming i join incoming_pulls p using (seq)
                    group by i.seq, p.period, p.segment_type, p.segment, i.bucket_date, p.meta_start_date,
                             p.meta_end_date
                ),
                touched as (
                    select r.* from raw.rankings r
                    semi join incoming_sig k using (period, segment_type, segment, bucket_date)
                ),
                versions as (
                    select r.period, r.segment_type, r.segment, r.bucket_date, r.pull_id,
                           any_value(r.as_of) as as_of, any_value(q.pulled_at) as pulled_at,
                           md5(string_agg(r.model_permaslug || '=' || r.tokens, ',' order by r.model_permaslug)
                               || '|' || raw.days_covered(r.period, r.bucket_date, any_value(q.meta_start_date),
                                                          any_value(q.meta_end_date))) as sig
                    from touched r join raw.pulls q using (pull_id)
                    group by r.period, r.segment_type, r.segment, r.bucket_date, r.pull_id
                ),
                current as (
                    select * from versions
                    qualify row_number() over (partition by period, segment_type, segment, bucket_date
                                               order by as_of desc, pulled_at desc, pull_id desc) = 1
                )
                select i.seq, i.bucket_date, c.sig is not null as had_version
                from incoming_sig i left join current c using (period, segment_type, segment, bucket_date)
                where c.sig is distinct from i.sig
                order by i.seq, i.bucket_date
                """
            ).fetchall()
            if changed:
                conn.register("changed", pl.DataFrame(
                    [(seq, day) for seq, day, _ in changed], schema={"seq": pl.Int32, "bucket_date": pl.Date},
                    orient="row"))
                try:
                    conn.execute(
                        """insert into raw.rankings
                           select p.pull_id, p.period, p.segment_type, p.segment, i.bucket_date, i.model_permaslug,
                                  i.tokens, i.position, p.as_of
                           from incoming i join incoming_pulls p using (seq)
                           join changed c on c.seq = i.seq and c.bucket_date = i.bucket_date
                           order by i.idx""")
                finally:
                    _unregister(conn, "changed")
        finally:
            _unregister(conn, "incoming", "incoming_pulls")
    by_pull: dict[int, list[tuple[dt.date, bool]]] = {}
    for seq, day, had in changed:
        by_pull.setdefault(seq, []).append((day, had))
    if todo:
        conn.executemany(_INSERT_PULL, [_pull_row(
            p.stored, period=p.period, segment_type=p.segment_type, segment=p.segment, as_of=p.as_of,
            meta_start=p.meta_start_date, meta_end=p.meta_end_date, row_count=p.rows.height,
            versions_added=len(by_pull.get(seq, []))) for seq, p in todo])
    results = []
    for seq, p in enumerate(pulls):
        if p.stored.sha256 in landed_before:
            results.append(LandResult(p.stored.sha256, landed=False))
            continue
        buckets = by_pull.get(seq, [])
        results.append(LandResult(p.stored.sha256, landed=True,
                                  new_buckets=[str(d) for d, had in buckets if not had],
                                  restated_buckets=[str(d) for d, had in buckets if had]))
    return results


def _unregister(conn: duckdb.DuckDBPyConnection, *names: str) -> None:
    # after an error (out of memory, say) DuckDB refuses even this until the rollback; the
    # rollback drops the views anyway, and the error that matters is the one already raised
    with contextlib.suppress(duckdb.TransactionException):
        for name in names:
            conn.unregister(name)


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
        _unregister(conn, "snapshot")
    _record_pull(conn, stored, period=None, segment_type="catalogue", segment="", as_of=valid_from,
                 meta_start=None, meta_end=None, row_count=models.height, versions_added=len(opened))
    return LandResult(stored.sha256, landed=True, new_buckets=[m for (m,) in opened],
                      restated_buckets=[m for (m,) in closed])
