"""Derive the core layer (current truth) from the raw layer, in SQL.

`build_core` is a full, deterministic rebuild: the same raw tables always give
the same core tables, which is what makes `tokentide rebuild` exact. Every
table is recomputed in full, but only the weeks (rows, for model_dim) that differ
are written: rewriting half a million unchanged rows costs several times more than
computing them (a new week touches a few thousand rows). `since_week` limits the
work to the weeks from that Monday on, which is exact because a core week is
derived from that week's buckets alone.

Every build also records what it changed (`raw.warehouse_info` key `marts_pending`: the earliest
week whose rows differ, the tables that differ and, for model_dim, the earliest week whose mart
rows its changes can reach), so the marts step can rebuild only what a run changed, and nothing
when a rerun changed nothing; the marts step clears it.

model_dim's reach (`_model_dim_reach`) holds for marts whose row of week t reads, of the models
listed in week t, their catalogue columns, first_seen_week and their base model's earliest
created_at: all of these are as they were unless a model went, a catalogue column of a model
changed, or a new model (a variant) moved its base model's earliest created_at (then: every week,
None). Otherwise the changes are new models, from their first week listed, and the week columns
of known models, which come from core.model_week and so change only from its earliest changed
week (a first_seen_week at or before t depends on weeks up to t alone). last_seen_week and
weeks_listed count later weeks too: `assets.marts` rebuilds a mart reading them in full.
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

# model_dim's columns derived from core.model_week; the others come from the slug or the catalogue.
WEEK_COLUMNS = ("first_seen_week", "last_seen_week", "weeks_listed")

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
    since = first_week_rebuilt(since_week)
    conn.execute("set variable core_since = ?::date", [since])
    conn.execute(f"create or replace temp table latest_rankings as {read_sql('core/latest_rankings')}")
    conn.execute(f"create or replace temp table core_market_week_staged as {read_sql('core/market_week')}")
    counts: dict[str, int] = {}
    # table -> earliest changed week; for model_dim, the earliest week its changes reach (None: any)
    changed: dict[str, dt.date | None] = {}
    for table in CORE_TABLES:
        source = "select * from core_market_week_staged" if table == "market_week" else read_sql(f"core/{table}")
        if table in WEEKLY_TABLES:
            counts[table], differs, first = _replace_weeks(conn, table, source, since)
        else:
            weekly = [w for w in changed.values() if w is not None]  # model_dim comes last
            counts[table], differs, first = _replace_rows(conn, table, source, min(weekly, default=None))
        if differs:
            changed[table] = first
    conn.execute("drop table latest_rankings")
    conn.execute("drop table core_market_week_staged")
    _record_changes(conn, changed)
    return counts


def first_week_rebuilt(since_week: dt.date | None) -> dt.date:
    """The Monday from which build_core(since_week=...) rebuilds (every week: date.min)."""
    return since_week - dt.timedelta(days=since_week.weekday()) if since_week else dt.date.min


def _record_changes(conn: duckdb.DuckDBPyConnection, changed: dict[str, dt.date | None]) -> None:
    """Add this build's changes to those the marts have not yet absorbed (`marts_pending`):
    {"since": earliest changed week of the weekly tables, "tables": tables that differ,
    "reach": {model_dim: earliest week its changes reach, None: any}}. A record without "reach"
    (older warehouses) means model_dim's changes reach any week."""
    if not changed:
        return
    found = conn.execute("select value from raw.warehouse_info where key = 'marts_pending'").fetchall()
    pending = json.loads(found[0][0]) if found else {"since": None, "tables": []}
    weeks = [w for t, w in changed.items() if t in WEEKLY_TABLES and w is not None]
    if pending["since"]:
        weeks.append(dt.date.fromisoformat(pending["since"]))
    reach = {}
    for table in (t for t in CORE_TABLES if t not in WEEKLY_TABLES):
        hits = [changed[table]] if table in changed else []
        if table in pending["tables"]:
            week = pending.get("reach", {}).get(table)
            hits.append(dt.date.fromisoformat(week) if week else None)
        if hits:
            reach[table] = None if None in hits else min(hits).isoformat()
    pending = {"since": min(weeks).isoformat() if weeks else None,
               "tables": sorted(set(pending["tables"]) | set(changed)), "reach": reach}
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


