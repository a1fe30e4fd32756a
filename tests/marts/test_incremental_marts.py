"""The weekly run rebuilds only what core's changes reach, and the result is the warehouse a full
rebuild gives, bit for bit (`tokentide rebuild` compares table checksums)."""

import datetime as dt
import json

import duckdb
import pytest

from assets.core import build_core
from assets.marts import MARTS, is_incremental, refresh_marts, stale_predicate
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
    return conn, first, built, since, rewritten


def test_first_build_is_full_and_covers_every_mart(weekly_run):
    _, first, _, _, _ = weekly_run
    assert set(first) == set(MARTS)


@pytest.mark.parametrize("name", MARTS)
def test_incremental_build_equals_full_rebuild(weekly_run, name):
    conn, _, built, _, _ = weekly_run
    assert name in built, f"mart.{name} was not refreshed although core changed"
    extra, missing, sample = differences(conn, name)
    assert (extra, missing) == (0, 0), (
        f"mart.{name}: the incremental build has {extra} rows the full build lacks and lacks {missing}; "
        f"e.g. {sample}")


@pytest.mark.parametrize("name", [n for n in MARTS if is_incremental(n)])
def test_incremental_marts_leave_older_rows_untouched(weekly_run, name):
    """Rows before the stale weeks are the very rows of the earlier build (same rowid, same
    values): the run did not recompute them."""
    conn, _, _, since, rewritten = weekly_run
    kept = conn.execute(f"select count(*) from kept_{name}").fetchall()[0][0]
    assert kept, f"mart.{name} has no rows before {since}: the test proves nothing"
    assert rewritten[name] == 0, f"mart.{name}: {rewritten[name]} of {kept} older rows were rewritten"


def test_a_rerun_that_changes_nothing_rebuilds_no_mart(weekly_run):
    conn, _, _, _, _ = weekly_run
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
