"""The weekly run rebuilds only what core's changes reach, and the result is the warehouse a full
rebuild gives, bit for bit (`tokentide rebuild` compares table checksums)."""

import datetime as dt
import json

import duckdb
import pytest

from assets import marts
from assets.core import build_core
from assets.marts import MARTS, _since_by_mart, is_incremental, reads, refresh_marts, stale_predicate
from assets.raw_store import RawStore
from assets.schema import ensure_schema
from assets.source.simulator import MarketConfig, SimulatedMarket
from assets.warehouse import WRITER_CONFIG
from tests.simulated import pull

START = dt.date(2025, 1, 6)
LAST = dt.date(2025, 9, 22)  # the simulated market's last closed week: 38 weeks, longer than 16-row frames


@pytest.fixture(scope="module")
def market():
    return SimulatedMarket(MarketConfig(start=dt.date(2025, 1, 1), today=dt.date(2025, 9, 30)))


def differences(conn, name):
    """Rows of mart.<name> and of the saved incremental copy that the other lacks (bitwise)."""
    extra = conn.execute(f"select count(*) from (from inc_{name} except all from mart.{name})").fetchall()[0][0]
    missing = conn.execute(f"select count(*) from (from mart.{name} except all from inc_{name})").fetchall()[0][0]
    sample = conn.execute(f"from (from inc_{name} except all from mart.{name}) limit 1").fetchall()
    return extra, missing, sample


@pytest.fixture(scope="module")
def weekly_run(tmp_path_factory, market):
    """A warehouse built up to 4 weeks ago, then a run that adds 3 weeks while restating older
    ones; its incrementally built marts are saved as inc_<mart>, then every mart is rebuilt in full."""
    tmp = tmp_path_factory.mktemp("incremental")
    conn = duckdb.connect(str(tmp / "w.duckdb"), config=WRITER_CONFIG)  # as every writer: threads=1
    ensure_schema(conn)
    store = RawStore(tmp / "raw")
    pull(conn, market, store, START, LAST - dt.timedelta(weeks=3))
    build_core(conn)
    first = refresh_marts(conn)
    summary = pull(conn, market, store, LAST - dt.timedelta(weeks=3), LAST, revision=1)
    assert summary.restated_weeks, "the revision should restate some already-landed week"
    build_core(conn, since_week=LAST - dt.timedelta(weeks=3))
    pending = json.loads(conn.execute(
        "select value from raw.warehouse_info where key = 'marts_pending'").fetchall()[0][0])
    since = dt.date.fromisoformat(pending["since"])
    plan = _since_by_mart(pending, MARTS)
    conn.execute("set variable since_week = ?::date", [since])
    for name in filter(is_incremental, MARTS):  # the rows an incremental build must leave alone
        conn.execute(f"create temp table kept_{name} as select rowid as rid, * from mart.{name} "
                     f"where not ({stale_predicate(name)})")
    built = {}
    refresh_marts(conn, on_built=lambda name, rows, seconds: built.__setitem__(name, rows))
    rewritten = {name: conn.execute(f"select count(*) from (from kept_{name} except all "
                                    f"select rowid, * from mart.{name})").fetchall()[0][0]
                 for name in filter(is_incremental, MARTS)}
    for name in MARTS:
        conn.execute(f"create temp table inc_{name} as from mart.{name}")
    refresh_marts(conn, full=True)
    return conn, first, built, since, rewritten, plan


def test_first_build_is_full_and_covers_every_mart(weekly_run):
    _, first, *_ = weekly_run
    assert set(first) == set(MARTS)


@pytest.mark.parametrize("name", MARTS)
def test_incremental_build_equals_full_rebuild(weekly_run, name):
    conn, _, built, *_ = weekly_run
    assert name in built, f"mart.{name} was not refreshed although core changed"
    extra, missing, sample = differences(conn, name)
    assert (extra, missing) == (0, 0), (
        f"mart.{name}: the incremental build has {extra} rows the full build lacks and lacks {missing}; "
        f"e.g. {sample}")


@pytest.mark.parametrize("name", [n for n in MARTS if is_incremental(n)])
def test_incremental_marts_leave_older_rows_untouched(weekly_run, name):
    """Rows before the stale weeks are the very rows of the earlier build (same rowid, same
    values): the run did not recompute them."""
    conn, _, _, since, rewritten, _ = weekly_run
    kept = conn.execute(f"select count(*) from kept_{name}").fetchall()[0][0]
    assert kept, f"mart.{name} has no rows before {since}: the test proves nothing"
    assert rewritten[name] == 0, f"mart.{name}: {rewritten[name]} of {kept} older rows were rewritten"


