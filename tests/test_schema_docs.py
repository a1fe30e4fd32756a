"""Analysts discover the schema with duckdb_columns(): every table and column is documented."""

import duckdb

from assets.marts import MARTS, build_marts
from tests.golden_support import load_golden_input


def test_every_table_and_column_has_a_comment(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    load_golden_input(conn, "golden_a_weekly_input")
    build_marts(conn)
    tables = conn.execute("select schema_name, table_name, comment from duckdb_tables() "
                          "where schema_name in ('raw', 'core', 'mart')").fetchall()
    assert {t for s, t, _ in tables if s == "mart"} == set(MARTS)
    assert [f"{s}.{t}" for s, t, c in tables if not c] == []
    undocumented = conn.execute(
        "select schema_name || '.' || table_name || '.' || column_name from duckdb_columns() "
        "where schema_name in ('raw', 'core', 'mart') and coalesce(comment, '') = ''").fetchall()
    assert undocumented == []
