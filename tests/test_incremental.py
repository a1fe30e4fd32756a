"""An incremental core build (the weeks from `since_week` on) leaves core exactly as a full rebuild would,
including weeks that the source restated."""

import datetime as dt
import json

import duckdb
import pytest

from assets.core import CORE_TABLES, _record_changes, build_core
from assets.raw_store import RawStore
from assets.schema import ensure_schema
from assets.source.simulator import MarketConfig, SimulatedMarket
from tests.simulated import pull

START = dt.date(2025, 1, 6)
LAST = dt.date(2025, 3, 17)  # the simulated market's last closed week


@pytest.fixture(scope="module")
def market():
    return SimulatedMarket(MarketConfig(start=dt.date(2025, 1, 1), today=dt.date(2025, 3, 25)))


def core_rows(conn):
    return {t: conn.execute(f"select * from core.{t} order by all").fetchall() for t in CORE_TABLES}


def test_incremental_core_equals_full_rebuild(tmp_path, market):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(conn)
    store = RawStore(tmp_path / "raw")
    pull(conn, market, store, START, LAST - dt.timedelta(weeks=3))
    build_core(conn)
    # a later run: three more weeks, while the source restates recent weeks already landed
    summary = pull(conn, market, store, LAST - dt.timedelta(weeks=3), LAST, revision=1)
    assert summary.restated_weeks, "the revision should restate some already-landed week"
    since = dt.date.fromisoformat(min(summary.new_weeks + summary.restated_weeks))
    counts = build_core(conn, since_week=since + dt.timedelta(days=2))  # any day: its Monday is used
    incremental = core_rows(conn)
    full_counts = build_core(conn)
    assert core_rows(conn) == incremental
    assert counts == full_counts
    assert incremental["market_week"][-1][0] == LAST


def test_pending_changes_add_up_until_the_marts_absorb_them():
    """Two core builds without a marts step between them: the earliest week of each table wins,
    and model_dim reaching any week (None), or recorded before its reach was (no "reach"), sticks."""
    conn = duckdb.connect()
    ensure_schema(conn)

    def record(changed):
        _record_changes(conn, changed)
        return json.loads(conn.execute(
            "select value from raw.warehouse_info where key = 'marts_pending'").fetchall()[0][0])

    w1, w2 = dt.date(2025, 3, 3), dt.date(2025, 3, 10)
    assert record({"model_week": w2, "model_dim": w2}) == {
        "since": "2025-03-10", "tables": ["model_dim", "model_week"], "reach": {"model_dim": "2025-03-10"}}
    assert record({"market_week": w1, "model_dim": w1})["reach"] == {"model_dim": "2025-03-03"}
    assert record({"model_week": w2}) == {  # model_dim's reach is kept while it did not change
        "since": "2025-03-03", "tables": ["market_week", "model_dim", "model_week"],
        "reach": {"model_dim": "2025-03-03"}}
    assert record({"model_dim": None})["reach"] == {"model_dim": None}
    assert record({"model_dim": w2})["reach"] == {"model_dim": None}
    conn.execute("update raw.warehouse_info set value = ? where key = 'marts_pending'",
                 [json.dumps({"since": "2025-03-03", "tables": ["model_dim", "model_week"]})])  # an older record
    assert record({"model_dim": w2}) == {"since": "2025-03-03", "tables": ["model_dim", "model_week"],
                                          "reach": {"model_dim": None}}
