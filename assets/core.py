"""Derive the core layer (current truth) from the raw layer, in SQL.

`build_core` is a full, deterministic rebuild: the same raw tables always give
the same core tables, which is what makes `tokentide rebuild` exact. Every
table is recomputed in full, but only the weeks (rows, for model_dim) that differ
are written: rewriting half a million unchanged rows costs several times more than
computing them (a new week touches a few thousand rows). `since_week` limits the
work to the weeks from that Monday on, which is exact because a core week is
derived from that week's buckets alone.

Every build also records what it changed (`raw.warehouse_info` key `marts_pending`: the earliest
week whose rows differ and the tables that differ), so the marts step can rebuild only what a run
changed, and nothing when a rerun changed nothing; the marts step clears it.
"""

import datetime as dt
import json

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


# Tables keyed by week; model_dim spans all weeks and is always derived in full (it is small).
WEEKLY_TABLES = ("market_week", "model_week", "segment_market_week", "segment_week")

# Each table's key (declared as a primary key in sql/ddl/core.sql except for segment_week, whose
# index would cost more than the table: build_core checks its rows' uniqueness instead).
KEYS = {
    "market_week": ("week_start",),
    "model_week": ("week_start", "model_permaslug"),
    "segment_market_week": ("week_start", "segment_type", "segment"),
    "segment_week": ("week_start", "segment_type", "segment", "model_permaslug"),
    "model_dim": ("model_permaslug",),
}


def build_core(conn: duckdb.DuckDBPyConnection, since_week: dt.date | None = None) -> dict[str, int]:
    """Rebuild the core tables from raw inside the caller's transaction: every week, or (with
    `since_week`) the weeks from that week's Monday on. Returns each table's row count."""
    since = since_week - dt.timedelta(days=since_week.weekday()) if since_week else dt.date.min
    conn.execute("set variable core_since = ?::date", [since])
    conn.execute(f"create or replace temp table latest_rankings as {read_sql('core/latest_rankings')}")
    conn.execute(f"create or replace temp table core_market_week_staged as {read_sql('core/market_week')}")
    counts: dict[str, int] = {}
    changed: dict[str, dt.date | None] = {}  # table -> earliest changed week (None: not weekly)
    for table in CORE_TABLES:
        source = "select * from core_market_week_staged" if table == "market_week" else read_sql(f"core/{table}")
        if table in WEEKLY_TABLES:
            counts[table], differs, first = _replace_weeks(conn, table, source, since)
        else:
            counts[table], differs = _replace_rows(conn, table, source)
            first = None  # not keyed by week
        if differs:
            changed[table] = first
    conn.execute("drop table latest_rankings")
    conn.execute("drop table core_market_week_staged")
    _record_changes(conn, changed)
    return counts


def _record_changes(conn: duckdb.DuckDBPyConnection, changed: dict[str, dt.date | None]) -> None:
    """Add this build's changes to those the marts have not yet absorbed (`marts_pending`)."""
    if not changed:
        return
    found = conn.execute("select value from raw.warehouse_info where key = 'marts_pending'").fetchall()
    pending = json.loads(found[0][0]) if found else {"since": None, "tables": []}
    weeks = [w for w in changed.values() if w is not None]
    if pending["since"]:
        weeks.append(dt.date.fromisoformat(pending["since"]))
    pending = {"since": min(weeks).isoformat() if weeks else None,
               "tables": sorted(set(pending["tables"]) | set(changed))}
    conn.execute("delete from raw.warehouse_info where key = 'marts_pending'")
    conn.execute("insert into raw.warehouse_info values ('marts_pending', ?)", [json.dumps(pending)])


def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> str:
    return ", ".join(c for (c,) in conn.execute(
        "select column_name from duckdb_columns() where schema_name = 'core' and table_name = ? "
        "order by column_index", [table]).fetchall())


