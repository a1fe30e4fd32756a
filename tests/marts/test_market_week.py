import datetime as dt
import math
import statistics

import duckdb
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.marts import MartParams, build_marts
from tests.golden_support import assert_matches_golden, close, land_rankings, load_golden_input, read_golden

TREND_COLUMNS = ["mk_s", "mk_var_s", "mk_z", "mk_p", "mk_tau", "sen_slope", "sen_weekly_pct", "hamed_rao_z", "hamed_rao_p"]
P_VALUE_TOLERANCE = {"mk_p": 2e-7, "hamed_rao_p": 2e-7}  # erf-free normal tail (spec §7)


def golden_b_market() -> pl.DataFrame:
    conn = duckdb.connect()
    load_golden_input(conn, "golden_b_weekly_input")
    build_marts(conn, MartParams(top_ns=(5,)), names=("market_week",))
    return conn.sql("select * replace (week_start::varchar as week_start) from mart.market_week order by wk").pl()


def test_golden_b_market_growth_and_coverage():
    market = golden_b_market()
    assert_matches_golden(market, read_golden("golden_b_market_expected"), keys=["week_start"])
    # the list explains named / total of the market; other is 400 B + 10 B per week (§3.5)
    assert market["other_tokens"].to_list() == [(400 + 10 * w) * 10**9 for w in range(16)]
    assert ((market["coverage"] * market["total_tokens"] - market["named_tokens"]).abs() < 1).all()
    assert (market["listed_models"] == 6).all()


def test_golden_b_market_trend_windows():
    # the last week's 12-week and all-history columns are the golden file's two windows
    last = golden_b_market().tail(1)
    windows = pl.concat(
        last.select(pl.lit(name).alias("window"), *[pl.col(f"{c}_{suffix}").alias(c) for c in TREND_COLUMNS])
        for name, suffix in (("all_16w", "all"), ("last_12w", "12w"))
    )
    assert_matches_golden(
        windows, read_golden("golden_b_market_trend_expected"), keys=["window"], abs_tolerance=P_VALUE_TOLERANCE
    )
    # last 12 weeks: significant negative rank autocorrelation at lag 3 would shrink Var(S)
    # by Hamed-Rao, so it is not reported (see the column comment); all 16 weeks: no
    # significant lag, the corrected test equals plain MK
    assert last["hamed_rao_z_12w"][0] is None
    assert last["trend_verdict_12w"][0] == "growing"
    early = golden_b_market().head(11)
    assert early["mk_s_12w"].is_null().all() and early["trend_verdict_12w"].is_null().all()
    assert early["weeks_all"].to_list()[2:] == list(range(3, 12))


# --- properties on generated markets -------------------------------------------------

MONDAY = dt.date(2024, 1, 1)


@st.composite
def market_totals(draw):
    """3-30 calendar weeks, some missing; totals drift, jump, or repeat an earlier total (ties)."""
    n_weeks = draw(st.integers(3, 30))
    totals: dict[int, int] = {}
    level = math.log(draw(st.integers(10**9, 10**13)))
    for w in range(n_weeks):
        level += draw(st.one_of(st.floats(-0.1, 0.1), st.sampled_from([-0.5, 0.0, 0.3])))
        if w not in (0, n_weeks - 1) and draw(st.integers(0, 9)) == 0:
            continue  # a week missing from the data
        if totals and draw(st.integers(0, 6)) == 0:
            totals[w] = draw(st.sampled_from(sorted(totals.values())))
        else:
            totals[w] = round(math.exp(level))
    return totals


def build_market(totals: dict[int, int]) -> pl.DataFrame:
    rows = []
    for w, total in totals.items():
        day = MONDAY + dt.timedelta(weeks=w)
        rows += [(day, "a/model", total // 3 + 1), (day, "other", total - total // 3 - 1)]
    conn = duckdb.connect()
    land_rankings(conn, pl.DataFrame(rows, schema=["bucket_date", "model_permaslug", "tokens"], orient="row"))
    build_marts(conn, MartParams(), names=("market_week",))
    return conn.sql("select *, (week_start - date '2024-01-01') // 7 as w from mart.market_week order by wk").pl()


def brute_force_trend(totals: dict[int, int], weeks: list[int]) -> tuple[int, float]:
    """S and Sen's slope (pairs apart by their calendar distance) straight from the definition."""
    pairs = [(i, j) for i in weeks for j in weeks if i < j]
    s = sum((totals[j] > totals[i]) - (totals[j] < totals[i]) for i, j in pairs)
    sen = statistics.median((math.log(totals[j]) - math.log(totals[i])) / (j - i) for i, j in pairs)
    return s, sen


def assert_windows_follow_the_calendar(market: pl.DataFrame, totals: dict[int, int]) -> None:
    assert market["w"].to_list() == sorted(totals)
    for row in market.iter_rows(named=True):
        w = row["w"]
        assert (row["wow_pct"] is None) == (w - 1 not in totals)
        history = [v for v in totals if v <= w]
        assert row["weeks_all"] == (len(history) if len(history) >= 3 else None)
        last12 = list(range(w - 11, w + 1))
        has_12 = all(v in totals for v in last12)
        assert (row["mk_s_12w"] is not None) == has_12
        assert (row["trend_verdict_12w"] is not None) == has_12
        for suffix, weeks in (("all", history if len(history) >= 3 else None), ("12w", last12 if has_12 else None)):
            if weeks is None:
                continue
            s, sen = brute_force_trend(totals, weeks)
            assert row[f"mk_s_{suffix}"] == s
            assert close(row[f"sen_slope_{suffix}"], sen)


def assert_statistics_in_range(market: pl.DataFrame) -> None:
    for suffix in ("12w", "all"):
        rows = market.filter(pl.col(f"mk_s_{suffix}").is_not_null())
        assert rows[f"mk_p_{suffix}"].is_between(0, 1).all()
        assert (rows[f"mk_tau_{suffix}"].abs() <= 1).all()
        # Hamed-Rao is only reported when it widens Var(S): never more significant than MK
        corrected = rows.filter(pl.col(f"hamed_rao_z_{suffix}").is_not_null())
        assert (corrected[f"hamed_rao_z_{suffix}"].abs() <= corrected[f"mk_z_{suffix}"].abs() + 1e-12).all()
        assert (corrected[f"hamed_rao_p_{suffix}"] >= corrected[f"mk_p_{suffix}"] - 1e-12).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market_totals())
def test_generated_market_trends(totals):
    # one build per example (landing + core is most of the ~0.3 s)
    market = build_market(totals)
    assert_windows_follow_the_calendar(market, totals)
    assert_statistics_in_range(market)


def test_scaling_every_total_changes_no_trend_statistic():
    # counting in other units (x 7) keeps ranks, ties and log slopes: same trend columns
    weeks = read_golden("golden_b_weekly_input")
    totals = {
        (dt.date.fromisoformat(day) - MONDAY).days // 7: int(total)
        for day, total in weeks.group_by("week_start").agg(pl.col("tokens").cast(pl.Int64).sum()).iter_rows()
    }
    market, scaled = build_market(totals), build_market({w: 7 * t for w, t in totals.items()})
    assert (scaled["total_tokens"] == 7 * market["total_tokens"]).all()
    for column in market.columns:
        if column.endswith(("_12w", "_all")) and market[column].dtype != pl.String:
            assert all(close(a, b) for a, b in zip(market[column], scaled[column])), column
    assert scaled["trend_verdict_12w"].to_list() == market["trend_verdict_12w"].to_list()
