"""Build the mart layer: one table per `sql/marts/<name>.sql` (or a polars builder).

Marts are built inside the caller's private copy of the warehouse (see `Warehouse.writer`), which
is published only when the whole run succeeded, so readers see the old marts or the new ones,
never half. Comments live beside the query in `sql/marts/<name>.comments.sql`.

Two things keep the weekly run from growing with history:
- Incremental builds. Core records the earliest week a run changed (`marts_pending`, see
  `assets.core`; for core.model_dim, the earliest week its changes can reach, so a mart reading it
  is rebuilt in full only after a catalogue change); a mart whose query uses the `since_week`
  variable then replaces only its stale rows (`week_start >= since_week`, or the predicate in
  `sql/marts/<name>.stale.sql`) with the rows its query returns. The query returns exactly those
  rows, bit for bit what a full build gives (tests/marts/test_incremental_marts.py). A full build
  is the same query with since_week 1900-01-01. Marts whose query does not use `since_week` are
  rebuilt in full (retention_curve: a few hundred rows of means over mart.retention).
- Two marts at a time. Each query runs on one DuckDB thread (parallel float sums would add in a
  varying order and `rebuild` could not reproduce the checksums), so independent marts run side
  by side on two connections, in the order their `mart.*` references allow.
"""

import datetime as dt
import hashlib
import importlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

import duckdb

from assets.sql import SQL_DIR, read_sql

FULL_SINCE = dt.date(1900, 1, 1)  # a Monday before any data: since_week of a full build
WORKERS = 2  # the machine class has 2 cores
T = TypeVar("T")

# Build order: every mart reads core plus the marts listed before it.
MARTS: tuple[str, ...] = (
    "entity_week",
    "growth",
    "leaderboard",
    "market_week",
    "noise_vs_trend",
    "rank_churn",
    "fragmentation",
    "top_spells",
    "retention",
    "retention_curve",
    "segment_leaders",
    "succession",
)


# Measured at W2 (bench W2 mart.* times): the marts that take longest once entity_week is built.
LONGEST = ("noise_vs_trend", "growth")


@dataclass(frozen=True)
class MartParams:
    """Constants of the metric spec (§0.4), set as DuckDB variables for the SQL."""

    top_ns: tuple[int, ...] = (10, 20, 50)
    m_max_models: int = 400
    m_max_authors: int = 60

    def apply(self, conn: duckdb.DuckDBPyConnection) -> None:
        conn.execute(f"set variable top_ns = {list(self.top_ns)}::integer[]")
        conn.execute(f"set variable m_max_models = {int(self.m_max_models)}")
        conn.execute(f"set variable m_max_authors = {int(self.m_max_authors)}")


def mart_query(name: str) -> str:
    """The SELECT that defines `mart.<name>` (SQL file or polars builder)."""
    return read_sql(f"marts/{name}")


def _is_sql(name: str) -> bool:
    return (SQL_DIR / "marts" / f"{name}.sql").exists()


def is_incremental(name: str) -> bool:
    """True when the mart's query rebuilds only the rows from `since_week` on (its stale rows are
    deleted and the query's rows inserted)."""
    return _is_sql(name) and "since_week" in mart_query(name)


def stale_predicate(name: str) -> str:
    """Which of the mart's rows a change from `since_week` on makes stale."""
    path = SQL_DIR / "marts" / f"{name}.stale.sql"
    return path.read_text().strip() if path.exists() else "week_start >= getvariable('since_week')"


def reads(name: str, schema: str) -> set[str]:
    """Tables of `schema` the mart's query reads (from its text)."""
    if not _is_sql(name):
        return set(MARTS[: MARTS.index(name)]) if schema == "mart" else set()
    code = re.sub(r"--[^\n]*", "", mart_query(name))  # a table named in a comment is not read
    found = set(re.findall(rf"\b{schema}\.(\w+)", code))
    return found - {name} if schema == "mart" else found


