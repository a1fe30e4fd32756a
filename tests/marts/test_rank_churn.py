import datetime as dt
import math
from itertools import combinations

import duckdb
import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.marts import MartParams, build_marts
from tests.golden_support import assert_matches_golden, close, land_rankings, load_golden_input, read_golden

MARTS = ("entity_week", "rank_churn")
LIST_COLUMNS = ("ranked_list", "entries", "exits")


def churn_rows(conn: duckdb.DuckDBPyConnection, where: str = "true") -> pl.DataFrame:
    """The mart as the golden files write it: dates as text, lists `|`-joined."""
    return conn.sql(f"select * from mart.rank_churn where {where}").pl().with_columns(
        pl.col("week_start").cast(pl.String), *(pl.col(c).list.join("|") for c in LIST_COLUMNS)
    )


def test_golden_a_model_churn():
    conn = duckdb.connect()
    load_golden_input(conn, "golden_a_weekly_input")
    build_marts(conn, MartParams(top_ns=(5,)), names=MARTS)
    expected = read_golden("golden_a_churn_expected")
    actual = churn_rows(conn, "level = 'model'")
    assert actual.height == expected.height
    assert_matches_golden(actual, expected, keys=["week_start", "top_n"])


def test_every_column_is_documented():
    conn = duckdb.connect()
    load_golden_input(conn, "golden_a_weekly_input")
    build_marts(conn, MartParams(top_ns=(5,)), names=MARTS)
    undocumented = conn.sql(
        "select column_name from duckdb_columns() "
        "where schema_name = 'mart' and table_name = 'rank_churn' and comment is null"
    ).fetchall()
    assert undocumented == []
    assert conn.sql(
        "select comment from duckdb_tables() where schema_name = 'mart' and table_name = 'rank_churn'"
    ).fetchall()[0][0]


MONDAY = dt.date(2025, 1, 6)


def week_rows(week: int, tokens: dict[str, int], other: int = 10) -> list[tuple]:
    day = MONDAY + dt.timedelta(weeks=week)
    ordered = sorted(tokens.items(), key=lambda mt: (-mt[1], mt[0]))
    return [(day, m, t) for m, t in ordered] + [(day, "other", other)]


def build(rows: list[tuple], top_ns: tuple[int, ...]) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    land_rankings(conn, pl.DataFrame(rows, schema=["bucket_date", "model_permaslug", "tokens"], orient="row"))
    build_marts(conn, MartParams(top_ns=top_ns), names=MARTS)
    return conn


def test_missing_week_breaks_comparisons_and_leader_runs():
    # weeks 0, 1, 3: week 2 is missing, so week 3 is not compared with week 1 (§1.6)
    rows = (week_rows(0, {"a/x": 9, "b/y": 5}) + week_rows(1, {"a/x": 9, "b/y": 5})
            + week_rows(3, {"a/x": 4, "b/y": 8}) + week_rows(4, {"a/x": 3, "b/y": 8}))
    conn = build(rows, (2,))
    got = conn.execute(
        """select wk - min(wk) over (), leader, leader_changed, leader_tenure_weeks, leader_changes_52w,
                  jaccard, rbo_ext_p90
           from mart.rank_churn where level = 'model' order by wk"""
    ).fetchall()
    assert got == [
        (0, "a/x", False, 1, 0, None, None),
        (1, "a/x", False, 2, 0, 1.0, 1.0),
        (3, "b/y", None, 1, 0, None, None),  # the change happened in an unseen week
        (4, "b/y", False, 2, 0, 1.0, 1.0),
    ]


def test_leader_changes_counted_over_trailing_52_weeks():
    leaders = ["a/x", "b/y", "a/x"] + ["a/x"] * 50 + ["b/y"]
    rows = [r for w, lead in enumerate(leaders) for r in week_rows(w, {lead: 9, ({"a/x", "b/y"} - {lead}).pop(): 5})]
    conn = build(rows, (1,))
    got = conn.execute(
        "select leader_changes_52w, leader_tenure_weeks from mart.rank_churn where level = 'model' order by wk"
    ).fetchall()
    assert got[1] == (1, 1) and got[2] == (2, 1) and got[52] == (2, 51)
    # week 53 (the 54th) sees changes in weeks 2..53: the week-1 change has left the window
    assert got[53] == (2, 1)


# --- properties on generated markets -------------------------------------------------

MODELS = ["a/one", "a/one:free", "a/two", "b/three", "b/three:free", "c/four", "d/five", "e/six"]
TOP_NS = (3, 5)


