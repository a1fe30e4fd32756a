"""Load the spec's golden vectors into a real warehouse and compare marts with them.

Inputs go in as raw pulls (period=week or day, like the Data API answers), then
through the real core build; marts are then built by the tests themselves.
"""

import datetime as dt
import math
from pathlib import Path

import duckdb
import polars as pl

from assets.core import build_core
from assets.schema import ensure_schema

GOLDEN = Path(__file__).parent / "golden"
AS_OF = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC)


def read_golden(name: str) -> pl.DataFrame:
    """A golden CSV with every column as text (empty cell = NULL), as the spec writes them."""
    return pl.read_csv(GOLDEN / f"{name}.csv", infer_schema=False)


def load_golden_input(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    """Land golden input `name` (e.g. golden_a_weekly_input) as one pull and build core."""
    frame = read_golden(name)
    period = "day" if "date" in frame.columns else "week"
    bucket = "date" if period == "day" else "week_start"
    rows = frame.select(
        pl.col(bucket).str.to_date().alias("bucket_date"),
        pl.when(pl.col("is_other") == "true").then(pl.lit("other"))
        .otherwise(pl.col("model_id")).alias("model_permaslug"),
        pl.col("tokens").str.to_integer(strict=True).alias("tokens"),
    )
    land_rankings(conn, rows, period=period, pull_id=f"golden-{name}")


def land_rankings(
    conn: duckdb.DuckDBPyConnection, rows: pl.DataFrame, *, period: str = "week", pull_id: str = "synthetic",
    segment_type: str = "all", segment: str = "",
) -> None:
    """Land ranking rows (bucket_date, model_permaslug incl. `other`, tokens) as one pull and build core.

    Generic entry for generated markets (property tests, benchmarks): rows go in
    in the given order per bucket, like the API lists them; buckets left out are
    missing weeks (or days), not zeros. `segment_type`/`segment` land a use-case
    segment (category or modality) instead of the main ranking.
    """
    ensure_schema(conn)
    rows = rows.select("bucket_date", "model_permaslug", pl.col("tokens").cast(pl.Int64)).with_columns(
        pl.int_range(1, pl.len() + 1).over("bucket_date").cast(pl.Int32).alias("position")
    )
    start, end = rows["bucket_date"].min(), rows["bucket_date"].max()
    if period == "week":
        end = end + dt.timedelta(days=6)
    conn.execute(
        """insert into raw.pulls values (?, 'datasets/rankings-daily', '{}', ?, ?, ?, ?, ?, 200,
           ?, ?, ?, ?, ?, '', 0, ?, ?)""",
        [pull_id, period, segment_type, segment, start, end, AS_OF, start, end, AS_OF, pull_id, rows.height,
         rows["bucket_date"].n_unique()],
    )
    conn.register("golden_rows", rows)
    conn.execute(
        f"""insert into raw.rankings
            select '{pull_id}', '{period}', ?, ?, bucket_date, model_permaslug, tokens,
                   position, ?::timestamptz
            from golden_rows""",
        [segment_type, segment, AS_OF],
    )
    conn.unregister("golden_rows")
    build_core(conn)


def close(a: float | None, b: float | None, rel: float = 1e-9, abs_: float = 0.0) -> bool:
    """The spec's comparison: |a−b| ≤ rel·max(1,|a|,|b|) (or ≤ abs_ for p-values); NULL = NULL."""
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(rel * max(1.0, abs(a), abs(b)), abs_)


def assert_matches_golden(
    actual: pl.DataFrame,
    expected: pl.DataFrame,
    keys: list[str],
    *,
    abs_tolerance: dict[str, float] | None = None,
    skip: tuple[str, ...] = (),
) -> None:
    """Every expected column equals the actual one, row by row on `keys` (spec §7 tolerances).

    Numbers compare with relative 1e-9; text and booleans compare exactly; a
    column listed in `abs_tolerance` compares with that absolute tolerance.
    """
    abs_tolerance = abs_tolerance or {}
    actual_text = actual.select([pl.col(c).cast(pl.String) for c in actual.columns])
    missing = [c for c in expected.columns if c not in actual.columns and c not in skip]
    assert not missing, f"mart lacks golden columns: {missing}"
    joined = expected.join(actual_text, on=keys, how="left", suffix="__actual")
    assert joined.height == expected.height
    problems = []
    for row in joined.iter_rows(named=True):
        where = ", ".join(f"{k}={row[k]}" for k in keys)
        for column in expected.columns:
            if column in keys or column in skip:
                continue
            want, got = row[column], row.get(f"{column}__actual")
            if want in (None, "") and got in (None, ""):
                continue
            try:
                ok = close(
                    float(want) if want not in (None, "") else None,
                    float(got) if got not in (None, "") else None,
                    abs_=abs_tolerance.get(column, 0.0),
                )
            except ValueError:
                ok = str(want).lower() == str(got).lower()
            if not ok:
                problems.append(f"{where}: {column} expected {want!r}, got {got!r}")
    assert not problems, "\n".join(problems[:40])
