import datetime as dt

import duckdb
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.marts import MartParams, build_marts
from tests.golden_support import assert_matches_golden, land_rankings, load_golden_input, read_golden

MARTS = ("entity_week", "growth")
SIGNAL_GROWTH_COLUMNS = [
    "log_growth_4w", "growth_4w_pct", "log_growth_12w", "growth_12w_pct",
    "growth_4w_over_4w_pct", "annualised_12w_pct",
]


def built(name: str) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    load_golden_input(conn, name)
    build_marts(conn, MartParams(top_ns=(5,)), names=MARTS)
    return conn


def model_rows(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return conn.sql(
        "select *, week_start::varchar as week_start, entity_id as model_id "
        "from mart.growth where level = 'model'"
    ).pl()


def test_golden_a_model_growth_status_and_bounds():
    conn = built("golden_a_weekly_input")
    expected = read_golden("golden_a_growth_expected")
    models = expected.filter(~pl.col("model_id").str.starts_with("__"))
    assert_matches_golden(model_rows(conn), models, keys=["week_start", "model_id"])
    # one row per listed model plus one per exit, nothing else
    assert conn.sql("select count(*) from mart.growth where level = 'model'").fetchall()[0][0] == models.height


def test_golden_a_market_rows_match_core_market_week():
    # __total__ / __other__ are market rows, not entities (§0.2): their tokens and shares
    # come from core.market_week; their growth rates belong to mart.market_week (§6.4).
    conn = built("golden_a_weekly_input")
    market = conn.sql(
        """select week_start::varchar as week_start, '__total__' as model_id, total_tokens as tokens,
                  'market' as status, 100.0 as share_pct from core.market_week
           union all
           select week_start::varchar, '__other__', other_tokens, 'other_bucket',
                  100.0 * other_tokens / total_tokens from core.market_week"""
    ).pl()
    expected = read_golden("golden_a_growth_expected").filter(pl.col("model_id").str.starts_with("__"))
    assert_matches_golden(
        market, expected.select("week_start", "model_id", "tokens", "status", "share_pct"),
        keys=["week_start", "model_id"],
    )


def test_golden_b_multi_week_growth():
    conn = built("golden_b_weekly_input")
    expected = read_golden("golden_b_signal_expected").select(
        "week_start", "model_id", "tokens", *SIGNAL_GROWTH_COLUMNS
    )
    assert_matches_golden(model_rows(conn), expected, keys=["week_start", "model_id"])


def test_aggregated_exits_and_entries_carry_no_cap_bound():
    conn = built("golden_a_weekly_input")
    rows = conn.sql(
        """select level, entity_id, status, wow_lower_bound_pct, wow_upper_bound_pct, tokens_upper_bound
           from mart.growth where level <> 'model' and status in ('exited', 'new_entry', 're_entry')"""
    ).pl()
    # the free tier exits in W3 and qwen enters in W2 at author and base-model level
    assert {("price_tier", "free", "exited"), ("author", "qwen", "new_entry")} <= set(
        rows.select("level", "entity_id", "status").iter_rows()
    )
    assert rows.select(pl.all().exclude("level", "entity_id", "status").is_null().all()).row(0) == (True,) * 3


# --- properties on generated markets -------------------------------------------------

MODELS = ["a/one", "a/one:free", "a/two", "b/three", "b/three:free", "c/four", "d/five"]
MONDAY = dt.date(2025, 1, 6)


@st.composite
def weekly_markets(draw):
    """A few weeks, some missing, each listing a random subset of MODELS plus an `other` row."""
    n_weeks = draw(st.integers(2, 7))
    observed = [w for w in range(n_weeks) if draw(st.booleans()) or w in (0, n_weeks - 1)]
    rows, listed = [], {}
    for w in observed:
        day = MONDAY + dt.timedelta(weeks=w)
        members = draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=5, unique=True))
        tokens = draw(st.lists(st.integers(1, 10**12), min_size=len(members), max_size=len(members)))
        listed[w] = set(members)
        for model, value in sorted(zip(members, tokens), key=lambda mt: (-mt[1], mt[0])):
            rows.append((day, model, value))
        rows.append((day, "other", draw(st.integers(0, 10**12))))
    frame = pl.DataFrame(rows, schema=["bucket_date", "model_permaslug", "tokens"], orient="row")
    return frame, listed


def build_generated(frame: pl.DataFrame) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    land_rankings(conn, frame)
    build_marts(conn, MartParams(top_ns=(3,)), names=MARTS)
    return conn


