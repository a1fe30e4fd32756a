import datetime as dt
import math
import re

import duckdb
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.marts import MartParams, build_marts
from tests.golden_support import assert_matches_golden, land_rankings, load_golden_input, read_golden

MARTS = ("entity_week", "fragmentation")
GOLDEN_A = MartParams(top_ns=(5,))
MONDAY = dt.date(2025, 11, 3)


def built(name: str, params: MartParams = GOLDEN_A) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    load_golden_input(conn, name)
    build_marts(conn, params, names=MARTS)
    return conn


def mart(conn: duckdb.DuckDBPyConnection, level: str | None = None) -> pl.DataFrame:
    where = f"where level = '{level}'" if level else ""
    return conn.sql(
        f"select * replace (week_start::varchar as week_start) from mart.fragmentation {where} order by level, wk"
    ).pl()


# --- golden vectors ------------------------------------------------------------------


def test_golden_a_concentration_all_levels():
    conn = built("golden_a_weekly_input")
    expected = read_golden("golden_a_concentration_expected")
    # the golden file has model, author and price_tier rows; base_model is ours alone
    assert_matches_golden(mart(conn), expected, keys=["week_start", "level"])
    levels = conn.sql("select level, count(*) from mart.fragmentation group by level order by level").fetchall()
    assert levels == [("author", 3), ("base_model", 3), ("model", 3), ("price_tier", 3)]


def test_price_tier_rows_carry_only_free_share_bounds():
    # other could be all free or all paid, so no concentration index is claimed for tiers
    tiers = mart(built("golden_a_weekly_input"), "price_tier")
    filled = {"week_start", "wk", "level", "total", "other_share", "free_share_lower",
              "free_share_upper", "free_share_of_named", "bound_method"}
    for column in tiers.columns:
        assert tiers[column].is_null().all() != (column in filled), column


def test_golden_a_shape_bands_and_weekly_change():
    conn = built("golden_a_weekly_input")
    models = mart(conn, "model")
    expected = read_golden("golden_a_concentration_expected").filter(pl.col("level") == "model")
    # §4.3: W1 leader share is exactly 30 % (dominant, inclusive); W2 ratio is exactly
    # 1.1 (not < 1.1, and N_eff < 10); W3 ratio 360/330 < 1.1
    assert models["market_shape"].to_list() == ["dominant", "concentrated", "neck and neck"]
    # §4.4: only W2 straddles the 2023 threshold (1756 - 1858 around 1800)
    assert models["doj2023_band_ambiguous"].to_list() == [False, True, False]
    assert models["doj2010_band_ambiguous"].to_list() == [False, False, False]
    lower = expected["hhi_lower_pts"].cast(pl.Float64).to_list()
    deltas = models["delta_hhi_lower_pts"].to_list()
    assert deltas[0] is None
    # the golden file rounds to 10 significant digits, so the difference is good to ~1e-6
    assert math.isclose(deltas[1], lower[1] - lower[0], abs_tol=2e-6)
    assert math.isclose(deltas[2], lower[2] - lower[1], abs_tol=2e-6)
    # fewer than 10 named models: CR10 and the top-10 spread are unknown, not guessed
    assert models["cr10"].is_null().all() and models["top1_over_top10"].is_null().all()
    assert models["bound_method"].to_list() == ["snapshot"] * 3


