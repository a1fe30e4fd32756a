"""mart.retention in a weekly run reuses its previous rows (assets.marts.reuses_rows): it copies the
cohort rows whose week t + h precedes since_week and computes the rest. The table must be what a
full build gives, bit for bit, including the cohorts whose horizons reach the changed weeks."""

import datetime as dt

import duckdb
import polars as pl
import pytest

from assets.marts import MartParams, build_marts, is_incremental, reuses_rows
from tests.golden_support import land_rankings

MARTS = ("entity_week", "top_spells", "retention")
PARAMS = MartParams(top_ns=(2, 3))
W0 = dt.date(2024, 1, 1)
SINCE = 60  # the first changed week: 60 weeks of history, cohorts older than the 52-week window
LAST = 66
MISSING = {SINCE - 2, SINCE + 2}  # weeks without data on both sides of since_week


def week(i: int) -> dt.date:
    return W0 + dt.timedelta(weeks=i)


def market(first: int, last: int, revision: int = 0) -> pl.DataFrame:
    """Eight models whose order reshuffles from week to week; `revision` restates the weeks it
    covers (another order), and a model that only exists in the revision joins the top."""
    rows = []
    for i in range(first, last + 1):
        if i in MISSING:
            continue
        for j in range(8):
            rows.append((week(i), f"m/{j}", 100 + (j * 37 + i * (11 + 6 * revision) + j * j * i) % 97))
        if revision and i > SINCE:
            rows.append((week(i), "m/new", 150 + i))
        rows.append((week(i), "other", 10))
    return pl.DataFrame(rows, schema=["bucket_date", "model_permaslug", "tokens"], orient="row")


def differences(conn: duckdb.DuckDBPyConnection, saved: str) -> tuple[int, int]:
    """Rows of the saved table that mart.retention lacks, and the other way round (bitwise)."""
    return conn.execute(f"""select (select count(*) from (from {saved} except all from mart.retention)),
                                   (select count(*) from (from mart.retention except all from {saved}))"""
                        ).fetchall()[0]


def count(conn: duckdb.DuckDBPyConnection, table: str, where: str = "true") -> int:
    return conn.execute(f"select count(*) from {table} where {where}").fetchall()[0][0]


@pytest.fixture(scope="module")
def weekly():
    """Weeks 0..SINCE-1 built, then a run restating week SINCE and adding weeks up to LAST: the
    marts are refreshed from SINCE (saved as inc_retention), then rebuilt in full."""
    conn = duckdb.connect()
    land_rankings(conn, market(0, SINCE), pull_id="a")
    build_marts(conn, PARAMS, names=MARTS)
    conn.execute("create temp table before_run as from mart.retention")
    land_rankings(conn, market(SINCE, LAST, revision=1), pull_id="b")
    build_marts(conn, PARAMS, names=MARTS, since=week(SINCE))
    conn.execute("create temp table inc_retention as from mart.retention")
    build_marts(conn, PARAMS, names=MARTS)
    return conn


def test_retention_reuses_rows_and_is_no_delete_insert_mart():
    assert reuses_rows("retention") and not is_incremental("retention")


def test_the_fixture_reaches_the_cases_reuse_could_get_wrong(weekly):
    conn = weekly
    # rows copied from the previous build, including cohorts older than the 52 weeks recomputed
    assert count(conn, "mart.retention", f"week_start < date '{week(SINCE)}'") > 0
    assert count(conn, "mart.retention",
                 f"week_start < date '{week(SINCE)}' and cohort_week < date '{week(SINCE - 52)}'") > 0
    # cohorts before since_week whose horizon reaches the restated week or a new one, and whose
    # retention the restatement changed (a stale copy of them would be wrong)
    crossing = f"cohort_week < date '{week(SINCE)}' and week_start >= date '{week(SINCE)}'"
    assert count(conn, "mart.retention", crossing) > 0
    assert count(conn, f"(select level, top_n, cohort_week, h_weeks, retained from before_run where {crossing} "
                 f"except select level, top_n, cohort_week, h_weeks, retained from mart.retention)", "true") > 0
    # the h = 52 horizon that just reaches since_week, and horizons over the missing weeks
    assert count(conn, "mart.retention", f"cohort_week = date '{week(SINCE - 52)}' and h_weeks = 52") > 0
    assert count(conn, "mart.retention", f"week_start in (date '{week(SINCE - 2)}', date '{week(SINCE + 2)}')") == 0
    # an entity first listed after since_week (entity bits are numbered anew)
    assert count(conn, "mart.entity_week",
                 f"entity_id = 'm/new' and rank <= 3 and week_start > date '{week(SINCE)}'") > 0


def test_reused_rows_give_the_full_build_bit_for_bit(weekly):
    assert differences(weekly, "inc_retention") == (0, 0)


def test_rows_before_since_week_are_copied_not_recomputed():
    """A row whose weeks both precede since_week comes from the previous build as it is (here a
    value planted in it survives), while the rows from since_week on are computed anew."""
    conn = duckdb.connect()
    land_rankings(conn, market(0, LAST), pull_id="a")
    build_marts(conn, PARAMS, names=MARTS)
    conn.execute("create temp table full_build as from mart.retention")
    planted = f"level = 'model' and top_n = 2 and cohort_week = date '{week(10)}' and h_weeks = 1"
    stale = f"level = 'model' and top_n = 2 and cohort_week = date '{week(SINCE - 1)}' and h_weeks = 1"
    conn.execute(f"update mart.retention set retained = 7 where {planted} or {stale}")
    build_marts(conn, PARAMS, names=MARTS, since=week(SINCE))
    assert conn.execute(f"select retained from mart.retention where {planted}").fetchall() == [(7,)]
    assert conn.execute(f"select retained from mart.retention where {stale}").fetchall() \
        == conn.execute(f"select retained from full_build where {stale}").fetchall() != [(7,)]


def test_a_first_build_asked_for_a_since_week_is_a_full_build():
    """Without a previous table the query still binds (it reads its empty stand-in) and builds all."""
    conn = duckdb.connect()
    land_rankings(conn, market(0, LAST), pull_id="a")
    build_marts(conn, PARAMS, names=MARTS, since=week(SINCE))
    conn.execute("create temp table first_build as from mart.retention")
    build_marts(conn, PARAMS, names=MARTS)
    assert conn.execute("select count(*) from first_build").fetchall()[0][0] > 0
    assert differences(conn, "first_build") == (0, 0)