@st.composite
def weekly_markets(draw):
    """Consecutive weeks of random listings (3–7 models + other); sometimes a week repeats the last."""
    weeks = []
    for _ in range(draw(st.integers(2, 5))):
        if weeks and draw(st.booleans()):
            weeks.append(dict(weeks[-1]))
            continue
        members = draw(st.lists(st.sampled_from(MODELS), min_size=3, max_size=7, unique=True))
        tokens = draw(st.lists(st.integers(1, 50), min_size=len(members), max_size=len(members)))
        weeks.append(dict(zip(members, tokens)))
    return [r for w, market in enumerate(weeks) for r in week_rows(w, market)]


def pairs_of_lists(conn: duckdb.DuckDBPyConnection) -> list[tuple[dict, list[str], list[str]]]:
    """(mart row, previous list, current list) for every compared week; lists from mart.entity_week."""
    lists = {}
    for level, wk, n, ids in conn.execute(
        """select e.level, e.wk, n.top_n, list(e.entity_id order by e.rank)
           from mart.entity_week as e join (select unnest(?::integer[]) as top_n) as n on e.rank <= n.top_n
           group by all""",
        [list(TOP_NS)],
    ).fetchall():
        lists[level, n, wk] = ids
    rows = conn.sql("select * from mart.rank_churn where jaccard is not null").pl().to_dicts()
    return [(r, lists[r["level"], r["top_n"], r["wk"] - 1], lists[r["level"], r["top_n"], r["wk"]]) for r in rows]


def rbo_sum(s: list, t: list, p: float, depth: int) -> float:
    """RBO by definition, (1−p) Σ p^(d−1) A_d, over lists already extended to `depth`."""
    seen_s, seen_t, overlap, total = set(), set(), 0, 0.0
    for d in range(1, depth + 1):
        a, b = s[d - 1], t[d - 1]
        overlap += (a in seen_t) + (b in seen_s) + (a == b)
        seen_s.add(a)
        seen_t.add(b)
        total += p ** (d - 1) * overlap / d
    return (1 - p) * total


def reference_rbo(prev: list[str], cur: list[str], p: float) -> tuple[float, float, float]:
    """(min, max, ext) by brute-force extension (min, max) and WMZ eq. 32 (ext), uneven lengths included."""
    short, long_ = sorted((prev, cur), key=len)
    s, l = len(short), len(long_)
    depth = l + s + math.ceil(math.log(1e-13) / math.log(p))  # the tail beyond weighs < 1e-13
    fresh = [f"~{i}" for i in range(depth)]
    lowest = rbo_sum(short + [f"s{x}" for x in fresh], long_ + [f"l{x}" for x in fresh], p, depth)
    # best case: every unseen item matches as early as possible (Corsi & Urbano's extension)
    long_only = [m for m in long_ if m not in short]
    short_only = [m for m in short if m not in long_]
    highest = rbo_sum(short + long_only + fresh, long_ + short_only + fresh, p, depth)
    x = [len(set(short[:d]) & set(long_[:d])) for d in range(1, l + 1)]
    ext = sum(x[d - 1] / d * p**d for d in range(1, l + 1))
    ext += sum(x[s - 1] * (d - s) / (s * d) * p**d for d in range(s + 1, l + 1))
    ext = (1 - p) / p * ext + ((x[l - 1] - x[s - 1]) / l + x[s - 1] / s) * p**l
    return lowest, highest, ext