def build_mart(conn: duckdb.DuckDBPyConnection, name: str, since_week: dt.date | None = None) -> int:
    """Build `mart.<name>`: in full, or (with `since_week`, if the mart exists and is incremental)
    only its rows that changes from that week on make stale. Returns its row count."""
    exists = conn.execute("select count(*) from duckdb_tables() where schema_name = 'mart' and table_name = ?",
                          [name]).fetchall()[0][0]
    if since_week is not None and exists and is_incremental(name):
        conn.execute("set variable since_week = ?::date", [since_week])
        conn.execute(f"delete from mart.{name} where {stale_predicate(name)}")
        conn.execute(f"insert into mart.{name} by name {mart_query(name)}")
        return conn.execute(f"select count(*) from mart.{name}").fetchall()[0][0]
    conn.execute("set variable since_week = ?::date", [FULL_SINCE])
    if _is_sql(name):
        conn.execute(f"create or replace table mart.{name} as {mart_query(name)}")
    else:
        # A mart that SQL would contort is a polars function `build(conn) -> DataFrame`.
        frame = importlib.import_module(f"assets.mart_builders.{name}").build(conn)
        conn.register(f"_mart_{name}", frame)
        conn.execute(f"create or replace table mart.{name} as select * from _mart_{name}")
        conn.unregister(f"_mart_{name}")
    comments = SQL_DIR / "marts" / f"{name}.comments.sql"
    if comments.exists():
        conn.execute(comments.read_text())
    return conn.execute(f"select count(*) from mart.{name}").fetchall()[0][0]


def build_marts(
    conn: duckdb.DuckDBPyConnection,
    params: MartParams = MartParams(),
    names: tuple[str, ...] = MARTS,
    since: dict[str, dt.date | None] | dt.date | None = None,
    workers: int = WORKERS,
    on_built: Callable[[str, int, float], None] | None = None,
) -> dict[str, int]:
    """Build the named marts, up to `workers` at a time on cursors of `conn`, each after the marts it
    reads. `since` is one week for every mart, or a week (None: in full) per mart name.

    The cursors are separate connections, so `conn`'s open transaction is committed first (and a
    new one begun after): atomicity comes from the private copy being published, not from it."""
    weeks = since if isinstance(since, dict) else {name: since for name in names}
    reopen = _commit_if_open(conn)
    counts: dict[str, int] = {}
    local = threading.local()
    cursors: list[duckdb.DuckDBPyConnection] = []
    guard = threading.Lock()

    def work(name: str) -> tuple[int, float]:
        start = time.perf_counter()
        cur = getattr(local, "cursor", None)
        if cur is None:
            cur = local.cursor = conn.cursor()
            prepare_marts(cur, params)
            with guard:
                cursors.append(cur)
        rows = build_mart(cur, name, weeks.get(name))
        return rows, time.perf_counter() - start

    deps = {name: reads(name, "mart") & set(names) for name in names}
    # the longest builds start first, so the short ones fill the other worker at the end: in a full
    # build LONGEST; in an incremental one, the marts rebuilt in full and those they feed
    full = {name for name in names if weeks.get(name) is None or not is_incremental(name)}
    feeds_full = {name for name in names if name in full or any(name in deps[m] for m in full)}
    names = sorted(names, key=lambda n: (n not in feeds_full if len(full) < len(names) else 0,
                                         n not in LONGEST, LONGEST.index(n) if n in LONGEST else MARTS.index(n)))
    try:
        for name, (rows, seconds) in _run_in_order(names, deps, work, workers):
            counts[name] = rows
            if on_built:
                on_built(name, rows, seconds)
    finally:
        for cur in cursors:
            cur.close()
        if reopen:
            conn.execute("begin")
    return counts


def _run_in_order(names: Iterable[str], deps: dict[str, set[str]], work: Callable[[str], T],
                  workers: int) -> Iterable[tuple[str, T]]:
    """Run `work(name)` on a pool, each name after its deps, earliest in `names` first."""
    pending, done, running = list(names), set(), {}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="mart") as pool:
        try:
            while pending or running:
                for name in [n for n in pending if deps[n] <= done][: workers - len(running)]:
                    pending.remove(name)
                    running[pool.submit(work, name)] = name
                if not running:
                    raise ValueError(f"marts {pending} wait for each other: "
                                     + "; ".join(f"{n} reads {sorted(deps[n] - done)}" for n in pending))
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    yield name, future.result()
                    done.add(name)
        finally:
            pending.clear()  # after a failure, start nothing new; the pool waits for the running one


