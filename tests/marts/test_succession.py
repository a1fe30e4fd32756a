import datetime as dt
import json

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.core import build_core
from assets.marts import MartParams, _since_by_mart, build_marts
from tests.golden_support import land_rankings

MARTS = ("entity_week", "succession")
B = 10**9
W1 = dt.date(2025, 11, 3)

# tokens in B per week W1..W6 (None = not listed); `other` is 300 B every week
HAND = {
    "acme/old": [100, 100, 95, 90, 85, 80],
    "acme/new": [None, None, 10, 30, 60, 90],
    "beta/steady": [200] * 6,
    "beta/b1": [100, 110, 120, 135, 150, 165],  # older but rising: never "replaced"
    "beta/b2": [None, 20, 30, 45, 70, 100],
    "gamma/g-late": [50] * 6,  # listed first, but created after g-early
    "gamma/g-early": [None, None, 10, 20, 40, 60],
}


def market_rows(series: dict[str, list[int | None]], other: int = 300, start: dt.date = W1) -> pl.DataFrame:
    n = len(next(iter(series.values())))
    rows = []
    for i in range(n):
        week = start + dt.timedelta(weeks=i)
        listed = sorted(((s, v[i]) for s, v in series.items() if v[i] is not None), key=lambda p: (-p[1], p[0]))
        rows += [(week, s, t * B) for s, t in listed] + [(week, "other", other * B)]
    return pl.DataFrame(rows, schema=["bucket_date", "model_permaslug", "tokens"], orient="row")


