"""The weekly refresh job and its Monday schedule."""

import datetime as dt

import dagster as dg

from orchestration.partitions import weekly_partitions

RESTATEMENT_WEEKS = 2  # the schedule re-pulls this many closed weeks before the newest one

weekly_refresh = dg.define_asset_job(
    "weekly_refresh",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("report"),
    description="Pull the given weeks from the Data API, land them, rebuild core and marts.",
)


def refresh_range(now: dt.datetime) -> tuple[str, str]:
    """The weeks a run at `now` refreshes: the last closed week and the two before it."""
    today = now.astimezone(dt.UTC).date()
    last_closed = today - dt.timedelta(days=today.weekday() + 7)
    first = max(last_closed - dt.timedelta(weeks=RESTATEMENT_WEEKS), dt.date(2025, 1, 6))
    return str(first), str(last_closed)


@dg.schedule(job=weekly_refresh, cron_schedule="0 3 * * 1", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def weekly_refresh_schedule(context: dg.ScheduleEvaluationContext):
    """Mondays 03:00 UTC: the week that just closed, plus re-pulls of the two before it (restatements)."""
    first, last = refresh_range(context.scheduled_execution_time)
    return dg.RunRequest(
        run_key=f"weekly-{last}",
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )
