"""Create the warehouse schemas and tables (idempotent) from `sql/ddl/`."""

import hashlib
import re
from functools import cache

import duckdb

from assets.sql import read_sql

DDL_FILES = ("ddl/raw", "ddl/core", "ddl/mart")


# Tables whose primary key was dropped from the DDL (see the notes in sql/ddl/): warehouses made
# before keep the index until `ensure_schema` copies the table into an unindexed one.
UNKEYED = ("raw.rankings", "core.segment_week")


@cache
def ddl_version() -> str:
    """Fingerprint of the DDL files."""
    digest = hashlib.sha256()
    for name in DDL_FILES:
        digest.update(read_sql(name).encode())
    return digest.hexdigest()[:16]


@cache
def _ddl_tables() -> frozenset[tuple[str, str]]:
    found = re.findall(r"create table if not exists (\w+)\.(\w+)", "\n".join(read_sql(n) for n in DDL_FILES))
    return frozenset(found)


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create every schema and table that does not exist yet; never drops data.

    The DDL (with its ~100 comment statements, each a catalogue write) runs only when the warehouse
    was made by other DDL or lacks one of its tables: every writer opens through here, three times
    per weekly run."""
    version = ddl_version()
    if _is_current(conn, version):
        return
    _drop_old_keys(conn)
    for name in DDL_FILES:
        conn.execute(read_sql(name))
    conn.execute("delete from raw.warehouse_info where key = 'ddl_version'")
    conn.execute("insert into raw.warehouse_info values ('ddl_version', ?)", [version])


def _is_current(conn: duckdb.DuckDBPyConnection, version: str) -> bool:
    tables = set(conn.execute("select schema_name, table_name from duckdb_tables()").fetchall())
    if not _ddl_tables() <= tables:
        return False
    found = conn.execute("select value from raw.warehouse_info where key = 'ddl_version'").fetchall()
    return found == [(version,)]


def _drop_old_keys(conn: duckdb.DuckDBPyConnection) -> None:
    for qualified in UNKEYED:
        schema, table = qualified.split(".")
        keyed = conn.execute("select count(*) from duckdb_constraints() where schema_name = ? and table_name = ? "
                             "and constraint_type = 'PRIMARY KEY'", [schema, table]).fetchall()[0][0]
        if keyed:  # DuckDB cannot drop a constraint: same rows, same order, new table
            conn.execute(f"create table {schema}._{table}_unkeyed as from {qualified}")
            conn.execute(f"drop table {qualified}")
            conn.execute(f"alter table {schema}._{table}_unkeyed rename to {table}")
