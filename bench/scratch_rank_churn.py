"""Time mart.rank_churn on the benchmark workload: 520 weeks x 500 listed models (not a test)."""

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

WEEKS, LISTED, POOL = 520, 500, 900


def market(seed: int = 7) -> pl.DataFrame:
    """A drifting market: log-volumes random-walk, each week the top 500 of a 900-model pool is listed."""
    rng = np.random.default_rng(seed)
    authors = [f"vendor{i}" for i in range(80)]
    slugs = [f"{authors[i % 80]}/model-{i}" + (":free" if i % 7 == 0 else "") for i in range(POOL)]
    level = rng.normal(20, 2, POOL)
    frames = []
    for w in range(WEEKS):
        level += rng.normal(0, 0.15, POOL)
        tokens = np.exp(level).astype(np.int64) + 1
        top = np.argsort(-tokens, kind="stable")[:LISTED]
        day = dt.date(2016, 1, 4) + dt.timedelta(weeks=w)
        frames.append(pl.DataFrame({
            "bucket_date": [day] * (LISTED + 1),
            "model_permaslug": [slugs[i] for i in top] + ["other"],
            "tokens": np.append(tokens[top], tokens[np.argsort(-tokens)[LISTED:]].sum()),
        }))
    return pl.concat(frames)


conn = duckdb.connect()
t0 = time.perf_counter()
land_rankings(conn, market(), pull_id="bench")
t1 = time.perf_counter()
build_marts(conn, MartParams(), names=("entity_week",))
t2 = time.perf_counter()
times, cpu = [], []
for _ in range(5):
    start, start_cpu = time.perf_counter(), time.process_time()
    rows = build_mart(conn, "rank_churn")
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
print(f"land+core {t1 - t0:.2f}s  entity_week {t2 - t1:.2f}s  rows entity_week "
      f"{conn.execute('select count(*) from mart.entity_week').fetchall()[0][0]}")
print(f"rank_churn rows {rows}: best wall {min(times):.3f}s  runs {[round(t, 3) for t in times]}  "
      f"CPU (all threads) best {min(cpu):.3f}s")
print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
