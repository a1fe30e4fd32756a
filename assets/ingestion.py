"""Dagster assets for pull → land → core. The logic is in `assets.ingest`."""

import datetime as dt
import re
import time
from collections.abc import Callable

import dagster as dg

from assets import progress
from assets.core import CORE_TABLES, build_core
from assets.ingest import assert_invariants, check_origin, fetch, land, plan_requests, validate
from assets.sql import read_sql
from orchestration.partitions import weekly_partitions
from orchestration.resources import DataApiResource, WarehouseResource

INVARIANT_CHECKS = ("every_landed_week_in_core", "shares_sum_to_one", "complete_weeks_have_7_days",
                    "ranks_are_dense")


def _run_continues_with(context, *steps: str) -> bool:
    """Whether this run also executes any of `steps` after the current one: only a run's last
    writing step publishes, so readers and crashes never see the warehouse between two steps."""
    planned = context.run.step_keys_to_execute
    if planned is None:
        planned = [node.name for node in context.job_def.nodes]
    return any(step in planned for step in steps)


def _at_most_every(seconds: float, log: Callable[[str], None]) -> Callable[[str], None]:
    """`log`, called at most once per `seconds` plus for the last step ("[n/n] ..."): every Dagster
    log line is an event written to the instance's SQLite storage, and a fetch reports each request."""
    last = -seconds

    def throttled(message: str) -> None:
        nonlocal last
        step = re.match(r"\[(\d+)/(\d+)\]", message)
        now = time.monotonic()
        if now - last >= seconds or (step and step[1] == step[2]):
            last = now
            log(message)

    return throttled


def _week_range(context) -> tuple[dt.date, dt.date]:
    keys = context.partition_keys
    return dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[-1])


@dg.asset(
    partitions_def=weekly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="raw",
    kinds={"python"},
)
def api_responses(context: dg.AssetExecutionContext, data_api: DataApiResource,
                  warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Every Data API response for the weeks of the run, kept verbatim (gzip, named by sha256) in
    data/raw/ before anything parses it: period=week and period=day rankings, the use-case segments
    (12 categories, 5 modalities) and the /models catalogue. About one request per 366 days per feed."""
    first, last = _week_range(context)
    check_origin(warehouse.warehouse().origin(), warehouse.origin)  # before a single request
    warehouse.raw_store().mark_origin(warehouse.origin)
    requests = plan_requests(first, last)
    log = progress.reporter(_at_most_every(10.0, context.log.info))  # the CLI's bar still sees every step
    wh = warehouse.warehouse()
    if _run_continues_with(context, "landed_pulls"):
        wh.prestage()  # the land step's copy of the warehouse is made while the client waits on the API
    try:
        with data_api.client() as client:
            outcome = fetch(client, warehouse.raw_store(), requests, progress=log)
    except BaseException:
        wh.drop_prestaged()
        raise
    # the run's pull list travels on disk (an IO manager cannot hold one output for many partitions)
    warehouse.raw_store().write_run(context.run_id, outcome.stored)
    return dg.MaterializeResult(metadata={
        "weeks": f"{first}..{last}",
        "requests": len(requests) + 1,
        "bytes": sum(p.byte_count for p in outcome.stored),
        "weekly_feed_refused": ", ".join(outcome.refused_weekly) or "none",
    })


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["raw", "pulls"], deps=[api_responses], group_name="raw", kinds={"duckdb"},
                     description="One row per landed API response (raw.pulls)."),
        dg.AssetSpec(["raw", "rankings"], deps=[api_responses], group_name="raw", kinds={"duckdb"},
                     description="Every version of every ranking row (raw.rankings)."),
        dg.AssetSpec(["core", "models"], deps=[api_responses], group_name="core", kinds={"duckdb"},
                     description="The /models catalogue as a slowly changing dimension (core.models)."),
    ],
    # the tables hold every week, so they are not partitioned: one event per run, not one per week
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def landed_pulls(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Validate every response of the run (pandera, lazily: every bad row is reported) and land them
    in one transaction; a single bad response fails the run and lands nothing."""
    wh = warehouse.warehouse()
    try:
        pulls = warehouse.raw_store().read_run(context.run_id)
        parsed = validate(warehouse.raw_store(), pulls)
    except BaseException:
        wh.drop_prestaged()  # nothing will be written: leave no copy beside the warehouse
        raise
    with wh.writer(on_wait=context.log.info, run_id=context.run_id, step="landed",
                   publish=not _run_continues_with(context, "core_tables", "marts")) as conn:
        found = conn.execute("select value from raw.warehouse_info where key = 'origin'").fetchall()
        check_origin(found[0][0] if found else None, warehouse.origin)
        if not found:
            conn.execute("insert into raw.warehouse_info values ('origin', ?)", [warehouse.origin])
        summary = land(conn, parsed)
        wh.note_landed([p.sha256 for p in pulls])  # recorded for `rebuild` once the run publishes
    meta = {
        "pulls_landed": summary.pulls_landed,
        "pulls_already_landed": summary.pulls_unchanged,
        "rows": summary.rows,
        "weeks": len(summary.weeks),
        "new_weeks": len(summary.new_weeks),
        "restated_weeks": ", ".join(summary.restated_weeks) or "none",
        "as_of": summary.as_of or "",
    }
    context.log.info(f"landed: {meta}")
    for key in (["raw", "pulls"], ["raw", "rankings"], ["core", "models"]):
        yield dg.MaterializeResult(asset_key=key, metadata=meta)


def _first_week_pulled(warehouse: WarehouseResource, run_id: str) -> dt.date | None:
    """The earliest week this run's pulls can touch; None (rebuild every week) when the run pulled nothing.
    A core week depends only on its own buckets, so older weeks cannot change."""
    try:
        pulls = warehouse.raw_store().read_run(run_id)
    except FileNotFoundError:
        return None
    starts = [dt.date.fromisoformat(p.params["start_date"]) for p in pulls if "start_date" in p.params]
    return min(starts) if starts else None


@dg.multi_asset(
    specs=[dg.AssetSpec(["core", t], deps=[["raw", "rankings"], ["raw", "pulls"], ["core", "models"]],
                        group_name="core", kinds={"duckdb"}) for t in CORE_TABLES],
    check_specs=[dg.AssetCheckSpec(name, asset=["core", "model_week"], blocking=True)
                 for name in INVARIANT_CHECKS],
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def core_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """The current truth (latest as_of per bucket) rebuilt from raw, published only if its
    invariants hold: shares sum to 1 within each week, no week marked complete with fewer than
    7 days of data, ranks run 1..N."""
    with warehouse.warehouse().writer(on_wait=context.log.info, run_id=context.run_id, step="core",
                                      publish=not _run_continues_with(context, "marts")) as conn:
        since = _first_week_pulled(warehouse, context.run_id)
        counts = build_core(conn, since_week=since)
        results = assert_invariants(conn, since)  # the weeks rebuilt; raises before publishing if any fails
    for table in CORE_TABLES:
        yield dg.MaterializeResult(asset_key=["core", table], metadata={"dagster/row_count": counts[table],
                                                                         "sql": dg.MetadataValue.md(
                                                                             f"```sql\n{read_sql('core/' + table)}\n```")})
    for name, (passed, detail) in results.items():
        yield dg.AssetCheckResult(asset_key=["core", "model_week"], check_name=name, passed=passed,
                                  metadata={"detail": detail})
