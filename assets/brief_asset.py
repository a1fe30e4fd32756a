"""The weekly brief as a Dagster asset, its job, and the sensor that runs it after each refresh.

The brief only reads the warehouse (`Warehouse.reader()`), so it never holds the writer
lock; it runs as its own job once a `weekly_refresh` run has succeeded, for the last
week that run refreshed.
"""

from pathlib import Path

import dagster as dg

from assets.marts import MARTS
from orchestration.jobs import weekly_refresh
from orchestration.partitions import weekly_partitions
from orchestration.resources import WarehouseResource


@dg.asset(
    partitions_def=weekly_partitions,
    group_name="report",
    kinds={"python", "markdown"},
    deps=[["mart", name] for name in MARTS],
)
def brief(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The weekly brief for the partition's week: what the leaderboard shows (volume, how close the top is,
    movers with trend-or-noise labels, use-case leaders, successions) as Markdown, a self-contained HTML
    page and PNG charts in `<db dir>/reports/<week>/`. Every number is a mart value."""
    from assets.report import write_report  # matplotlib is slow to import; only this step needs it

    week = context.partition_key
    try:
        paths = write_report(Path(warehouse.path), week)
    except ValueError as exc:  # the week is not a complete week of the warehouse
        raise dg.Failure(description=str(exc)) from None
    return dg.MaterializeResult(metadata={
        "brief": dg.MetadataValue.md(paths["md"].read_text()),
        "markdown_path": dg.MetadataValue.path(str(paths["md"])),
        "html_path": dg.MetadataValue.path(str(paths["html"])),
        "charts": len([p for k, p in paths.items() if k not in ("md", "html", "dir")]),
    })


weekly_brief = dg.define_asset_job(
    "weekly_brief",
    selection=dg.AssetSelection.groups("report"),
    partitions_def=weekly_partitions,
    description="Write the weekly brief for one week from the marts (read-only).",
)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[weekly_refresh],
    request_job=weekly_brief,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def brief_after_refresh(context: dg.RunStatusSensorContext):
    """After a successful weekly_refresh, write the brief of the last week it refreshed."""
    week = context.dagster_run.tags.get("dagster/asset_partition_range_end") or context.dagster_run.tags.get(
        "dagster/partition")
    if not week:
        return dg.SkipReason("the refresh run names no week")
    return dg.RunRequest(run_key=f"brief-{week}-{context.dagster_run.run_id}", partition_key=week)
