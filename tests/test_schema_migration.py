"""Warehouses made before the unkeyed tables (sql/ddl notes) are upgraded in place by the first
writer: same rows, no index, comments kept; and core still refuses a duplicate key."""

import duckdb
import pytest

from assets.core import _assert_unique
from assets.schema import UNKEYED, ensure_schema

OLD_RANKINGS = """
create schema raw;
create table raw.rankings (
    pull_id varchar not null, period varchar not null, segment_type varchar not null,
    segment varchar not null, bucket_date date not null, model_permaslug varchar not null,
    tokens bigint not null, position integer not null, as_of timestamptz not null,
    primary key (pull_id, period, segment_type, segment, bucket_date, model_permaslug));
insert into raw.rankings values
    ('p1', 'week', 'all', '', date '2025-01-06', 'a/x', 12345678901234, 1, timestamptz '2025-01-13 00:00:00+00'),
    ('p1', 'week', 'all', '', date '2025-01-06', 'other', 5, 2, timestamptz '2025-01-13 00:00:00+00');
"""


def test_an_old_keyed_table_is_copied_into_an_unkeyed_one_with_its_rows_and_comments():
    conn = duckdb.connect()
    conn.execute(OLD_RANKINGS)
    before = conn.execute("from raw.rankings order by all").fetchall()
    ensure_schema(conn)
    keys = conn.execute("select schema_name || '.' || table_name from duckdb_constraints() "
                        "where constraint_type = 'PRIMARY KEY'").fetchall()
    assert not {k for (k,) in keys} & set(UNKEYED)
    assert conn.execute("from raw.rankings order by all").fetchall() == before
    assert conn.execute("select comment from duckdb_tables() where table_name = 'rankings'").fetchall()[0][0]
    ensure_schema(conn)  # idempotent
    assert conn.execute("select count(*) from raw.rankings").fetchall()[0][0] == 2


def test_core_names_a_duplicate_key_instead_of_writing_it():
    conn = duckdb.connect()
    ensure_schema(conn)
    conn.execute("create temp table rows as select date '2025-01-06' as week_start, 'category' as segment_type, "
                 "'programming' as segment, 'a/x' as model_permaslug from range(2)")
    with pytest.raises(ValueError, match=r"core.segment_week would hold 2 rows for the key.*programming.*a/x"):
        _assert_unique(conn, "segment_week", "rows")