def test_market_shape_rule_order():
    # §4.3 rules, first match wins: the 30 % share rule before the 1.1 ratio rule, and a
    # many-model market with a clear (1.2x) but small leader is fragmented
    weeks = {
        MONDAY: {"a/duo-1": 350, "b/duo-2": 340, "c/third": 200, "other": 110},
        MONDAY + dt.timedelta(weeks=1): {"a/lead": 120, **{f"v{i}/m": 100 for i in range(19)}, "other": 90},
        MONDAY + dt.timedelta(weeks=2): {"a/lead": 290, "b/two": 250, "c/three": 240, "other": 220},
    }
    conn = duckdb.connect()
    land_rankings(conn, pl.DataFrame(
        [(week, slug, t * 10**9) for week, rows in weeks.items() for slug, t in rows.items()],
        schema=["bucket_date", "model_permaslug", "tokens"], orient="row",
    ))
    build_marts(conn, GOLDEN_A, names=MARTS)
    models = mart(conn, "model")
    assert models["market_shape"].to_list() == ["dominant", "fragmented", "concentrated"]
    assert models["neff_lower"][1] >= 10 and models["neff_lower"][2] < 10
    # 20 named models: CR10 and the leader-to-#10 spread are known exactly
    assert math.isclose(models["cr10"][1], (120 + 9 * 100) / 2110, rel_tol=1e-12)
    assert math.isclose(models["top1_over_top10"][1], 1.2, rel_tol=1e-12)


def test_every_column_is_documented():
    conn = built("golden_a_weekly_input")
    undocumented = conn.execute(
        """select column_name from duckdb_columns()
           where schema_name = 'mart' and table_name = 'fragmentation' and coalesce(comment, '') = ''"""
    ).fetchall()
    assert undocumented == []
    assert conn.execute(
        "select comment from duckdb_tables() where schema_name = 'mart' and table_name = 'fragmentation'"
    ).fetchall()[0][0]


def test_weekly_change_needs_the_previous_calendar_week():
    conn = duckdb.connect()
    weeks = read_golden("golden_a_weekly_input").filter(pl.col("week_start") != "2025-11-10")
    land_rankings(conn, weeks.select(
        pl.col("week_start").str.to_date().alias("bucket_date"),
        pl.when(pl.col("is_other") == "true").then(pl.lit("other")).otherwise(pl.col("model_id"))
        .alias("model_permaslug"),
        pl.col("tokens").str.to_integer(),
    ))
    build_marts(conn, GOLDEN_A, names=MARTS)
    # a missing week is not zero (§1.6): W3 has no previous week to compare with
    assert conn.sql("select count(*) from mart.fragmentation where delta_hhi_lower_pts is not null").fetchall() == [(0,)]


def test_tail_size_below_the_data_minimum_is_infeasible():
    # M = 3 < m0 = 4 in W1 contradicts the data (other needs >= 4 items <= the cap);
    # in W2 and W3 m0 = 3, so spreading over M = 3 items is the central estimate
    models = mart(built("golden_a_weekly_input", MartParams(top_ns=(5,), m_max_models=3)), "model")
    assert models["tail_min_models"].to_list() == [4, 3, 3]
    assert models["hhi_lower_m_pts"][0] is None and models["entropy_upper_m"][0] is None
    for row in models.slice(1).iter_rows(named=True):
        assert math.isclose(row["hhi_lower_m_pts"], row["hhi_mid_pts"], rel_tol=1e-12)
        assert math.isclose(row["entropy_upper_m"], row["entropy_mid"], rel_tol=1e-12)


def test_golden_c_daily_built_week_uses_safe_bounds():
    conn = built("golden_c_daily_input")
    actual = conn.sql(
        """select f.week_start::varchar as week_start, f.total as total_tokens, m.other_tokens,
                  m.cap_tokens as cap_week_tokens, f.hhi_lower_pts, f.hhi_upper_pts,
                  f.entropy_lower as entropy_lower_renyi2, f.bound_method
           from mart.fragmentation as f join core.market_week as m using (week_start)
           where f.level = 'model'"""
    ).pl()
    expected = read_golden("golden_c_weekly_bounds_expected")
    # the two B² terms are intermediate sums; hhi_upper_pts checks their total
    assert_matches_golden(actual, expected, keys=["week_start"], skip=("pieces_term_b2", "fragment_term_b2"))
    assert actual["bound_method"].to_list() == ["weekly_safe"]