def _commit_if_open(conn: duckdb.DuckDBPyConnection) -> bool:
    try:
        conn.execute("commit")
        return True
    except duckdb.TransactionException:
        return False  # autocommit: nothing to commit


def prepare_marts(conn: duckdb.DuckDBPyConnection, params: MartParams = MartParams()) -> None:
    """Set the spec constants and the shared SQL helpers (temp macros) on this connection."""
    params.apply(conn)
    conn.execute(read_sql("marts/macros"))


def marts_version(params: MartParams = MartParams()) -> str:
    """Fingerprint of the mart definitions: marts built by other code are rebuilt in full."""
    digest = hashlib.sha256(repr(params).encode())
    for path in sorted((SQL_DIR / "marts").glob("*.sql")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def refresh_marts(conn: duckdb.DuckDBPyConnection, params: MartParams = MartParams(),
                  names: tuple[str, ...] = MARTS, full: bool = False,
                  on_built: Callable[[str, int, float], None] | None = None) -> dict[str, int]:
    """Bring the named marts up to date with core, doing only what core's pending changes require:
    nothing if core did not change since the marts were built, the stale rows of incremental marts
    if it did, everything if `full` or the mart definitions changed. Returns rows by mart built."""
    info = dict(conn.execute("select key, value from raw.warehouse_info "
                             "where key in ('marts_pending', 'marts_version')").fetchall())
    version = marts_version(params)
    built = {name for (name,) in conn.execute(
        "select table_name from duckdb_tables() where schema_name = 'mart'").fetchall()}
    if full or info.get("marts_version") != version or not set(names) <= built:
        since: dict[str, dt.date | None] = {name: None for name in names}
    elif "marts_pending" not in info:
        return {}
    else:
        since = _since_by_mart(json.loads(info["marts_pending"]), names)
    todo = tuple(name for name in names if name in since)
    counts = build_marts(conn, params, todo, since, on_built=on_built)
    if set(names) == set(MARTS):  # a subset leaves the rest stale: keep the record for them
        conn.execute("delete from raw.warehouse_info where key in ('marts_pending', 'marts_version')")
        conn.execute("insert into raw.warehouse_info values ('marts_version', ?)", [version])
    return counts


def _since_by_mart(pending: dict, names: tuple[str, ...]) -> dict[str, dt.date | None]:
    """Per mart that core's changes reach: the week to rebuild from (None: in full). A weekly core
    table reaches from pending["since"], model_dim from pending["reach"]["model_dim"] (None, or
    missing as in older records, or read by a mart that reads its look-ahead columns: in full)."""
    week = dt.date.fromisoformat(pending["since"]) if pending.get("since") else None
    tables = set(pending.get("tables", ()))
    reach = {t: dt.date.fromisoformat(w) if w else None for t, w in pending.get("reach", {}).items()}
    since: dict[str, dt.date | None] = {}
    for name in MARTS:  # dependency order
        if name not in names:
            continue
        # model_dim columns that count later weeks too: a change in week w alters them in older
        # rows, so model_dim's reach does not hold for a mart reading them (see assets.core)
        looks_ahead = _is_sql(name) and bool(re.search(r"\b(last_seen_week|weeks_listed)\b",
                                                        re.sub(r"--[^\n]*", "", mart_query(name))))
        hits = [week if t != "model_dim" else None if looks_ahead else reach.get(t)
                for t in reads(name, "core") & tables]
        hits += [since[m] for m in reads(name, "mart") if m in since]
        if hits:
            since[name] = None if None in hits else min(hits)
    return since


_COMMENT = re.compile(
    r"comment on (table|column) mart\.(\w+)(?:\.(\w+))? is '((?:[^']|'')*)'", re.IGNORECASE
)


def mart_docs(name: str) -> tuple[str, dict[str, str]]:
    """(table comment, {column: comment}) of a mart, for Dagster descriptions."""
    path = SQL_DIR / "marts" / f"{name}.comments.sql"
    table, columns = "", {}
    if path.exists():
        for kind, _table, column, text in _COMMENT.findall(path.read_text()):
            text = text.replace("''", "'")
            if kind.lower() == "table":
                table = text
            else:
                columns[column] = text
    return table, columns
