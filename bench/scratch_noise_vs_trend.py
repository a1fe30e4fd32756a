"""Time mart.noise_vs_trend and mart.market_week at 520 weeks x 500 listed models (not a test).

Usage: uv run python bench/scratch_noise_vs_trend.py [mart ...]   (default: both)
CPU seconds are printed next to wall seconds: on a shared box wall time mostly measures the neighbours.
"""

import datetime as dt
import resource
import sys
import time

import duckdb
import numpy as np
import polars as pl

sys.path.insert(0, ".")
from assets.marts import MartParams, build_mart, build_marts  # noqa: E402
from tests.golden_support import land_rankings  # noqa: E402

WEEKS, LISTED, POOL = 520, 500, 1000


def weekly_market(seed: int = 7) -> pl.DataFrame:
    """Log-normal volumes drifting weekly; each week lists the top 500 of 1000 models plus other."""
    rng = np.random.default_rng(seed)
    slugs = [f"vendor{i % 90}/model-{i // 2}" + (":free" if i % 2 else "") for i in range(POOL)]
    level = rng.normal(20, 2, POOL)
    frames = []
    for w in range(WEEKS):
        level += rng.normal(0, 0.1, POOL)
        tokens = np.exp(level).astype(np.int64) + 1
        order = np.argsort(-tokens, kind="stable")
        frames.append(pl.DataFrame({
            "bucket_date": [dt.date(2016, 1, 4) + dt.timedelta(weeks=w)] * (LISTED + 1),
            "model_permaslug": [slugs[i] for i in order[:LISTED]] + ["other"],
            "tokens": np.append(tokens[order[:LISTED]], tokens[order[LISTED:]].sum()),
        }))
    return pl.concat(frames)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


marts = sys.argv[1:] or ["noise_vs_trend", "market_week"]
conn = duckdb.connect()
conn.execute("set threads = 2")
t0 = time.perf_counter()
land_rankings(conn, weekly_market(), pull_id="bench")
t1 = time.perf_counter()
build_marts(conn, MartParams(), names=("entity_week",))  # also creates the shared macros
t2 = time.perf_counter()
print(f"land+core {t1 - t0:.2f}s  entity_week {t2 - t1:.2f}s  rows "
      f"{conn.execute('select count(*) from mart.entity_week').fetchall()[0][0]}")
for mart in marts:
    runs = []
    for _ in range(5):
        wall, cpu = time.perf_counter(), cpu_seconds()
        rows = build_mart(conn, mart)
        runs.append((time.perf_counter() - wall, cpu_seconds() - cpu))
    best = min(runs)
    print(f"{mart} rows {rows}: best wall {best[0]:.3f}s (cpu {best[1]:.3f}s)  "
          f"runs {[(round(w, 2), round(c, 2)) for w, c in runs]}")
print(conn.sql("select label, count(*) from mart.noise_vs_trend where level = 'model' group by all order by all")
      .fetchall() if "noise_vs_trend" in marts else "")
print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