def assert_shares_plus_other_sum_to_100(conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    sums = conn.sql(
        """select g.week_start, g.level, sum(g.share_pct) + 100.0 * any_value(m.other_tokens)
                  / any_value(m.total_tokens) as total_pct
           from mart.growth as g join core.market_week as m using (week_start)
           where g.status <> 'exited' group by all"""
    ).pl()
    assert sums.height == 4 * frame["bucket_date"].n_unique()
    assert ((sums["total_pct"] - 100.0).abs() < 1e-9).all()


def expected_status(listed: dict[int, set[str]], model: str, week: int) -> str:
    """§1.5 status from the generated lists; a missing week is unknown, never 'not listed'."""
    if week - 1 not in listed:
        return "first_week_of_data"
    now, before = model in listed[week], model in listed[week - 1]
    if now and before:
        return "continuing"
    if before:
        return "exited"
    return "re_entry" if any(model in listed[w] for w in listed if w < week) else "new_entry"


def assert_status_follows_membership_and_gaps(conn: duckdb.DuckDBPyConnection, listed: dict) -> None:
    actual = {
        ((week - MONDAY).days // 7, model): status
        for week, model, status in conn.execute(
            "select week_start, entity_id, status from mart.growth where level = 'model'"
        ).fetchall()
    }
    expected = {
        (w, m): expected_status(listed, m, w)
        for w in listed for m in MODELS
        if m in listed[w] or (w - 1 in listed and m in listed[w - 1])
    }
    assert actual == expected
    # never continuing after a missing week, at any level
    bad = conn.sql(
        """select count(*) from mart.growth as g
           where status = 'continuing'
             and not exists (select 1 from mart.entity_week as e where e.wk = g.wk - 1)"""
    ).fetchall()[0][0]
    assert bad == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(weekly_markets())
def test_generated_markets_shares_and_status(market):
    # one build per example, two invariants (a build costs ~0.2 s)
    frame, listed = market
    conn = build_generated(frame)
    assert_shares_plus_other_sum_to_100(conn, frame)
    assert_status_follows_membership_and_gaps(conn, listed)


def test_partial_weeks_from_daily_rows_give_bounds_not_values():
    # daily top 2 (§0.6): a/x is listed all 14 days; b/y all of week 1 but only 5 days of
    # week 2, when c/z displaces it on the weekend; the missing days are hidden in other
    rows = []
    for d in range(14):
        day = MONDAY + dt.timedelta(days=d)
        if d < 7:
            rows += [(day, "a/x", 100), (day, "b/y", 50), (day, "other", 40)]
        elif d < 12:
            rows += [(day, "a/x", 110), (day, "b/y", 60), (day, "other", 40)]
        else:
            rows += [(day, "a/x", 120), (day, "c/z", 70), (day, "other", 85)]
    conn = duckdb.connect()
    land_rankings(conn, pl.DataFrame(rows, schema=["bucket_date", "model_permaslug", "tokens"], orient="row"),
                  period="day")
    build_marts(conn, MartParams(top_ns=(2,)), names=MARTS)
    week2 = {
        r[0]: r[1:] for r in conn.execute(
            """select entity_id, status, tokens, wow_pct, wow_lower_bound_pct, wow_upper_bound_pct,
                      tokens_upper_bound, is_complete
               from mart.growth where level = 'model' and week_start = ?""", [MONDAY + dt.timedelta(weeks=1)]
        ).fetchall()
    }
    a_status, a_tokens, a_wow, a_low, a_high, a_upper, a_complete = week2["a/x"]
    assert (a_status, a_tokens, a_low, a_high, a_upper, a_complete) == ("continuing", 790, None, None, None, True)
    assert abs(a_wow - 100 * (790 / 700 - 1)) < 1e-9
    # b/y: 300 seen, at most 300 + 2 days x cap 70 = 440; last week exactly 350
    b_status, b_tokens, b_wow, b_low, b_high, b_upper, b_complete = week2["b/y"]
    assert (b_status, b_tokens, b_wow, b_upper, b_complete) == ("continuing", 300, None, 440, False)
    assert abs(b_low - 100 * (300 / 350 - 1)) < 1e-9
    assert abs(b_high - 100 * (440 / 350 - 1)) < 1e-9
    # c/z enters: last week it had at most the weekly cap (7 days x 50)
    c_status, c_tokens, _, c_low, _, c_upper, _ = week2["c/z"]
    assert (c_status, c_tokens, c_upper) == ("new_entry", 140, 140 + 5 * 60)
    assert abs(c_low - 100 * (140 / 350 - 1)) < 1e-9
