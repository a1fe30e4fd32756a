"""Time mart.fragmentation on the benchmark workload: 520 weeks x 500 listed models (not a test)."""

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


def weekly_market(seed: int = 11) -> pl.DataFrame:
    """Log-normal volumes drifting weekly; each week lists the top 500 of 1000 models plus other."""
    rng = np.random.default_rng(seed)
    slugs = [f"vendor{i % 90}/model-{i // 2}" + (":free" if i % 2 else "") for i in range(POOL)]
    level = rng.normal(20, 2, POOL)
    frames = []
    for w in range(WEEKS):
        level += rng.normal(0, 0.2, POOL)
        tokens = np.exp(level).astype(np.int64) + 1
        order = np.argsort(-tokens, kind="stable")
        frames.append(pl.DataFrame({
            "bucket_date": [dt.date(2016, 1, 4) + dt.timedelta(weeks=w)] * (LISTED + 1),
            "model_permaslug": [slugs[i] for i in order[:LISTED]] + ["other"],
            "tokens": np.append(tokens[order[:LISTED]], tokens[order[LISTED:]].sum()),
        }))
    return pl.concat(frames)


conn = duckdb.connect()
conn.execute("set threads = 2")
t0 = time.perf_counter()
land_rankings(conn, weekly_market(), pull_id="bench")
t1 = time.perf_counter()
build_marts(conn, MartParams(), names=("entity_week",))
t2 = time.perf_counter()
times = []
for _ in range(5):
    start = time.perf_counter()
    rows = build_mart(conn, "fragmentation")
    times.append(time.perf_counter() - start)
print(f"land+core {t1 - t0:.2f}s  entity_week {t2 - t1:.2f}s  rows "
      f"{conn.execute('select count(*) from mart.entity_week').fetchall()[0][0]}")
print(f"fragmentation rows {rows}: best {min(times):.3f}s  runs {[round(t, 3) for t in times]}")
print(conn.sql("select level, count(*), min(hhi_lower_pts)::int, max(hhi_upper_pts)::int, "
               "count(*) filter (where hhi_lower_m_pts is null) infeasible, mode(market_shape) "
               "from mart.fragmentation group by level order by level").fetchall())
print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
