"""Raw keeps every version; core shows the latest; unchanged re-pulls change nothing."""

import datetime as dt

import duckdb
import pytest

from assets import landing
from assets.core import build_core
from assets.ingest import InvariantViolated, assert_invariants, land, validate
from assets.raw_store import RawStore
from assets.schema import ensure_schema
from tests.payloads import WEEK1, WEEK2, body, keep

WINDOW = {"start": "2026-05-04", "end": "2026-05-17"}


def land_bodies(conn, store, *bodies):
    pulls = [keep(store, b, **WINDOW) for b in bodies]
    summary = land(conn, validate(store, pulls))
    build_core(conn)
    assert_invariants(conn)
    return summary


def table(conn, sql):
    return conn.execute(sql).fetchall()


def test_land_then_core_equals_served_numbers(tmp_path):
    conn = duckdb.connect()
    ensure_schema(conn)
    store = RawStore(tmp_path)
    summary = land_bodies(conn, store, body(WEEK1 + WEEK2, **WINDOW))
    assert summary.new_weeks == ["2026-05-04", "2026-05-11"] and summary.restated_weeks == []
    assert table(conn, "select week_start::varchar, model_permaslug, tokens, rank, author, variant, is_free "
                       "from core.model_week order by all") == [
        ("2026-05-04", "acme/alpha-20260101", 300, 1, "acme", None, False),
        ("2026-05-04", "beta/bolt:free", 200, 2, "beta", "free", True),
        ("2026-05-11", "acme/alpha-20260101", 310, 2, "acme", None, False),
        ("2026-05-11", "beta/bolt:free", 330, 1, "beta", "free", True),
    ]
    assert table(conn, "select week_start::varchar, total_tokens, other_tokens, listed_models, is_complete "
                       "from core.market_week order by 1") == [
        ("2026-05-04", 1000, 500, 2, True), ("2026-05-11", 1200, 560, 2, True)]


def test_unchanged_repull_changes_nothing_and_restatement_adds_one_version(tmp_path):
    conn = duckdb.connect()
    ensure_schema(conn)
    store = RawStore(tmp_path)
    land_bodies(conn, store, body(WEEK1 + WEEK2, **WINDOW))
    before = table(conn, "select count(*) from raw.rankings")
    # a later as_of with the same numbers: a new body (new pull) but no new version
    again = land_bodies(conn, store, body(WEEK1 + WEEK2, **WINDOW, as_of="2026-05-20T02:00:00Z"))
    assert again.new_weeks == [] and again.restated_weeks == []
    assert table(conn, "select count(*) from raw.rankings") == before
    # the identical body again: already landed, nothing at all
    same = land_bodies(conn, store, body(WEEK1 + WEEK2, **WINDOW))
    assert same.pulls_unchanged == 1
    # week 2 restated: exactly one more version of that week, core shows it, raw keeps both
    restated = [(d, m, "340" if m == "beta/bolt:free" else t) for d, m, t in WEEK2]
    summary = land_bodies(conn, store, body(WEEK1 + restated, **WINDOW, as_of="2026-05-26T02:00:00Z"))
    assert summary.restated_weeks == ["2026-05-11"]
    assert table(conn, "select count(distinct pull_id) from raw.rankings where bucket_date = '2026-05-11'") == [(2,)]
    assert table(conn, "select tokens, as_of from core.model_week where week_start = '2026-05-11' "
                       "and model_permaslug = 'beta/bolt:free'") == [
        (340, dt.datetime(2026, 5, 26, 2, tzinfo=dt.UTC))]
    assert table(conn, "select total_tokens from core.market_week where week_start = '2026-05-11'") == [(1210,)]


def test_latest_as_of_wins_whatever_the_arrival_order(tmp_path):
    conn = duckdb.connect()
    ensure_schema(conn)
    store = RawStore(tmp_path)
    newer = [(d, m, "999" if m == "acme/alpha-20260101" else t) for d, m, t in WEEK1]
    land_bodies(conn, store, body(newer, start="2026-05-04", end="2026-05-10", as_of="2026-06-01T02:00:00Z"))
    land_bodies(conn, store, body(WEEK1, start="2026-05-04", end="2026-05-10", as_of="2026-05-12T02:00:00Z"))
    assert table(conn, "select tokens from core.model_week where model_permaslug = 'acme/alpha-20260101'") == [(999,)]


def test_week_pulled_mid_week_is_partial_until_restated_complete(tmp_path):
    conn = duckdb.connect()
    ensure_schema(conn)
    store = RawStore(tmp_path)
    partial = [("2026-05-11", "acme/alpha-20260101", "100"), ("2026-05-11", "other", "50")]
    land_bodies(conn, store, body(WEEK1 + partial, start="2026-05-04", end="2026-05-13",
                                  as_of="2026-05-14T02:00:00Z"))
    assert table(conn, "select week_start::varchar, days_present, is_complete from core.market_week order by 1") == [
        ("2026-05-04", 7, True), ("2026-05-11", 3, False)]
    land_bodies(conn, store, body(WEEK1 + WEEK2, **WINDOW))
    assert table(conn, "select days_present, is_complete from core.market_week where week_start = '2026-05-11'") == [
        (7, True)]


