"""Create the warehouse schemas and tables (idempotent) from `sql/ddl/`."""

import duckdb

from assets.sql import read_sql

DDL_FILES = ("ddl/raw", "ddl/core", "ddl/mart")


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create every schema and table that does not exist yet; never drops data."""
    for name in DDL_FILES:
        conn.execute(read_sql(name))
