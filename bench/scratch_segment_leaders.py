"""Time mart.segment_leaders and mart.succession at the benchmark size (520 weeks x 500 listed
models, 17 use-case segments x 50 listed), plus the weekly brief on that warehouse.

uv run python bench/scratch_segment_leaders.py [/tmp/bench.duckdb]
"""

import datetime as dt
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from assets.core import build_core  # noqa: E402
from assets.marts import MartParams, build_marts  # noqa: E402
from assets.sql import SQL_DIR  # noqa: E402
from tests.golden_support import AS_OF, land_rankings  # noqa: E402

WEEKS, LISTED, POOL, STEP = 520, 500, 700, 3
START = dt.date(2016, 1, 4)
SEGMENTS = [("category", c) for c in ("programming", "roleplay", "marketing", "marketing/seo", "technology",
                                      "science", "translation", "legal", "finance", "health", "trivia", "academia")]
SEGMENTS += [("modality", m) for m in ("text", "image", "image_output", "audio", "tool_calling")]


def market(rng) -> pl.DataFrame:
    weeks = np.repeat(np.arange(WEEKS), POOL)
    ids = weeks * STEP + np.tile(np.arange(POOL), WEEKS)  # a sliding pool: models arrive and age out
    tokens = (rng.lognormal(20, 1.5, ids.size) * (1 + 0.1 * np.sin(ids))).astype(np.int64) + 1
    frame = pl.DataFrame({"w": weeks, "id": ids, "tokens": tokens}).with_columns(
        (pl.lit("author") + (pl.col("id") % 60).cast(pl.String) + "/m" + pl.col("id").cast(pl.String)
         + pl.when(pl.col("id") % 9 == 0).then(pl.lit(":free")).otherwise(pl.lit(""))).alias("model_permaslug"))
    frame = frame.sort(["w", "tokens", "model_permaslug"], descending=[False, True, False])
    frame = frame.with_columns(pl.int_range(pl.len()).over("w").alias("pos"))
    listed = frame.filter(pl.col("pos") < LISTED)
    other = frame.filter(pl.col("pos") >= LISTED).group_by("w").agg(pl.col("tokens").sum()).with_columns(
        pl.lit("other").alias("model_permaslug"))
    rows = pl.concat([listed.select("w", "model_permaslug", "tokens"), other.select("w", "model_permaslug", "tokens")])
    return rows.sort("w", maintain_order=True).with_columns(
        (pl.lit(START) + pl.duration(weeks=pl.col("w"))).alias("bucket_date")).drop("w")


def main(db: Path) -> None:
    rng = np.random.default_rng(7)
    db.unlink(missing_ok=True)
    conn = duckdb.connect(str(db))
    rows = market(rng)
    land_rankings(conn, rows, pull_id="bench")
    named = rows.filter(pl.col("model_permaslug") != "other")
    for kind, name in SEGMENTS:  # each segment: a random 50 of the week's list, scaled down, plus other
        seg = named.sample(fraction=1.0, seed=int(rng.integers(1 << 30))).with_columns(
            (pl.col("tokens") // 7).alias("tokens"), pl.int_range(pl.len()).over("bucket_date").alias("k")
        ).filter(pl.col("k") < 51)
        seg = seg.sort(["bucket_date", "tokens", "model_permaslug"], descending=[False, True, False])
        seg = seg.with_columns(pl.when(pl.col("k") == 50).then(pl.lit("other")).otherwise(pl.col("model_permaslug"))
                               .alias("model_permaslug"))
        seg = seg.with_columns(pl.int_range(1, pl.len() + 1).over("bucket_date").cast(pl.Int32).alias("position"))
        pull = f"bench-{name}"
        conn.execute("insert into raw.pulls values (?, 'datasets/rankings-daily', '{}', 'week', ?, ?, ?, ?, 200, "
                     "?, ?, ?, ?, ?, '', 0, ?, ?)",
                     [pull, kind, name, START, START + dt.timedelta(weeks=WEEKS), AS_OF, START,
                      START + dt.timedelta(weeks=WEEKS), AS_OF, pull, seg.height, WEEKS])
        conn.register("seg_rows", seg)
        conn.execute(f"insert into raw.rankings select '{pull}', 'week', ?, ?, bucket_date, model_permaslug, tokens,"
                     " position, ?::timestamptz from seg_rows", [kind, name, AS_OF])
        conn.unregister("seg_rows")
    build_core(conn)
    print("model-weeks:", conn.execute("select count(*) from core.model_week").fetchall()[0][0],
          "segment rows:", conn.execute("select count(*) from core.segment_week").fetchall()[0][0])
    build_marts(conn, MartParams(), names=("entity_week",))
    for name in ("segment_leaders", "succession"):
        best = []
        for _ in range(3):
            t = time.perf_counter()
            n = build_marts(conn, MartParams(), names=(name,))[name]
            best.append(time.perf_counter() - t)
        print(f"mart.{name}: {n} rows, best of 3 {min(best):.3f} s")
    conn.execute("insert or replace into raw.warehouse_info values ('origin', 'synthetic')")
    others = tuple(n for n in ("growth", "noise_vs_trend", "fragmentation") if (SQL_DIR / "marts" / f"{n}.sql").exists())
    build_marts(conn, MartParams(), names=others)
    conn.close()
    from assets.report import write_report

    t = time.perf_counter()
    write_report(db, None)
    print(f"brief: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench_segment_leaders.duckdb"))
