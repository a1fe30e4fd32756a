"""Locate and load the SQL files under `sql/` by name (e.g. `read_sql("marts/growth")`)."""

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@cache
def read_sql(name: str) -> str:
    """Text of `sql/<name>.sql`; names are relative paths without the suffix."""
    return (SQL_DIR / f"{name}.sql").read_text()