def test_golden_c_core_day_aggregation():
    # validates the lead's core day-aggregation (§0.6) that the safe bounds rely on
    conn = duckdb.connect()
    load_golden_input(conn, "golden_c_daily_input")
    actual = conn.sql(
        """select week_start::varchar as week_start, model_permaslug as model_id, tokens as tokens_obs,
                  days_present, is_complete, tokens_upper
           from core.model_week"""
    ).pl()
    expected = read_golden("golden_c_weekly_model_expected")
    assert actual.height == expected.height
    assert_matches_golden(actual, expected, keys=["week_start", "model_id"])


# --- properties on generated markets ---------------------------------------------------
# A "true" market (every model's tokens) is generated, the API's view of it (top k plus
# other) is landed as a raw pull, and the mart's bounds must contain the true values.

POOL = tuple(f"{a}/m{j}{v}" for a in ("acme", "bolt", "cyan", "dune") for j in range(3) for v in ("", ":free"))
REL = 1e-9


def le(a: float, b: float) -> bool:
    return a <= b + REL * max(1.0, abs(a), abs(b))


def listed_view(day_tokens: dict[str, int], depth: int) -> tuple[list[tuple[str, int]], int]:
    """The API's rows for one bucket: top `depth` by tokens (ties by slug) and the other sum."""
    ranked = sorted(((s, t) for s, t in day_tokens.items() if t > 0), key=lambda st_: (-st_[1], st_[0]))
    return ranked[:depth], sum(t for _, t in ranked[depth:])


def land_view(conn, buckets: dict[dt.date, dict[str, int]], depth: int, period: str) -> None:
    rows = []
    for day, tokens in sorted(buckets.items()):
        listed, other = listed_view(tokens, depth)
        rows += [(day, s, t) for s, t in listed]
        if other:  # the API leaves other out when there is no long tail
            rows.append((day, "other", other))
    land_rankings(conn, pl.DataFrame(rows, schema=["bucket_date", "model_permaslug", "tokens"], orient="row"),
                  period=period)
    build_marts(conn, GOLDEN_A, names=MARTS)


def true_indices(tokens: dict[str, int], key) -> tuple[float, float]:
    """True HHI (points) and Shannon entropy of the market grouped by `key`."""
    groups: dict[str, int] = {}
    for slug, t in tokens.items():
        groups[key(slug)] = groups.get(key(slug), 0) + t
    total = sum(groups.values())
    shares = [t / total for t in groups.values() if t > 0]
    return 1e4 * sum(s * s for s in shares), -sum(s * math.log(s) for s in shares)


KEYS = {"model": lambda s: s, "author": lambda s: s.split("/")[0],
        "base_model": lambda s: re.sub(r":[^:/]*$", "", s)}


def assert_orderings(row: dict) -> None:
    if row["level"] == "price_tier":
        assert le(row["free_share_lower"], row["free_share_of_named"])
        assert le(row["free_share_of_named"], row["free_share_upper"])
        return
    assert le(row["hhi_lower_pts"], row["hhi_lower_m_pts"]) and le(row["hhi_lower_m_pts"], row["hhi_upper_pts"])
    assert le(row["neff_lower"], row["neff_upper"])
    assert le(row["entropy_lower"], row["entropy_upper_m"])
    if row["level"] in ("author", "base_model"):
        # all of other to the largest entity beats treating other as a separate firm
        assert le(row["hhi_other_as_one_pts"], row["hhi_upper_pts"])
    else:
        assert le(row["hhi_lower_m_pts"], row["hhi_mid_pts"]) and le(row["hhi_mid_pts"], row["hhi_upper_pts"])
        assert le(row["entropy_lower"], row["entropy_mid"]) and le(row["entropy_mid"], row["entropy_upper_m"])
        if row["bound_method"] == "snapshot":
            assert le(row["hhi_upper_pts"], row["hhi_other_as_one_pts"])
    crs = [row[c] for c in ("cr1", "cr3", "cr5", "cr10") if row[c] is not None]
    assert all(le(a, b) for a, b in zip(crs, crs[1:])) and le(crs[-1], 1.0)
    assert 0 <= row["gini_topn"] < 1


