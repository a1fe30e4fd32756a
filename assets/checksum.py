"""Order-independent checksums of every warehouse table, to prove that `rebuild` reproduces a
warehouse exactly and that repeating a backfill changes nothing.

A table's checksum combines its column names and types with the sum of DuckDB's `hash()` of
every row, so it depends on the values only, not on row order or storage layout. Nothing is
excluded by default: every timestamp in the warehouse comes from a response body or from the
raw manifest (pulled_at, valid_from), never from the clock at build time, so a rebuild from
data/raw/ matches to the bit. Two warehouses fetched at different moments differ only in
FETCH_TIME_COLUMNS; pass them as `ignore` to compare such warehouses.
"""

import hashlib
from collections.abc import Iterable

import duckdb

SCHEMAS = ("raw", "core", "mart")
# When tokentide received a response (the catalogue's as_of and SCD validity are its fetch time).
FETCH_TIME_COLUMNS = ("raw.pulls.pulled_at", "raw.pulls.as_of", "core.models.valid_from", "core.models.valid_to")


def table_checksums(conn: duckdb.DuckDBPyConnection, ignore: Iterable[str] = ()) -> dict[str, str]:
    """`schema.table` -> `<rows>:<digest>` for every table of the raw, core and mart schemas;
    columns named in `ignore` (`schema.table.column`) are left out."""
    skipped = set(ignore)
    columns = conn.execute(
        "select schema_name, table_name, column_name, data_type from duckdb_columns() "
        "where schema_name in ('raw', 'core', 'mart') order by schema_name, table_name, column_index").fetchall()
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in columns:
        if f"{schema}.{table}.{column}" not in skipped:
            tables.setdefault((schema, table), []).append((column, data_type))
    sums = {}
    for (schema, table), cols in tables.items():
        # identifiers come from the catalogue and are quoted; the row sum is taken modulo 2**64
        values = ", ".join('"' + c.replace('"', '""') + '"' for c, _ in cols)
        rows, row_sum = conn.execute(
            f'select count(*), coalesce(sum(hash({values})::hugeint), 0) % 18446744073709551616 '
            f'from "{schema}"."{table}"').fetchall()[0]
        shape = ", ".join(f"{c} {t}" for c, t in cols)
        sums[f"{schema}.{table}"] = f"{rows}:" + hashlib.sha256(f"{shape}|{rows}|{row_sum}".encode()).hexdigest()[:16]
    return sums
