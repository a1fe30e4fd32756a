import datetime as dt
import math

import duckdb
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.marts import MartParams, build_marts
from tests.golden_support import assert_matches_golden, close, land_rankings, load_golden_input, read_golden

MARTS = ("entity_week", "noise_vs_trend")
# the 4w/12w growth columns of the golden file belong to mart.growth
GROWTH_COLUMNS = (
    "log_growth_4w", "growth_4w_pct", "log_growth_12w", "growth_12w_pct",
    "annualised_12w_pct", "growth_4w_over_4w_pct",
)
P_VALUE_TOLERANCE = {"mk_p": 2e-7}  # erf-free normal tail (spec §7)


def model_signals(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return conn.sql(
        "select * replace (week_start::varchar as week_start), entity_id as model_id "
        "from mart.noise_vs_trend where level = 'model'"
    ).pl()


def test_golden_b_signals_and_labels():
    conn = duckdb.connect()
    load_golden_input(conn, "golden_b_weekly_input")
    build_marts(conn, MartParams(top_ns=(5,)), names=MARTS)
    expected = read_golden("golden_b_signal_expected")
    actual = model_signals(conn)
    assert_matches_golden(
        actual, expected, keys=["week_start", "model_id"], abs_tolerance=P_VALUE_TOLERANCE, skip=GROWTH_COLUMNS
    )
    # only the last week is provisional; it is the week late-jump's label waits on (§3.4)
    provisional = actual.filter("is_provisional")
    assert set(provisional["week_start"]) == {"2025-12-15"}
    assert provisional.filter(pl.col("label") == "jump_pending")["model_id"].to_list() == ["acme/late-jump-model"]


def test_golden_b_every_level_has_signals():
    conn = duckdb.connect()
    load_golden_input(conn, "golden_b_weekly_input")
    build_marts(conn, MartParams(top_ns=(5,)), names=MARTS)
    counts = dict(conn.execute("select level, count(*) from mart.noise_vs_trend group by level").fetchall())
    entities = dict(
        conn.execute("select level, count(*) from mart.entity_week group by level").fetchall()
    )
    assert counts == entities
    # all six models share the author acme: its series is the sum, judged on its own history
    acme = conn.sql(
        "select tokens, label from mart.noise_vs_trend where level = 'author' order by wk"
    ).pl()
    assert acme["tokens"][0] == (100 + 200 + 153 + 300 + 400 + 248) * 10**9
    assert acme["label"][:7].to_list() == ["insufficient_history"] * 7
    assert "insufficient_history" not in acme["label"][7:].to_list()


# --- properties on generated markets -------------------------------------------------

MONDAY = dt.date(2025, 1, 6)
WANDERERS = ["a/base", "b/wobbly", "c/patchy"]
SCALED = "s/scaled"  # 3 x a/base, listed in the same weeks
STEADY = "k/steady"  # constant weekly growth factor, listed in every observed week
SCALE = 3


@st.composite
def signal_markets(draw):
    """9-16 weeks, a few missing from the data; random-walk models with jumps and listing gaps."""
    n_weeks = draw(st.integers(9, 16))
    observed = [w for w in range(n_weeks) if w in (0, n_weeks - 1) or draw(st.integers(0, 11)) > 0]
    steps = st.one_of(st.floats(-0.08, 0.08), st.sampled_from([-0.7, -0.3, 0.0, 0.4, 0.9]))
    series: dict[str, dict[int, int]] = {}
    for model in WANDERERS:
        level, points = math.log(draw(st.integers(10**9, 10**11))), {}
        for w in observed:
            level += draw(steps)
            if model == "a/base" or draw(st.integers(0, 7)) > 0:  # a/base is listed whenever data exists
                points[w] = max(1, round(math.exp(level)))
        series[model] = points
    series[SCALED] = {w: SCALE * x for w, x in series["a/base"].items()}
    start = draw(st.integers(10**9, 10**11))
    rate = draw(st.one_of(st.floats(-0.4, -0.01), st.floats(0.01, 0.4)))
    series[STEADY] = {w: round(start * math.exp(rate * w)) for w in observed}
    rows = []
    for w in observed:
        day = MONDAY + dt.timedelta(weeks=w)
        listed = sorted(((m, s[w]) for m, s in series.items() if w in s), key=lambda mt: (-mt[1], mt[0]))
        rows += [(day, m, x) for m, x in listed] + [(day, "other", draw(st.integers(0, 10**11)))]
    frame = pl.DataFrame(rows, schema=["bucket_date", "model_permaslug", "tokens"], orient="row")
    return frame, series, rate


def build_generated(frame: pl.DataFrame) -> pl.DataFrame:
    conn = duckdb.connect()
    land_rankings(conn, frame)
    build_marts(conn, MartParams(top_ns=(3,)), names=MARTS)
    return conn.sql(
        "select *, (week_start - date '2025-01-06') // 7 as w from mart.noise_vs_trend "
        "where level = 'model' order by entity_id, wk"
    ).pl()


def assert_statistics_in_range(signals: pl.DataFrame) -> None:
    mk = signals.filter(pl.col("mk_s").is_not_null())
    assert mk["mk_p"].is_between(0, 1).all()
    assert (mk["mk_tau"].abs() <= 1).all()
    assert ((mk["mk_tau"] * 28 - mk["mk_s"]).abs() < 1e-9).all()
    assert (signals["sd_eff"].drop_nulls() >= 0.02).all()
    # 7 weekly changes add up to the net change, so the largest is at least a seventh of it
    assert (signals["max_week_share"].drop_nulls() >= 1 / 7 - 1e-12).all()


def assert_short_history_is_insufficient(signals: pl.DataFrame, series: dict[str, dict[int, int]]) -> None:
    for model, w, label in signals.select("entity_id", "w", "label").iter_rows():
        eight_weeks = all(w - k in series[model] for k in range(8))
        # 8 observed weeks give the MK window and 6 prior growths, so z is computable too
        assert (label == "insufficient_history") == (not eight_weeks), (model, w, label)


def knife_edge(rows: pl.DataFrame) -> bool:
    """A classifier threshold met to within rounding, where scaling may flip a comparison."""

    def near(value: float | None, threshold: float) -> bool:
        return value is not None and abs(value - threshold) < 1e-6

    for z, g, next_g, share in rows.select("z", "g", "next_g", "max_week_share").iter_rows():
        if near(None if z is None else abs(z), 2) or near(share, 0.5):
            return True
        if g and next_g and near(abs(next_g) / abs(g), 0.5):
            return True
    return False


def assert_scaling_changes_nothing(signals: pl.DataFrame) -> None:
    base = signals.filter(pl.col("entity_id") == "a/base")
    scaled = signals.filter(pl.col("entity_id") == SCALED)
    assert scaled["tokens"].to_list() == [SCALE * x for x in base["tokens"]]
    # rank-based and count-based columns are exactly equal
    for column in ("wk", "n_prior", "mk_s", "mk_var_s", "mk_p", "mk_tau", "run_len", "is_provisional"):
        assert scaled[column].to_list() == base[column].to_list(), column
    for column in ("g", "z", "robust_z", "vol_8w", "sen_slope", "max_week_share", "next_g"):
        for a, b in zip(base[column], scaled[column]):
            assert close(a, b), (column, a, b)
    if not knife_edge(base):
        assert scaled["label"].to_list() == base["label"].to_list()


def assert_constant_growth_is_a_trend(signals: pl.DataFrame, rate: float) -> None:
    steady = signals.filter(pl.col("entity_id") == STEADY, pl.col("label") != "insufficient_history")
    assert set(steady["label"]) <= {"trend_up" if rate > 0 else "trend_down"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signal_markets())
def test_generated_markets_signal_invariants(market):
    # one build per example, several invariants
    frame, series, rate = market
    signals = build_generated(frame)
    assert_statistics_in_range(signals)
    assert_short_history_is_insufficient(signals, series)
    assert_scaling_changes_nothing(signals)
    assert_constant_growth_is_a_trend(signals, rate)
