"""Create the warehouse schemas and tables (idempotent) from `sql/ddl/`."""

import duckdb

from assets.sql import read_sql

DDL_FILES = ("ddl/raw", "ddl/core", "ddl/mart")


# Tables whose primary key was dropped from the DDL (see the notes in sql/ddl/): warehouses made
# before keep the index until `ensure_schema` copies the table into an unindexed one.
UNKEYED = ("raw.rankings", "core.segment_week")


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create every schema and table that does not exist yet; never drops data."""
    _drop_old_keys(conn)
    for name in DDL_FILES:
        conn.execute(read_sql(name))


def _drop_old_keys(conn: duckdb.DuckDBPyConnection) -> None:
    for qualified in UNKEYED:
        schema, table = qualified.split(".")
        keyed = conn.execute("select count(*) from duckdb_constraints() where schema_name = ? and table_name = ? "
                             "and constraint_type = 'PRIMARY KEY'", [schema, table]).fetchall()[0][0]
        if keyed:  # DuckDB cannot drop a constraint: same rows, same order, new table
            conn.execute(f"create table {schema}._{table}_unkeyed as from {qualified}")
            conn.execute(f"drop table {qualified}")
            conn.execute(f"alter table {schema}._{table}_unkeyed rename to {table}")