def assert_contains_truth(row: dict, truth: dict[str, int]) -> None:
    if row["level"] == "price_tier":
        free = sum(t for s, t in truth.items() if s.endswith(":free")) / sum(truth.values())
        assert le(row["free_share_lower"], free) and le(free, row["free_share_upper"])
        return
    hhi, entropy = true_indices(truth, KEYS[row["level"]])
    assert le(row["hhi_lower_pts"], hhi) and le(hhi, row["hhi_upper_pts"])
    # the generated tails are far smaller than M, so the M-bounds must hold too
    assert le(row["hhi_lower_m_pts"], hhi)
    assert le(row["entropy_lower"], entropy) and le(entropy, row["entropy_upper_m"])


token = st.integers(1, 10**12)


@st.composite
def weekly_markets(draw):
    slugs = draw(st.lists(st.sampled_from(POOL), min_size=2, max_size=14, unique=True))
    weeks = draw(st.lists(st.integers(0, 4), min_size=1, max_size=3, unique=True))
    depth = draw(st.integers(1, len(slugs)))
    market = {
        MONDAY + dt.timedelta(weeks=w): dict(zip(slugs, draw(st.lists(token, min_size=len(slugs), max_size=len(slugs)))))
        for w in weeks
    }
    return market, depth


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(weekly_markets())
def test_snapshot_bounds_contain_the_true_market(case):
    market, depth = case
    conn = duckdb.connect()
    land_view(conn, market, depth, "week")
    rows = mart(conn)
    assert rows.height == 4 * len(market)
    for row in rows.iter_rows(named=True):
        week = dt.date.fromisoformat(row["week_start"])
        assert row["bound_method"] == "snapshot"
        assert_orderings(row)
        assert_contains_truth(row, market[week])
        if row["level"] == "model":
            listed, _ = listed_view(market[week], depth)
            total = sum(market[week].values())
            # exact top-N figures; CR_k only where k entities are named
            for k in (1, 3, 5, 10):
                want = sum(t for _, t in listed[:k]) / total if len(listed) >= k else None
                got = row[f"cr{k}"]
                assert (got is None) if want is None else math.isclose(got, want, rel_tol=REL)
            if len(listed) >= 10:
                assert math.isclose(row["top1_over_top10"], listed[0][1] / listed[9][1], rel_tol=REL)
            # the upper bound is attained: other packed into items at the cap plus a remainder
            cap, other = listed[-1][1], total - sum(t for _, t in listed)
            packed = [cap] * (other // cap) + [other % cap]
            attained = 1e4 * sum((t / total) ** 2 for t in [t for _, t in listed] + packed)
            assert math.isclose(row["hhi_upper_pts"], attained, rel_tol=REL)
        if row["level"] != "price_tier":
            previous = week - dt.timedelta(weeks=1)
            assert (row["delta_hhi_lower_pts"] is None) == (previous not in market)


@st.composite
def daily_markets(draw):
    slugs = draw(st.lists(st.sampled_from(POOL), min_size=2, max_size=10, unique=True))
    depth = draw(st.integers(1, len(slugs)))
    days = {
        MONDAY + dt.timedelta(days=d): dict(zip(slugs, draw(st.lists(token, min_size=len(slugs), max_size=len(slugs)))))
        for d in range(7)
    }
    return days, depth


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(daily_markets())
def test_weekly_safe_bounds_contain_the_true_week(case):
    days, depth = case
    conn = duckdb.connect()
    land_view(conn, days, depth, "day")
    truth = {s: sum(day[s] for day in days.values()) for s in next(iter(days.values()))}
    rows = mart(conn)
    assert rows.height == 4
    for row in rows.iter_rows(named=True):
        assert row["bound_method"] == "weekly_safe"
        assert_orderings(row)
        assert_contains_truth(row, truth)