def test_core_missing_a_landed_week_is_caught_before_publishing(tmp_path):
    conn = duckdb.connect()
    ensure_schema(conn)
    store = RawStore(tmp_path)
    land_bodies(conn, store, body(WEEK1 + WEEK2, **WINDOW))
    conn.execute("delete from core.market_week where week_start = '2026-05-11'")
    with pytest.raises(InvariantViolated, match="every_landed_week_in_core: 1 week"):
        assert_invariants(conn)
    # a run that rebuilt from that week on checks it; one that rebuilt only later weeks does not
    with pytest.raises(InvariantViolated, match=r"every_landed_week_in_core: 1 week\(s\) in raw from 2026-05-11"):
        assert_invariants(conn, dt.date(2026, 5, 13))
    assert assert_invariants(conn, dt.date(2026, 5, 18))["every_landed_week_in_core"] == (
        True, "every week in raw from 2026-05-18 has a core row")


def test_each_invariant_names_the_weeks_it_checked(tmp_path):
    conn = duckdb.connect()
    ensure_schema(conn)
    land_bodies(conn, RawStore(tmp_path), body(WEEK1 + WEEK2, **WINDOW))
    conn.execute("update core.model_week set rank = rank * 2 where week_start = '2026-05-04'")
    conn.execute("update core.market_week set days_present = 6 where week_start = '2026-05-11'")
    failed = {}
    for since in (None, dt.date(2026, 5, 4), dt.date(2026, 5, 11)):
        try:
            assert_invariants(conn, since)
        except InvariantViolated as exc:
            failed[since] = str(exc)
    assert "ranks_are_dense: 1 week(s) with gaps" in failed[None] and "complete_weeks_have_7_days" in failed[None]
    assert "ranks_are_dense: 1 week(s) from 2026-05-04 with gaps" in failed[dt.date(2026, 5, 4)]
    assert "ranks_are_dense" not in failed[dt.date(2026, 5, 11)]  # that week was not rebuilt by the run
    assert "complete_weeks_have_7_days: 1 week(s) marked complete with < 7 days, first 2026-05-11" \
        in failed[dt.date(2026, 5, 11)]


def test_one_call_lands_like_one_pull_at_a_time(tmp_path, monkeypatch):
    """land() takes a run's pulls set-based; pulls that restate one another's buckets (as `rebuild`
    replays them) must land exactly as when landed one by one, in order, and so must a run whose
    pulls are more rows than one wave holds (a deep backfill)."""
    store = RawStore(tmp_path)
    restated = [(d, m, "340" if m == "beta/bolt:free" else t) for d, m, t in WEEK2]
    partial = [("2026-05-11", "acme/alpha-20260101", "100"), ("2026-05-11", "other", "50")]
    pulls = [
        keep(store, body(WEEK1 + partial, start="2026-05-04", end="2026-05-13", as_of="2026-05-14T02:00:00Z"),
             start="2026-05-04", end="2026-05-17"),
        keep(store, body(WEEK1 + WEEK2, **WINDOW), **WINDOW),  # week 2 complete: a new version
        keep(store, body(WEEK1 + WEEK2, **WINDOW, as_of="2026-05-20T02:00:00Z"), **WINDOW),  # same numbers
        keep(store, body(WEEK1 + WEEK2, **WINDOW), **WINDOW),  # the identical body: already landed
        keep(store, body(WEEK2, start="2026-05-11", end="2026-05-17"), start="2026-05-11", end="2026-05-17",
             period="day"),  # other period: no collision with the weekly buckets
        keep(store, body(WEEK1 + restated, **WINDOW, as_of="2026-05-26T02:00:00Z"), **WINDOW),  # restated
        keep(store, body(WEEK2, start="2026-05-11", end="2026-05-17", as_of="2026-05-18T02:00:00Z"),
             start="2026-05-11", end="2026-05-17", period="week", category="programming"),
    ]
    parsed = validate(store, pulls)
    outcomes = []
    for mode in ("together", "one by one", "waves of 4 rows"):
        conn = duckdb.connect()
        ensure_schema(conn)
        monkeypatch.setattr(landing, "WAVE_ROWS", 4 if mode == "waves of 4 rows" else 500_000)
        if mode != "one by one":
            summaries = [land(conn, parsed)]
        else:
            summaries = [land(conn, [p]) for p in parsed]
        outcomes.append((
            sorted(s for summary in summaries for s in summary.new_weeks),
            sorted(s for summary in summaries for s in summary.restated_weeks),
            sum(s.pulls_landed for s in summaries), sum(s.pulls_unchanged for s in summaries),
            table(conn, "select * from raw.rankings"),  # insertion order too
            table(conn, "select pull_id, row_count, versions_added from raw.pulls order by pull_id"),
        ))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    new_weeks, restated_weeks, landed, unchanged, rankings, _ = outcomes[0]
    assert new_weeks == ["2026-05-04", "2026-05-11"] and restated_weeks == ["2026-05-11", "2026-05-11"]
    assert (landed, unchanged) == (6, 1) and len(rankings) == 5 + 3 + 3 + 3 + 3


def test_a_failed_landing_statement_reports_its_own_error(tmp_path):
    """When DuckDB fails inside landing (here out of memory), that error reaches the user, not the
    'transaction is aborted' the clean-up would otherwise raise on top of it."""
    store = RawStore(tmp_path)
    rows = [("2026-05-04", f"acme/model-{i:05d}", str(1000 + i)) for i in range(20_000)] + [
        ("2026-05-04", "other", "5")]
    parsed = validate(store, [keep(store, body(rows, **WINDOW), **WINDOW)])
    conn = duckdb.connect(config={"memory_limit": "1MB", "threads": 1})
    ensure_schema(conn)
    conn.execute("begin")
    with pytest.raises(duckdb.OutOfMemoryException):
        land(conn, parsed)
