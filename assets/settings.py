"""Where tokentide keeps its files; every path can be overridden for tests and real use."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
CITATION = "Source: OpenRouter (openrouter.ai/rankings), as of {as_of}"
LICENCE_NOTE = "Licensed under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)."


def default_db_path() -> Path:
    """`TOKENTIDE_DB` if set, else `data/warehouse.duckdb` in the project."""
    return Path(os.environ.get("TOKENTIDE_DB") or DATA_DIR / "warehouse.duckdb").resolve()


def raw_dir_for(db_path: Path) -> Path:
    """Raw responses live beside the warehouse they feed: `<db dir>/raw/<db name>/`, so two
    warehouses in one folder (say live and demo) never share, or replay, each other's bodies."""
    db_path = Path(db_path).resolve()
    return db_path.parent / "raw" / db_path.stem


def reports_dir_for(db_path: Path) -> Path:
    """Reports live beside the warehouse they describe (`<db dir>/reports`)."""
    return Path(db_path).resolve().parent / "reports"