def _replace_rows(conn: duckdb.DuckDBPyConnection, table: str, source: str,
                  floor: dt.date | None) -> tuple[int, int, dt.date | None]:
    """Make core.<table> (one not keyed by week: model_dim) equal to `source`: delete the rows that
    changed or went, insert the new ones. `floor` is the earliest week the weekly tables changed.
    Returns (rows, rows deleted or inserted, earliest week the changes reach; None: any)."""
    keys = KEYS[table]
    cols = _columns(conn, table)
    conn.execute(f"create or replace temp table _core_new as select {cols} from ({source})")
    _assert_unique(conn, table, "_core_new")
    # set differences compare whole rows, NULLs equal; a changed row is a delete plus an insert
    conn.execute(f"create or replace temp table _core_gone as select {cols} from core.{table} except "
                 f"select {cols} from _core_new")
    conn.execute(f"create or replace temp table _core_added as select {cols} from _core_new except "
                 f"select {cols} from core.{table}")
    gone = conn.execute("select count(*) from _core_gone").fetchall()[0][0]
    added = conn.execute("select count(*) from _core_added").fetchall()[0][0]
    reach = _model_dim_reach(conn, floor) if gone + added else None  # before core.model_dim changes
    if gone:
        match = " and ".join(f"t.{k} = g.{k}" for k in keys)
        conn.execute(f"delete from core.{table} as t using _core_gone as g where {match}")
    conn.execute(f"insert into core.{table} select * from _core_added")
    count = conn.execute("select count(*) from _core_new").fetchall()[0][0]
    for temp in ("_core_new", "_core_gone", "_core_added"):
        conn.execute(f"drop table {temp}")
    return count, gone + added, reach


def _model_dim_reach(conn: duckdb.DuckDBPyConnection, floor: dt.date | None) -> dt.date | None:
    """The earliest week whose mart rows model_dim's change (old rows `_core_gone`, new rows
    `_core_added`, all new rows `_core_new`) can alter, None for any week (module docstring).
    `floor`: the earliest week the weekly tables changed, hence the week columns of known models."""
    catalogue = [c for c in _columns(conn, "model_dim").split(", ") if c not in WEEK_COLUMNS]
    any_week = conn.execute(f"""
        select
            -- a model went, or a column other than the week columns changed
            (select count(*) from _core_gone as o left join _core_added as n using (model_permaslug)
             where n.model_permaslug is null
                or {" or ".join(f"o.{c} is distinct from n.{c}" for c in catalogue)})
            -- a base model's earliest created_at moved (a new variant can do that)
          + (select count(*)
             from (select base_model, min(created_at) as c from core.model_dim group by base_model) as o
             join (select base_model, min(created_at) as c from _core_new group by base_model) as n
                 using (base_model)
             where o.c is distinct from n.c)
    """).fetchall()[0][0]
    if any_week:
        return None
    # new models reach from their first week listed (none: no row); known ones' week columns from floor
    new_first, known_changed = conn.execute("""
        select min(n.first_seen_week) filter (where o.model_permaslug is null),
               count(*) filter (where o.model_permaslug is not null)
        from _core_added as n left join _core_gone as o using (model_permaslug)
    """).fetchall()[0]
    if known_changed and floor is None:
        return None  # cannot happen (the week columns come from the weekly tables): be safe
    weeks = [w for w in (new_first, floor if known_changed else None) if w is not None]
    # a change that reaches no row (a new model never listed) takes the run's earliest changed
    # week, or (no week changed: a catalogue-only run) None
    return min(weeks, default=floor)


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
