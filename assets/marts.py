"""Build the mart layer: one table per `sql/marts/<name>.sql` (or a polars builder).

Each mart is replaced with a single `create or replace table` inside the
caller's transaction, so readers see the old table or the new one, never half.
Comments live beside the query in `sql/marts/<name>.comments.sql`.
"""

import importlib
import re
from dataclasses import dataclass

import duckdb

from assets.sql import SQL_DIR, read_sql

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
    "segment_leaders",
    "succession",
)


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


def build_mart(conn: duckdb.DuckDBPyConnection, name: str) -> int:
    """Replace `mart.<name>` and its comments; returns its row count."""
    if (SQL_DIR / "marts" / f"{name}.sql").exists():
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
) -> dict[str, int]:
    """Rebuild the named marts in dependency order; returns row counts by mart."""
    prepare_marts(conn, params)
    return {name: build_mart(conn, name) for name in names}


def prepare_marts(conn: duckdb.DuckDBPyConnection, params: MartParams = MartParams()) -> None:
    """Set the spec constants and the shared SQL helpers (temp macros) on this connection."""
    params.apply(conn)
    conn.execute(read_sql("marts/macros"))


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