def reference_measures(prev: list[str], cur: list[str]) -> dict[str, float | None]:
    """§2.1–2.3 by definition over explicit rank vectors and pairs."""
    union = sorted(set(prev) | set(cur))
    common = [m for m in prev if m in cur]
    k = max(len(prev), len(cur))
    pos_p = {m: prev.index(m) + 1 if m in prev else k + 1 for m in union}
    pos_c = {m: cur.index(m) + 1 if m in cur else k + 1 for m in union}
    footrule = sum(abs(pos_p[m] - pos_c[m]) for m in union)
    disjoint = sum(k + 1 - i for i in range(1, len(prev) + 1)) + sum(k + 1 - i for i in range(1, len(cur) + 1))

    def avg_ranks(lst):
        absent = len(union) - len(lst)
        return [lst.index(m) + 1 if m in lst else len(lst) + (absent + 1) / 2 for m in union]

    def tau_b(x, y):
        conc = disc = tx = ty = 0
        for i, j in combinations(range(len(x)), 2):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif dx == dy:
                conc += 1
            else:
                disc += 1
        return (conc - disc) / math.sqrt((conc + disc + tx) * (conc + disc + ty))

    # Fagin K^(1/2) by its case definition
    fagin = 0.0
    for a, b in combinations(union, 2):
        in_p, in_c = (a in prev, b in prev), (a in cur, b in cur)
        if all(in_p) and all(in_c):
            fagin += (prev.index(a) - prev.index(b)) * (cur.index(a) - cur.index(b)) < 0
        elif all(in_p) and any(in_c):
            present, other = (a, b) if in_c[0] else (b, a)
            fagin += prev.index(present) > prev.index(other)
        elif all(in_c) and any(in_p):
            present, other = (a, b) if in_p[0] else (b, a)
            fagin += cur.index(present) > cur.index(other)
        elif all(in_p) or all(in_c):
            fagin += 0.5
        else:
            fagin += 1
    fagin_disjoint = len(prev) * len(cur) + 0.5 * (math.comb(len(prev), 2) + math.comb(len(cur), 2))

    common_p = [sorted(common, key=prev.index).index(m) + 1 for m in common]
    common_c = [sorted(common, key=cur.index).index(m) + 1 for m in common]
    return {
        "entries": sorted(set(cur) - set(prev)),
        "exits": sorted(set(prev) - set(cur)),
        "jaccard": len(common) / len(union),
        "footrule_union": footrule,
        "footrule_union_norm": footrule / disjoint,
        "mean_abs_disp_int": np.mean([abs(prev.index(m) - cur.index(m)) for m in common]) if common else None,
        "spearman_int": np.corrcoef(common_p, common_c)[0, 1] if len(common) >= 2 else None,
        "kendall_taub_int": tau_b(common_p, common_c) if len(common) >= 2 else None,
        "spearman_union": np.corrcoef(avg_ranks(prev), avg_ranks(cur))[0, 1] if len(union) >= 2 else None,
        "kendall_taub_union": tau_b(avg_ranks(prev), avg_ranks(cur)) if len(union) >= 2 else None,
        "fagin_K": fagin,
        "fagin_K_norm": fagin / fagin_disjoint,
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(weekly_markets())
def test_generated_markets_match_definitions_and_invariants(rows):
    # one build per example (landing + core dominate the cost), every compared week checked
    conn = build(rows, TOP_NS)
    compared = pairs_of_lists(conn)
    assert len(compared) == 4 * len(TOP_NS) * (len({r[0] for r in rows}) - 1)
    for row, prev, cur in compared:
        for name, want in reference_measures(prev, cur).items():
            got = row[name]
            assert (got == want) if isinstance(want, list) else close(want, got), (name, prev, cur, want, got)
        for p, tag in ((0.9, "p90"), (0.98, "p98")):
            lowest, highest, ext = reference_rbo(prev, cur, p)
            assert close(lowest, row[f"rbo_min_{tag}"]) and close(highest, row[f"rbo_max_{tag}"]), (prev, cur, p)
            assert close(ext, row[f"rbo_ext_{tag}"]), (prev, cur, p)
            # invariants: RBO_MIN <= RBO_EXT <= RBO_MAX, all in [0, 1]
            lo, ext_, hi = row[f"rbo_min_{tag}"], row[f"rbo_ext_{tag}"], row[f"rbo_max_{tag}"]
            assert 0 <= lo <= ext_ + 1e-12 and ext_ <= hi + 1e-12 and hi <= 1 + 1e-12, (prev, cur, tag)
            assert close(row[f"rbo_res_{tag}"], hi - lo)
        assert close(row["turnover_rate"] + row["retention_rate"], 1.0)
        if len(prev) == len(cur) == row["top_n"]:
            assert close(row["turnover_rate"], row["n_exits"] / row["top_n"])
        assert 0 <= row["footrule_union_norm"] <= 1 and 0 <= row["fagin_K_norm"] <= 1
        if prev == cur:  # an unchanged list is zero churn by every measure
            assert row["entries"] == row["exits"] == [] and row["n_entries"] == row["n_exits"] == 0
            assert row["jaccard"] == 1 and row["footrule_union"] == 0 and row["fagin_K"] == 0
            assert row["retention_rate"] == 1 and row["leader_changed"] is False
            assert close(row["rbo_ext_p90"], 1.0) and close(row["rbo_ext_p98"], 1.0)
            for name in ("spearman_int", "kendall_taub_int", "spearman_union", "kendall_taub_union"):
                assert row[name] is None if len(cur) < 2 else close(row[name], 1.0), name
