"""Every SQL example in the README runs against a real warehouse (docs that rot are worse than none)."""

import re
from pathlib import Path

import duckdb
import pytest

from assets.marts import build_marts
from tests.golden_support import load_golden_input

README = Path(__file__).resolve().parents[1] / "README.md"


def statements() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.S)
    found = [s.strip() for block in blocks for s in block.split(";")]
    return [s for s in found if any(line.strip() and not line.strip().startswith("--") for line in s.splitlines())]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    conn = duckdb.connect(str(tmp_path_factory.mktemp("readme") / "w.duckdb"))
    load_golden_input(conn, "golden_b_weekly_input")
    build_marts(conn)
    yield conn
    conn.close()


def test_readme_has_sql_examples():
    assert len(statements()) >= 8


@pytest.mark.parametrize("sql", statements(), ids=lambda s: s.splitlines()[0][:60])
def test_readme_sql_runs(warehouse, sql):
    rows = warehouse.execute(sql).fetchall()
    assert isinstance(rows, list)
