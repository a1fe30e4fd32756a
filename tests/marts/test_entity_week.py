import duckdb
import polars as pl

from assets.marts import build_marts
from tests.golden_support import load_golden_input


def test_author_level_sums_listed_variants(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    load_golden_input(conn, "golden_a_weekly_input")
    build_marts(conn, names=("entity_week",))
    deepseek = conn.sql(
        "select week_start::varchar, tokens, n_members from mart.entity_week "
        "where level = 'author' and entity_id = 'deepseek' order by week_start"
    ).pl()
    # spec §1.7: deepseek shows 145 → 85 → 80 B as its listed variants change
    assert deepseek["tokens"].to_list() == [145 * 10**9, 85 * 10**9, 80 * 10**9]
    assert deepseek["n_members"].to_list() == [2, 1, 1]
    changed = conn.sql(
        "select members_changed from mart.entity_week where level='author' and entity_id='deepseek' order by wk"
    ).pl()["members_changed"].to_list()
    assert changed == [None, True, True]


def test_price_tiers_partition_the_named_market(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    load_golden_input(conn, "golden_a_weekly_input")
    build_marts(conn, names=("entity_week",))
    sums = conn.sql(
        "select week_start, level, sum(tokens) s, any_value(total_tokens - other_tokens) named "
        "from mart.entity_week group by all"
    ).pl()
    assert sums.height == 12
    assert (sums["s"] == sums["named"]).all()
