"""Order-independent checksums of every warehouse table, to prove that `rebuild` reproduces a
warehouse exactly and that repeating a backfill changes nothing.

A table's checksum combines its column names and types with the sum of DuckDB's `hash()` of
every row, so it does not depend on row order or storage layout, only on the values. Nothing is
excluded: every timestamp in the warehouse (pulled_at, valid_from) comes from the raw manifest,
not the clock, so a rebuild from data/raw/ must match to the bit.
"""

import hashlib

import duckdb

SCHEMAS = ("raw", "core", "mart")


def table_checksums(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """`schema.table` -> `<rows>:<hex digest>` for every table of the raw, core and mart schemas."""
    tables = conn.execute(
        "select schema_name, table_name from duckdb_tables() where schema_name in ('raw', 'core', 'mart') "
        "order by all").fetchall()
    sums = {}
    for schema, table in tables:
        columns = conn.execute(
            "select string_agg(column_name || ' ' || data_type, ', ' order by column_index) from duckdb_columns() "
            "where schema_name = ? and table_name = ?", [schema, table]).fetchall()[0][0]
        # identifiers come from the catalogue, quoted; the row sum is taken modulo 2**64
        rows, row_sum = conn.execute(
            f'select count(*), coalesce(sum(hash(t)::hugeint), 0) % 18446744073709551616 from "{schema}"."{table}" t'
        ).fetchall()[0]
        digest = hashlib.sha256(f"{columns}|{rows}|{row_sum}".encode()).hexdigest()[:16]
        sums[f"{schema}.{table}"] = f"{rows}:{digest}"
    return sums
