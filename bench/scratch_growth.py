"""Time mart.growth, leaderboard, top_spells and retention on the benchmark workload (not a test).

520 weeks x 500 listed models drawn from 3,000 models that launch and retire,
120 authors, every 7th model a :free variant. Run: `uv run python bench/scratch_growth.py`.
"""

import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

sys.path.insert(0, ".")
from assets.marts import MartParams, build_marts  # noqa: E402
from tests.golden_support import land_rankings  # noqa: E402

WEEKS, LISTED, POOL, AUTHORS = 520, 500, 3000, 120
MARTS = ("growth", "leaderboard", "top_spells", "retention")


def market(seed: int = 7) -> pl.DataFrame:
    """Models live 4-300 weeks at a lognormal level with weekly noise; the top 500 alive are listed."""
    rng = np.random.default_rng(seed)
    start = rng.integers(-100, WEEKS, POOL)
    life = rng.integers(4, 300, POOL)
    level = rng.lognormal(20, 2, POOL)
    slugs = [f"author{i % AUTHORS}/model-{i}" + (":free" if i % 7 == 0 else "") for i in range(POOL)]
    frames = []
    for w in range(WEEKS):
        alive = np.flatnonzero((start <= w) & (w < start + life))
        tokens = (level[alive] * rng.lognormal(0, 0.3, alive.size)).astype(np.int64) + 1
        order = np.lexsort((alive, -tokens))
        listed, tail = order[:LISTED], order[LISTED:]
        day = dt.date(2016, 1, 4) + dt.timedelta(weeks=w)
        frames.append(pl.DataFrame({
            "bucket_date": [day] * (listed.size + 1),
            "model_permaslug": [slugs[i] for i in alive[listed]] + ["other"],
            "tokens": np.append(tokens[listed], int(tokens[tail].sum()) + 10**9),
        }))
    return pl.concat(frames)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        conn = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        conn.execute("set threads = 2")
        land_rankings(conn, market())
        params = MartParams()
        build_marts(conn, params, names=("entity_week",))
        for name in MARTS:
            runs = []
            for _ in range(3):
                wall, cpu = time.perf_counter(), time.process_time()
                rows = build_marts(conn, params, names=(name,))[name]
                runs.append((time.perf_counter() - wall, time.process_time() - cpu))
            wall, cpu = min(runs)
            print(f"{name:12s} {wall:6.3f} s wall  {cpu:6.3f} s cpu  (best of 3)  {rows:>8,} rows")
        print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (whole process)")


if __name__ == "__main__":
    main()
