"""Derive the core layer (current truth) from the raw layer, in SQL.

`build_core` is a full, deterministic rebuild: the same raw tables always give
the same core tables, which is what makes `tokentide rebuild` exact.
"""

import duckdb

from assets.sql import read_sql

# Dependency order: market totals first (model shares divide by them).
CORE_TABLES = (
    "market_week",
    "model_week",
    "segment_market_week",
    "segment_week",
    "model_dim",
)


def build_core(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rebuild every core table from raw inside the caller's transaction; returns row counts."""
    conn.execute(f"create or replace temp table latest_rankings as {read_sql('core/latest_rankings')}")
    conn.execute(f"create or replace temp table core_market_week_staged as {read_sql('core/market_week')}")
    counts: dict[str, int] = {}
    for table in CORE_TABLES:
        source = "select * from core_market_week_staged" if table == "market_week" else read_sql(f"core/{table}")
        conn.execute(f"delete from core.{table}")
        conn.execute(f"insert into core.{table} by name {source}")
        counts[table] = conn.execute(f"select count(*) from core.{table}").fetchall()[0][0]
    conn.execute("drop table latest_rankings")
    conn.execute("drop table core_market_week_staged")
    return counts