def _replace_weeks(conn: duckdb.DuckDBPyConnection, table: str, source: str,
                   since: dt.date) -> tuple[int, int, dt.date | None]:
    """Make the weeks from `since` on of core.<table> equal to `source` (which holds only those
    weeks), rewriting only the weeks that differ. A week differs when its row count or the sum of
    its rows' 64-bit hashes does: comparing these per-week sums costs a fraction of a row-by-row
    set difference (W2: 4 M segment rows). Returns (rows, weeks rewritten, earliest of them)."""
    cols = _columns(conn, table)
    conn.execute(f"create or replace temp table _core_new as select {cols} from ({source})")
    _assert_unique(conn, table, "_core_new")
    digest = f"select week_start, count(*) as n, sum(hash({cols})::hugeint) as h from {{}} group by week_start"
    conn.execute(f"create or replace temp table _core_weeks as "
                 f"select week_start from ({digest.format('_core_new')}) as new "
                 f"full join ({digest.format(f'core.{table} where week_start >= $since')}) as old using (week_start) "
                 f"where new.n is distinct from old.n or new.h is distinct from old.h", {"since": since})
    weeks, first = conn.execute("select count(*), min(week_start) from _core_weeks").fetchall()[0]
    if weeks:
        conn.execute(f"delete from core.{table} where week_start in (from _core_weeks)")
        conn.execute(f"insert into core.{table} select {cols} from _core_new "
                     f"where week_start in (from _core_weeks)")
    count = conn.execute(f"select count(*) from core.{table}").fetchall()[0][0]
    conn.execute("drop table _core_new")
    conn.execute("drop table _core_weeks")
    return count, weeks, first


def _replace_rows(conn: duckdb.DuckDBPyConnection, table: str, source: str) -> tuple[int, int]:
    """Make core.<table> (one not keyed by week: model_dim) equal to `source`: delete the rows that
    changed or went, insert the new ones. Returns (rows, rows deleted or inserted)."""
    keys = KEYS[table]
    cols = _columns(conn, table)
    conn.execute(f"create or replace temp table _core_new as select {cols} from ({source})")
    _assert_unique(conn, table, "_core_new")
    # set differences compare whole rows, NULLs equal; a changed row is a delete plus an insert
    conn.execute(f"create or replace temp table _core_gone as "
                 f"select {', '.join(keys)} from (select {cols} from core.{table} except "
                 f"select {cols} from _core_new)")
    gone = conn.execute("select count(*) from _core_gone").fetchall()[0][0]
    if gone:
        match = " and ".join(f"t.{k} = g.{k}" for k in keys)
        conn.execute(f"delete from core.{table} as t using _core_gone as g where {match}")
    conn.execute(f"create or replace temp table _core_added as select {cols} from _core_new except "
                 f"select {cols} from core.{table}")
    added = conn.execute("select count(*) from _core_added").fetchall()[0][0]
    conn.execute(f"insert into core.{table} select * from _core_added")
    count = conn.execute("select count(*) from _core_new").fetchall()[0][0]
    for temp in ("_core_new", "_core_gone", "_core_added"):
        conn.execute(f"drop table {temp}")
    return count, gone + added


def _assert_unique(conn: duckdb.DuckDBPyConnection, table: str, rows: str) -> None:
    """core.<table>'s key holds on `rows` (a table or `table where ...`): a derivation bug stops the run."""
    keys = ", ".join(KEYS[table])
    # grouping one 64-bit hash is twice as fast as grouping the key columns (0.8 s for W2's 4 M
    # segment rows); only a repeated hash is then looked up exactly
    if not conn.execute(f"select count(*) from (select hash({keys}) as h from {rows} group by h "
                        f"having count(*) > 1)").fetchall()[0][0]:
        return
    dup = conn.execute(f"select {keys}, count(*) from {rows} group by all having count(*) > 1 limit 1").fetchall()
    if dup:
        raise ValueError(f"core.{table} would hold {dup[0][-1]} rows for the key "
                         f"({keys}) = {dup[0][:-1]}; nothing was written")
