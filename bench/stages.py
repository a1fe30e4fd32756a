"""One benchmark stage per process: `python -m bench.stages <stage> '<json args>' <out.json>`.

Each stage writes {"steps": {name: {"wall_s", "cpu_s"}}, "info": {...}} to out.json. CPU is
process CPU (every DuckDB thread included). The parent adds the process's own wall/CPU/peak RSS.
"""

import contextlib
import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

STEPS: dict[str, dict] = {}
INFO: dict = {}


@contextlib.contextmanager
def step(name: str):
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    STEPS[name] = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def _size(args: dict):
    from bench.workload import Size

    return Size(**args["size"])


def _ingest(db: Path, size, first: dt.date, last: dt.date, *, catalogue: bool = True,
            incremental_core: bool = False) -> None:
    """What the weekly_refresh job's steps do, in the same order and transactions (without Dagster).

    Not timed as tokentide's work, like the imports before W2's rebuild: importing the libraries
    (once per process; a Dagster code location has them loaded) and the simulated server
    rendering its answers (`simulated_client(prerender=...)`)."""
    with step("imports (once per process, not per week)"):
        import pyarrow  # noqa: F401 - DuckDB imports it at the first polars frame a run registers
        from pandera.backends.polars.register import register_polars_backends

        from assets.core import build_core
        from assets.ingest import assert_invariants, fetch, land, plan_requests, validate
        from assets.marts import refresh_marts
        from assets.raw_store import RawStore
        from assets.settings import raw_dir_for
        from assets.warehouse import Warehouse
        from bench.workload import simulated_client

        register_polars_backends()  # pandera loads its polars backend on the first validate() call

    requests = plan_requests(first, last, daily=size.daily, segments=size.segments, floor=size.first_week)
    with step("simulator (market build and its answers, not tokentide)"):
        client = simulated_client(size, prerender=requests)
    store = RawStore(raw_dir_for(db))
    store.mark_origin("synthetic")
    wh = Warehouse(db)
    with step("fetch + keep raw"), client:
        wh.prestage()  # as the job's fetch step: the land step's copy is made meanwhile
        outcome = fetch(client, store, requests, catalogue=catalogue)
    with step("validate"):
        parsed = validate(store, outcome.stored)
    run = f"bench-{time.time_ns()}"  # the job's steps share one staged copy; the last one publishes
    with step("land (+ copy to stage)"), wh.writer(run_id=run, publish=False, step="landed") as conn:
        if not conn.execute("select 1 from raw.warehouse_info where key = 'origin'").fetchall():
            conn.execute("insert into raw.warehouse_info values ('origin', 'synthetic')")
        summary = land(conn, parsed)
    with step("core"), wh.writer(run_id=run, publish=False, step="core") as conn:
        changed = summary.new_weeks + summary.restated_weeks
        # the pulled weeks are the only ones that can change (segments and daily rows included)
        since = first if incremental_core and changed else None
        build_core(conn, since_week=since)
        assert_invariants(conn, since)
    with step("marts (+ publish)"), wh.writer(run_id=run, step="marts") as conn:
        # as the Dagster marts step: only the marts and weeks core's changes reach
        INFO["marts_built"] = {}
        refresh_marts(conn, on_built=lambda name, rows, s: INFO["marts_built"].__setitem__(name, round(s, 3)))
    INFO.update(requests=len(requests) + int(catalogue), pulls=len(outcome.stored), rows=summary.rows,
                weeks=len(summary.weeks), db_mib=db.stat().st_size / 2**20)


def generate(args: dict) -> None:
    """Build the base warehouse of a size: weeks 1..N pulled, landed, core and marts built."""
    size = _size(args)
    db = Path(args["db"])
    _ingest(db, size, size.first_week, size.last_week)


def settle(args: dict) -> None:
    """Bring a cached warehouse's marts up to the current mart code (nothing to do when they are)."""
    from assets.marts import refresh_marts
    from assets.warehouse import Warehouse

    with Warehouse(args["db"]).writer() as conn:
        INFO["marts_built"] = list(refresh_marts(conn))