def build(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    build_marts(conn, MartParams(top_ns=(5,)), names=MARTS)
    return conn.sql("select * from mart.succession order by week_start, author").pl()


def share(series, slug, i, other=300):
    total = sum(v[i] for v in series.values() if v[i] is not None) + other
    return 100 * series[slug][i] / total


def test_hand_market_by_first_week_seen():
    conn = duckdb.connect()
    land_rankings(conn, market_rows(HAND))
    got = build(conn)
    pairs = {(r["week_start"], r["author"]): (r["older_model"], r["newer_model"]) for r in got.iter_rows(named=True)}
    w5, w6 = W1 + dt.timedelta(weeks=4), W1 + dt.timedelta(weeks=5)
    assert pairs == {
        # W5: acme/new's share (6.3 %) is still below W1's cap share (50/750 = 6.7 %): no succession yet
        (w5, "beta"): ("beta/steady", "beta/b2"),
        (w6, "acme"): ("acme/old", "acme/new"),
        (w6, "beta"): ("beta/steady", "beta/b2"),
        (w6, "gamma"): ("gamma/g-late", "gamma/g-early"),
    }
    acme = got.filter(pl.col("author") == "acme").row(0, named=True)
    assert acme["newer_by"] == "first_seen" and acme["newer_entered_since"]
    assert abs(acme["older_growth_4w_pct"] - (80 / 100 - 1) * 100) < 1e-9
    assert abs(acme["older_share_change_4w_pp"] - (share(HAND, "acme/old", 5) - share(HAND, "acme/old", 1))) < 1e-9
    # not listed in W2: the gain is measured from W2's cap (beta/b2, 20 B of 780 B)
    assert abs(acme["newer_share_change_4w_pp"] - (share(HAND, "acme/new", 5) - 100 * 20 / 780)) < 1e-9
    assert acme["newer_growth_4w_pct"] is None and acme["newer_share_pct_4w_ago"] is None
    beta = got.filter((pl.col("author") == "beta") & (pl.col("week_start") == w6)).row(0, named=True)
    assert not beta["newer_entered_since"]
    assert abs(beta["newer_growth_4w_pct"] - 400.0) < 1e-9
    assert beta["candidate_pairs"] == 1  # b1 rose 50 %: it is not an older model losing traffic


def test_catalogue_created_decides_which_model_is_newer():
    conn = duckdb.connect()
    land_rankings(conn, market_rows(HAND))
    created = {"gamma/g-late": "2026-01-01", "gamma/g-early": "2024-01-01"}
    for slug, day in created.items():
        conn.execute(
            "insert into core.models (model_permaslug, model_id, canonical_slug, author, created_at, record_hash,"
            " valid_from, pull_id) values (?, ?, ?, 'gamma', ?::timestamptz, 'h', '2026-01-05', 'cat')",
            [slug, slug, slug, day])
    build_core(conn)
    got = build(conn)
    # by catalogue date g-early is the older model, and it is rising: no gamma succession
    assert "gamma" not in got["author"].to_list()
    assert set(got.filter(pl.col("author") == "acme")["newer_by"]) == {"first_seen"}


W7 = W1 + dt.timedelta(weeks=6)


def catalogue(conn: duckdb.DuckDBPyConnection, slug: str, created: str, valid_from: str = "2026-01-05") -> None:
    """A catalogue version of `slug` (created at `created`) from `valid_from` on, ending the one before."""
    conn.execute("update core.models set valid_to = ?::timestamptz where model_permaslug = ? and valid_to is null",
                 [valid_from, slug])
    conn.execute(
        "insert into core.models (model_permaslug, model_id, canonical_slug, author, created_at, record_hash,"
        " valid_from, pull_id) values (?, ?, ?, ?, ?::timestamptz, 'h', ?::timestamptz, 'cat')",
        [slug, slug, slug.split(":")[0], slug.split("/")[0], created, valid_from])


def weekly_run(extra: dict[str, int], created: dict[str, str], edited: dict[str, str]):
    """The hand market (W1..W6, catalogue: g-late created before g-early) with its marts built,
    then a run that lands W7 (W6's tokens plus `extra` models, catalogued as `created`) and edits
    the catalogue `created` of known models (`edited`). Returns (the week succession was rebuilt
    from, None: in full; rows before the run; rows built incrementally; rows of a full build)."""
    conn = duckdb.connect()
    land_rankings(conn, market_rows(HAND))
    catalogue(conn, "gamma/g-late", "2024-01-01")
    catalogue(conn, "gamma/g-early", "2026-01-01")
    build_core(conn)
    build_marts(conn, MartParams(top_ns=(5,)), names=MARTS)
    before = conn.execute("from mart.succession order by all").fetchall()
    conn.execute("delete from raw.warehouse_info where key = 'marts_pending'")  # the marts step's part
    for slug, day in {**created, **edited}.items():
        catalogue(conn, slug, day, valid_from="2026-01-12")
    week7 = {slug: tokens[-1:] for slug, tokens in HAND.items()} | {slug: [t] for slug, t in extra.items()}
    land_rankings(conn, market_rows(week7, start=W7), pull_id="w7")  # lands W7 and builds core
    pending = json.loads(conn.execute(
        "select value from raw.warehouse_info where key = 'marts_pending'").fetchall()[0][0])
    since = _since_by_mart(pending, MARTS)
    build_marts(conn, MartParams(top_ns=(5,)), names=MARTS, since=since)
    incremental = conn.execute("from mart.succession order by all").fetchall()
    build_marts(conn, MartParams(top_ns=(5,)), names=MARTS)
    return since["succession"], before, incremental, conn.execute("from mart.succession order by all").fetchall()


@pytest.mark.parametrize(("extra", "created", "edited", "rebuilt_from"), [
    # a new base model, catalogued: it can only be in rows from its first week on
    ({"acme/newest": 50}, {"acme/newest": "2026-06-01"}, {}, W7),
    # a new variant created after its base model: the base model's earliest created_at holds
    ({"gamma/g-late:free": 20}, {"gamma/g-late:free": "2027-01-01"}, {}, W7),
    # a new variant created before its base model: g-early is now the older one, in W6 too
    ({"gamma/g-early:free": 20}, {"gamma/g-early:free": "2023-01-01"}, {}, None),
    # a catalogue edit of an old model's created: the same, without a new model
    ({}, {}, {"gamma/g-early": "2023-01-01"}, None),
], ids=["new-base-model", "later-variant", "earlier-variant", "created-edited"])
def test_a_weekly_run_rebuilds_from_the_week_model_dim_changes_reach(extra, created, edited, rebuilt_from):
    since, before, incremental, full = weekly_run(extra, created, edited)
    assert since == rebuilt_from
    assert incremental == full  # bit for bit (floats compared exactly)
    older = [r for r in before if r[0] < W7]
    if rebuilt_from is None:
        # the change does alter an older row: a build from W7 would have kept a stale one
        assert [r for r in full if r[0] < W7] != older
        assert ("gamma" in {r[2] for r in older}) and "gamma" not in {r[2] for r in full if r[0] < W7}
    else:
        assert [r for r in full if r[0] < W7] == older


@st.composite
def small_market(draw):
    n_weeks = draw(st.integers(5, 8))
    slugs = [f"{a}/m{i}" for a in ("x", "y") for i in range(3)]
    series = {}
    for slug in slugs:
        start = draw(st.integers(0, n_weeks - 1))
        series[slug] = [None] * start + [draw(st.integers(1, 60)) * 5 for _ in range(n_weeks - start)]
    return series


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series=small_market())
def test_rows_are_exactly_the_weeks_where_the_rule_holds(series):
    conn = duckdb.connect()
    land_rankings(conn, market_rows(series, other=40))
    got = build(conn)
    n = len(next(iter(series.values())))
    first_seen = {s: next(i for i, v in enumerate(vals) if v is not None) for s, vals in series.items()}

    def total(i):
        return sum(v[i] for v in series.values() if v[i] is not None) + 40

    def cap_share(i):
        return 100 * min(v[i] for v in series.values() if v[i] is not None) / total(i)

    expected = {}
    for i in range(4, n):
        week = W1 + dt.timedelta(weeks=i)
        for old, o in series.items():
            if o[i] is None or o[i - 4] is None or 100 * (o[i] / o[i - 4] - 1) > 5:
                continue
            for new, v in series.items():
                if new.split("/")[0] != old.split("/")[0] or v[i] is None or first_seen[new] <= first_seen[old]:
                    continue
                before = 100 * v[i - 4] / total(i - 4) if v[i - 4] is not None else cap_share(i - 4)
                gain = 100 * v[i] / total(i) - before
                if gain >= 0.5:
                    expected.setdefault((week, old.split("/")[0]), []).append(gain)
    actual = {(r["week_start"], r["author"]): r for r in got.iter_rows(named=True)}
    assert set(actual) == set(expected)
    for key, row in actual.items():
        # the reported pair is the one with the largest gain, and it meets the rule
        assert abs(row["newer_share_change_4w_pp"] - max(expected[key])) < 1e-9
        assert row["candidate_pairs"] == len(expected[key])
        assert row["older_growth_4w_pct"] <= 5 and row["newer_first_seen_week"] > row["older_first_seen_week"]
