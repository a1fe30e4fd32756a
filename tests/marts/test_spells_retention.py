import datetime as dt
import math

import duckdb
import polars as pl

from assets.marts import MartParams, build_marts
from tests.golden_support import assert_matches_golden, land_rankings, load_golden_input, read_golden

MARTS = ("entity_week", "top_spells", "retention", "retention_curve")
W1 = dt.date(2025, 1, 6)


def golden_a(top_ns: tuple[int, ...]) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    load_golden_input(conn, "golden_a_weekly_input")
    build_marts(conn, MartParams(top_ns=top_ns), names=MARTS)
    return conn


def leaders(sequence: str) -> duckdb.DuckDBPyConnection:
    """One listed model per week, named by a letter; '_' is a missing week. Built with N = 1."""
    rows = []
    for i, letter in enumerate(sequence):
        if letter != "_":
            day = W1 + dt.timedelta(weeks=i)
            rows += [(day, f"m/{letter}", 100), (day, "other", 50)]
    conn = duckdb.connect()
    land_rankings(conn, pl.DataFrame(rows, schema=["bucket_date", "model_permaslug", "tokens"], orient="row"))
    build_marts(conn, MartParams(top_ns=(1,)), names=MARTS)
    return conn


def summary(conn: duckdb.DuckDBPyConnection) -> dict:
    return conn.sql(
        "select distinct mean_weekly_retention, half_life_geometric_weeks, half_life_empirical_weeks, "
        "half_life_km_weeks from mart.retention_curve where level = 'model'"
    ).pl().row(0, named=True)


def test_golden_a_spells():
    conn = golden_a(top_ns=(3, 5))
    actual = conn.sql(
        "select entity_id as model_id, spell_start::varchar as spell_start, * exclude (entity_id, spell_start, spell_end), "
        "spell_end::varchar as spell_end from mart.top_spells where level = 'model' and top_n = 5"
    ).pl()
    expected = read_golden("golden_a_spells_expected")
    assert actual.height == expected.height
    assert_matches_golden(actual, expected, keys=["model_id", "spell_start"])
    # every N of the setting gets its spells
    assert {n for (n,) in conn.execute("select distinct top_n from mart.top_spells").fetchall()} == {3, 5}


def test_golden_a_retention_curve_and_geometric_half_life():
    conn = golden_a(top_ns=(5,))
    # the golden rows are cohort rows with the curve columns of their (level, N, h): the two marts joined
    actual = conn.sql(
        "select r.cohort_week::varchar as cohort_week, r.week_start::varchar as week_start, r.h_weeks, "
        "r.retained, r.retention, c.mean_weekly_retention, c.half_life_geometric_weeks, c.half_life_empirical_weeks "
        "from mart.retention as r join mart.retention_curve as c using (level, top_n, h_weeks) "
        "where level = 'model' and top_n = 5"
    ).pl()
    assert_matches_golden(actual, read_golden("golden_a_retention_expected"), keys=["cohort_week", "h_weeks"])


def test_the_curve_is_the_mean_of_the_cohort_rows_at_each_horizon():
    conn = golden_a(top_ns=(3, 5))
    curve = conn.sql("select level, top_n, h_weeks, mean_retention, n_cohorts from mart.retention_curve "
                     "order by all").fetchall()
    cohorts = conn.sql("select level, top_n, h_weeks, avg(retention), count(*) from mart.retention "
                       "group by all order by all").fetchall()
    assert len(curve) == len(cohorts) > 0
    for got, want in zip(curve, cohorts, strict=True):
        assert got[:3] == want[:3] and got[4] == want[4]
        assert math.isclose(got[3], want[3], rel_tol=1e-12)
    # one row per (level, N, h): the half-lives repeat on the horizons of their (level, N)
    assert conn.sql("select count(*) from (select distinct level, top_n, half_life_geometric_weeks, "
                    "half_life_empirical_weeks, half_life_km_weeks from mart.retention_curve)").fetchall()[0][0] \
        == conn.sql("select count(distinct (level, top_n)) from mart.retention_curve").fetchall()[0][0]


def test_spells_are_censored_at_gaps_and_edges():
    conn = leaders("ABB_BC")
    spells = conn.sql(
        "select entity_id, spell_start, length_weeks, left_censored, right_censored "
        "from mart.top_spells where level = 'model' order by spell_start"
    ).fetchall()
    week = lambda i: W1 + dt.timedelta(weeks=i)  # noqa: E731
    assert spells == [
        ("m/A", week(0), 1, True, False),
        ("m/B", week(1), 2, False, True),   # a missing week follows: may have gone on
        ("m/B", week(4), 1, True, False),   # a missing week precedes: may have started earlier
        ("m/C", week(5), 1, False, True),
    ]


def test_kaplan_meier_drops_left_truncated_spells():
    # spells A1 (left-censored), B1, C2, B3, D1 end; E2 runs on at the end.
    # KM without A: S(1) = 1 - 2/5 = 0.6, S(2) = 0.6 * (1 - 1/3) = 0.4 -> median 2
    # (keeping A as an end would give S(1) = 0.5 -> median 1)
    assert summary(leaders("ABCCBBBDEE"))["half_life_km_weeks"] == 2


def test_kaplan_meier_keeps_censored_spells_at_risk():
    # spells A1 (left), B1 end, C3 end, D2 censored by the gap, E1 (left, after the gap),
    # F3 end, G2 censored at the end: S(1) = 1 - 1/5 = 0.8, S(3) = 0.8 * (1 - 2/2) = 0 -> median 3
    # (counting the censored D and G as ends would give S(2) = 0.8 * 2/4 = 0.4 -> median 2)
    result = summary(leaders("ABCCCDD_EFFFGG"))
    assert result["half_life_km_weeks"] == 3
    # the leader stays 6 of 11 observed week pairs; missing week 8 pairs with nothing
    assert math.isclose(result["mean_weekly_retention"], 6 / 11, rel_tol=1e-12)
    assert math.isclose(result["half_life_geometric_weeks"], math.log(0.5) / math.log(6 / 11), rel_tol=1e-12)
    # R(1) = 6/11 > 0.5, R(2) = 2/10 (C->C, F->F over ten pairs with data) -> 2
    assert result["half_life_empirical_weeks"] == 2


def test_retention_horizons_skip_missing_weeks():
    conn = leaders("AA_A")
    curve = conn.sql(
        "select h_weeks, retained, retention from mart.retention where level = 'model' "
        "and cohort_week = ? order by h_weeks", params=[W1]
    ).fetchall()
    assert curve == [(0, 1, 1.0), (1, 1, 1.0), (3, 1, 1.0)]