def rebuild(args: dict) -> None:
    """W2: full rebuild of core and every mart from raw, in one writer transaction (copy → publish)."""
    from assets.core import build_core
    from assets.ingest import assert_invariants
    from assets.marts import refresh_marts
    from assets.warehouse import Warehouse

    writer = Warehouse(args["db"]).writer()
    with step("copy to working file"):
        conn = writer.__enter__()
    with step("core"):
        counts = build_core(conn)
    with step("core invariants"):
        assert_invariants(conn)
    with step("commit core"):  # marts run on cursors of their own, which see only committed core
        conn.execute("commit")
        conn.execute("begin")
    with step("marts"):
        # two marts at a time, each on one thread; a mart's own time overlaps another's
        refresh_marts(conn, full=True, on_built=lambda name, rows, s: STEPS.__setitem__(
            f"mart.{name}", {"wall_s": s, "cpu_s": float("nan")}))
    with step("commit + checkpoint + publish"):
        writer.__exit__(None, None, None)
    INFO.update(model_weeks=counts["model_week"], weeks=counts["market_week"],
                segment_rows=counts["segment_week"], db_mib=Path(args["db"]).stat().st_size / 2**20)


def increment(args: dict) -> None:
    """W3: the Monday run on the base warehouse: week N+1 plus re-pulls of the 2 weeks before it;
    core is rebuilt for the pulled weeks only and the marts follow core's recorded changes, as the
    job does."""
    size = _size(args)
    last = size.last_week + dt.timedelta(weeks=1)
    _ingest(Path(args["db"]), size, last - dt.timedelta(weeks=2), last, incremental_core=True)


def queries(args: dict) -> None:
    """W4: the README's queries on a read-only connection; cold (first) run and warm median."""
    import statistics

    import duckdb

    from bench.workload import README_QUERIES

    repeat = int(args.get("repeat", 7))
    for name, sql in README_QUERIES.items():
        conn = duckdb.connect(args["db"], read_only=True)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            rows = conn.execute(sql).fetchall()
            times.append(time.perf_counter() - t)
        conn.close()
        STEPS[name] = {"wall_s": statistics.median(times[1:] or times), "cold_s": times[0],
                       "cpu_s": float("nan"), "rows": len(rows)}


def floor(args: dict) -> None:
    """The orchestration floor: start Dagster and materialize one trivial asset, like the CLI runs."""
    import dagster as dg

    @dg.asset
    def trivial() -> int:
        return 1

    job = dg.Definitions(assets=[trivial], executor=dg.in_process_executor).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=dg.DagsterInstance.get(),
                                    run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
    assert result.success


def standin(args: dict) -> None:
    """W1's Data API: the default simulated market over HTTP on 127.0.0.1; logs each request's arrival
    time and the time its answer took."""
    from assets.source.server import serve
    from assets.source.simulator import DataApiSimulator, MarketConfig, SimulatedMarket

    sim = DataApiSimulator(SimulatedMarket(MarketConfig()))
    log = open(args["log"], "a")  # noqa: SIM115 - open for the server's lifetime
    handle = sim.handle

    def logged(request):
        # arrival time and how long the answer took to render (the API's time, not tokentide's)
        arrived, start = time.time(), time.perf_counter()
        response = handle(request)
        log.write(f"{arrived} {time.perf_counter() - start}\n")
        log.flush()
        return response

    sim.handle = logged
    with serve(sim, port=int(args["port"])) as base_url:
        Path(args["ready"]).write_text(base_url)
        while True:
            time.sleep(3600)


def main() -> None:
    stage, args, out = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    wall, cpu = time.perf_counter(), time.process_time()
    globals()[stage](args)
    total = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    out.write_text(json.dumps({"steps": STEPS, "stage_total": total, "info": INFO,
                               "self_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
                              default=str))


if __name__ == "__main__":
    main()