def test_marts_reading_model_dim_are_rebuilt_only_from_the_weeks_it_changed(weekly_run):
    """The run moves model_dim's last_seen_week and weeks_listed: succession, its only reader, is
    rebuilt from since (core records how far back model_dim's changes reach), not in full."""
    _, _, _, since, _, plan = weekly_run
    readers = [name for name in MARTS if "model_dim" in reads(name, "core")]
    assert readers == ["succession"], f"{readers} read model_dim: check that its reach holds for them (assets.core)"
    assert plan["succession"] == since


def test_the_run_reaches_succession_rows_that_compare_with_weeks_before_since(weekly_run):
    """Rows of the 4 weeks from since compare with weeks before since: the look-back is exercised."""
    conn, _, _, since, _, _ = weekly_run
    rows = conn.execute("select count(*) from mart.succession where week_start >= ? and week_start < ?",
                        [since, since + dt.timedelta(weeks=4)]).fetchall()[0][0]
    assert rows, "no succession row compares with a week before since: the fixture proves nothing"


def test_model_dim_reach_decides_how_marts_reading_it_are_rebuilt(monkeypatch):
    week = "2025-09-01"
    tables = ["model_dim", "model_week", "market_week"]
    d = dt.date.fromisoformat(week)
    assert _since_by_mart({"since": week, "tables": tables, "reach": {"model_dim": week}}, MARTS)["succession"] == d
    assert _since_by_mart({"since": week, "tables": tables, "reach": {"model_dim": None}}, MARTS)["succession"] is None
    # an older warehouse's record (no reach): model_dim's change reaches any week
    assert _since_by_mart({"since": week, "tables": tables}, MARTS)["succession"] is None
    assert _since_by_mart({"since": week, "tables": tables}, MARTS)["entity_week"] == d
    # a mart reading the columns that count later weeks is rebuilt in full whatever the reach
    query = marts.mart_query
    monkeypatch.setattr(marts, "mart_query", lambda name: query(name).replace(
        "min(first_seen_week) as first_seen_week", "min(first_seen_week) filter (weeks_listed > 1) as first_seen_week")
        if name == "succession" else query(name))
    assert "weeks_listed" in marts.mart_query("succession")
    assert _since_by_mart({"since": week, "tables": tables, "reach": {"model_dim": week}}, MARTS)["succession"] is None


def test_a_rerun_that_changes_nothing_rebuilds_no_mart(weekly_run):
    conn, *_ = weekly_run
    build_core(conn, since_week=LAST - dt.timedelta(weeks=3))  # the same raw again: core unchanged
    assert refresh_marts(conn) == {}


@pytest.fixture(scope="module")
def shuffled(tmp_path_factory, market):
    """Marts built twice from the same core: once as landed, once with every core table's rows
    stored in a scrambled order (an incremental run appends the weeks it rewrites, so physical
    order differs from a rebuild's)."""
    tmp = tmp_path_factory.mktemp("shuffled")
    conn = duckdb.connect(str(tmp / "w.duckdb"), config=WRITER_CONFIG)
    ensure_schema(conn)
    pull(conn, market, RawStore(tmp / "raw"), START, LAST)
    build_core(conn)
    refresh_marts(conn, full=True)
    for name in MARTS:
        conn.execute(f"create temp table inc_{name} as from mart.{name}")
    for (table,) in conn.execute("select table_name from duckdb_tables() where schema_name = 'core'").fetchall():
        conn.execute(f"create or replace table core.{table} as from core.{table} order by hash(rowid * 7919)")
    refresh_marts(conn, full=True)
    return conn


@pytest.mark.parametrize("name", MARTS)
def test_marts_do_not_depend_on_the_order_rows_are_stored_in(shuffled, name):
    extra, missing, sample = differences(shuffled, name)
    assert (extra, missing) == (0, 0), (
        f"mart.{name} changed when core's rows were stored in another order ({extra} rows differ; "
        f"e.g. {sample}): a float aggregate adds in storage order; order it or sum integers")


def test_marts_that_read_each_other_fail_loudly_instead_of_waiting_forever():
    from assets.marts import _run_in_order

    with pytest.raises(ValueError, match=r"wait for each other: .*a reads \['b'\]"):
        list(_run_in_order(["a", "b"], {"a": {"b"}, "b": {"a"}}, lambda name: 0, workers=2))
