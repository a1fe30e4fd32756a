import datetime as dt

import duckdb
import polars as pl

from assets.marts import MartParams, build_marts
from tests.golden_support import assert_matches_golden, land_rankings, load_golden_input, read_golden

MARTS = ("entity_week", "leaderboard")
W1 = dt.date(2025, 1, 6)


def week(n: int) -> dt.date:
    return W1 + dt.timedelta(weeks=n - 1)


def build_market(rows: list[tuple[dt.date, str, int]]) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    land_rankings(conn, pl.DataFrame(rows, schema=["bucket_date", "model_permaslug", "tokens"], orient="row"))
    build_marts(conn, MartParams(top_ns=(5,)), names=MARTS)
    return conn


def test_golden_a_labels_follow_the_growth_golden():
    conn = duckdb.connect()
    load_golden_input(conn, "golden_a_weekly_input")
    build_marts(conn, MartParams(top_ns=(5,)), names=MARTS)
    actual = conn.sql(
        "select week_start::varchar as week_start, model_permaslug as model_id, author, rank, tokens, "
        "share_pct, change_pct_display, change_label from mart.leaderboard"
    ).pl()
    listed = read_golden("golden_a_growth_expected").filter(
        ~pl.col("model_id").str.starts_with("__") & (pl.col("status") != "exited")
    )
    assert actual.height == listed.height
    assert_matches_golden(
        actual, listed.select("week_start", "model_id", "author", "rank", "tokens", "share_pct"),
        keys=["week_start", "model_id"],
    )
    # the page's label is the golden WoW rounded, or new for an entrant (sources.md §3.1)
    joined = listed.join(actual, on=["week_start", "model_id"])
    for row in joined.iter_rows(named=True):
        if row["status"] == "first_week_of_data":
            assert row["change_label"] is None
        elif row["status"] in ("new_entry", "re_entry"):
            assert (row["change_label"], row["change_pct_display"]) == ("new", None)
        else:
            pct = round(float(row["wow_pct"]))
            assert row["change_pct_display"] == pct
            assert row["change_label"] == (f"{pct:+d}%" if pct else "0%")


def test_hand_case_rounding_signs_new_and_gap():
    conn = build_market([
        (week(1), "c/z", 400), (week(1), "d/w", 1000), (week(1), "a/x", 200), (week(1), "b/y", 100),
        (week(2), "d/w", 999), (week(2), "c/z", 397), (week(2), "a/x", 301), (week(2), "e/new", 150),
        (week(2), "b/y", 100), (week(2), "other", 50),
        # week 3 is missing: week 4 cannot say new or give a change
        (week(4), "a/x", 300), (week(4), "f/fresh", 10),
    ])
    board = conn.execute(
        "select week_start, rank, model_permaslug, author, prev_tokens, change_pct_display, change_label "
        "from mart.leaderboard where week_start > ? order by week_start, rank", [week(1)]
    ).fetchall()
    assert board == [
        (week(2), 1, "d/w", "d", 1000, 0, "0%"),          # -0.1 % shows as 0%, never -0%
        (week(2), 2, "c/z", "c", 400, -1, "-1%"),         # -0.75 %
        (week(2), 3, "a/x", "a", 200, 51, "+51%"),        # +50.5 % rounds up
        (week(2), 4, "e/new", "e", None, None, "new"),
        (week(2), 5, "b/y", "b", 100, 0, "0%"),
        (week(4), 1, "a/x", "a", None, None, None),
        (week(4), 2, "f/fresh", "f", None, None, None),
    ]


def test_only_the_top_50_are_shown():
    rows = [(week(1), f"m/model-{i:02d}", 1000 - i) for i in range(60)]
    conn = build_market(rows)
    ranks = conn.sql("select rank from mart.leaderboard order by rank").pl()["rank"].to_list()
    assert ranks == list(range(1, 51))
