import datetime as dt

import duckdb
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.marts import MartParams, build_marts
from tests.golden_support import land_rankings, load_golden_input

MARTS = ("entity_week", "segment_leaders")
B = 10**9
W1 = dt.date(2025, 11, 3)


def weeks(n: int) -> list[dt.date]:
    return [W1 + dt.timedelta(weeks=i) for i in range(n)]


def segment_rows(week_tokens: dict[dt.date, dict[str, int]]) -> pl.DataFrame:
    """Rows in API order (tokens desc, other last) for {week: {slug: tokens}}."""
    rows = []
    for week, tokens in week_tokens.items():
        named = sorted(((s, t) for s, t in tokens.items() if s != "other"), key=lambda p: (-p[1], p[0]))
        rows += [(week, s, t) for s, t in named]
        if "other" in tokens:
            rows.append((week, "other", tokens["other"]))
    return pl.DataFrame(rows, schema=["bucket_date", "model_permaslug", "tokens"], orient="row")


def build(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    build_marts(conn, MartParams(top_ns=(5,)), names=MARTS)
    return conn.sql("select * from mart.segment_leaders order by segment_type, segment, week_start").pl()


def hhi_bounds(named: list[int], other: int) -> tuple[float, float]:
    """§4.4 by hand: the named squares alone, and the tail packed at the cap."""
    total = sum(named) + other
    cap = min(named)
    squares = sum(x * x for x in named)
    q, rho = divmod(other, cap)
    return 1e4 * squares / total**2, 1e4 * (squares + q * cap * cap + rho * rho) / total**2


def test_programming_leader_runner_up_bounds_and_stability():
    conn = duckdb.connect()
    load_golden_input(conn, "golden_a_weekly_input")
    w = weeks(3)
    programming = {
        w[0]: {"anthropic/claude-sonnet-4.5": 60 * B, "x-ai/grok-code-fast-1": 50 * B, "qwen/qwen3-coder": 20 * B,
               "other": 45 * B},
        w[1]: {"anthropic/claude-sonnet-4.5": 70 * B, "x-ai/grok-code-fast-1": 66 * B, "qwen/qwen3-coder": 30 * B,
               "other": 10 * B},
        w[2]: {"x-ai/grok-code-fast-1": 90 * B, "anthropic/claude-sonnet-4.5": 45 * B, "qwen/qwen3-coder": 40 * B},
    }
    land_rankings(conn, segment_rows(programming), pull_id="prog", segment_type="category", segment="programming")
    mart = build(conn).filter(pl.col("segment") == "programming")
    assert mart["week_start"].to_list() == w
    assert mart["leader_id"].to_list() == ["anthropic/claude-sonnet-4.5"] * 2 + ["x-ai/grok-code-fast-1"]
    assert mart["runner_up_id"].to_list() == ["x-ai/grok-code-fast-1"] * 2 + ["anthropic/claude-sonnet-4.5"]
    assert mart["is_estimate"].all()
    # W1: total 175 B, leader 60, runner-up 50
    first = mart.row(0, named=True)
    assert first["total_tokens"] == 175 * B
    assert abs(first["leader_share_pct"] - 100 * 60 / 175) < 1e-9
    assert abs(first["leader_ratio"] - 1.2) < 1e-12
    assert abs(first["leader_gap_pp"] - 100 * 10 / 175) < 1e-9
    for row, week in zip(mart.iter_rows(named=True), w, strict=True):
        named = [t for s, t in programming[week].items() if s != "other"]
        lower, upper = hhi_bounds(named, programming[week].get("other", 0))
        assert abs(row["hhi_lower_pts"] - lower) < 1e-9 * lower
        assert abs(row["hhi_upper_pts"] - upper) < 1e-9 * upper
        assert abs(row["neff_lower"] - 1e4 / upper) < 1e-9 * row["neff_lower"]
    # W1 other = 45 B with a 20 B cap packs as 20 + 20 + 5, so the upper bound adds 2*20² + 5²
    assert mart["hhi_upper_pts"][0] > mart["hhi_lower_pts"][0]
    # no other bucket in W3: the bounds meet
    assert mart["hhi_upper_pts"][2] == mart["hhi_lower_pts"][2]
    assert mart["leader_weeks_4w"].to_list() == [1, 2, 1]
    assert mart["leader_changed"].to_list() == [None, False, True]


def test_free_tier_is_a_segment_of_listed_free_variants():
    conn = duckdb.connect()
    load_golden_input(conn, "golden_a_weekly_input")
    free = build(conn).filter(pl.col("segment_type") == "price_tier")
    # golden A lists deepseek-chat-v3.1:free in W1 and W2 only; W3 has no free model
    assert free["segment"].to_list() == ["free", "free"]
    assert free["week_start"].to_list() == weeks(2)
    assert free["leader_id"].to_list() == ["deepseek/deepseek-chat-v3.1:free"] * 2
    assert free["total_tokens"].to_list() == [100 * B, 85 * B]
    assert free["leader_share_pct"].to_list() == [100.0, 100.0]
    assert free["runner_up_id"].to_list() == [None, None]
    assert free["other_tokens"].to_list() == [None, None]
    assert free["leader_weeks_4w"].to_list() == [1, 2]
    # one listed free model: the visible free tier is one firm, HHI 10000, one effective model
    assert free["hhi_lower_pts"].to_list() == [1e4, 1e4] and free["hhi_upper_pts"].to_list() == [1e4, 1e4]
    assert free["neff_lower"].to_list() == [1.0, 1.0] and free["neff_upper"].to_list() == [1.0, 1.0]


def test_a_missing_week_is_not_a_week_led():
    conn = duckdb.connect()
    load_golden_input(conn, "golden_a_weekly_input")
    w = weeks(6)
    same = {"a/leader": 10 * B, "b/second": 5 * B, "other": 1 * B}
    # weeks 1, 2, 4, 5, 6 present; week 3 has no data at all
    data = {w[i]: same for i in (0, 1, 3, 4, 5)}
    land_rankings(conn, segment_rows(data), pull_id="tc", segment_type="modality", segment="tool_calling")
    mart = build(conn).filter(pl.col("segment") == "tool_calling")
    # window w1..w4 holds w1, w2, w4; w3..w6 holds w4, w5, w6
    assert mart["leader_weeks_4w"].to_list() == [1, 2, 3, 3, 3]
    assert mart["leader_changed"].to_list() == [None, False, None, False, False]
    assert not mart["is_estimate"].any()


@st.composite
def segment_market(draw):
    n_weeks = draw(st.integers(2, 7))
    slugs = [f"a{i % 3}/m{i}" for i in range(draw(st.integers(2, 6)))]
    present = [w for w in weeks(n_weeks) if draw(st.booleans()) or w == W1]
    data = {}
    for week in present:
        listed = draw(st.lists(st.sampled_from(slugs), min_size=1, max_size=len(slugs), unique=True))
        tokens = {s: draw(st.integers(1, 500)) * B for s in listed}
        other = draw(st.integers(0, min(tokens.values()) // B * 3)) * B
        if other:
            tokens["other"] = other
        data[week] = tokens
    return data


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=segment_market())
def test_segment_leader_invariants(data):
    conn = duckdb.connect()
    land_rankings(conn, segment_rows(data), pull_id="gen", segment_type="category", segment="legal")
    mart = build(conn).filter(pl.col("segment") == "legal")
    assert mart["week_start"].to_list() == sorted(data)
    leaders = {}
    for row in mart.iter_rows(named=True):
        tokens = {s: t for s, t in data[row["week_start"]].items() if s != "other"}
        best = min(tokens, key=lambda s: (-tokens[s], s))
        leaders[row["week_start"]] = best
        assert row["leader_id"] == best and row["leader_tokens"] == tokens[best]
        assert row["total_tokens"] == sum(data[row["week_start"]].values())
        if row["runner_up_id"] is not None:
            assert row["leader_ratio"] >= 1 and row["leader_gap_pp"] >= 0
        # CR1² ≤ HHI ≤ CR1 (in points), and the bounds are ordered
        assert row["leader_share_pct"] ** 2 <= row["hhi_lower_pts"] * (1 + 1e-12)
        assert row["hhi_lower_pts"] <= row["hhi_upper_pts"] * (1 + 1e-12)
        assert row["hhi_upper_pts"] <= 100 * row["leader_share_pct"] * (1 + 1e-12)
        assert row["neff_lower"] <= row["neff_upper"] * (1 + 1e-12)
        # the same model led this many of the last 4 calendar weeks (missing weeks count as not led)
        window = [row["week_start"] - dt.timedelta(weeks=k) for k in range(4)]
        assert row["leader_weeks_4w"] == sum(leaders.get(d) == best for d in window)
