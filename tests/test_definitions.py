"""The Dagster definitions load, and the schedule asks for the right weeks."""

import datetime as dt

import dagster as dg

from orchestration.definitions import defs
from orchestration.jobs import refresh_range


def test_definitions_load_with_every_layer():
    dg.Definitions.validate_loadable(defs)
    keys = {"/".join(k.path) for k in defs.resolve_all_asset_keys()}
    assert {"api_responses", "raw/rankings", "raw/pulls", "core/model_week", "core/market_week",
            "mart/growth", "mart/fragmentation"} <= keys
    assert defs.resolve_job_def("weekly_refresh")


def test_monday_schedule_refreshes_last_closed_week_and_two_before():
    schedule = defs.resolve_schedule_def("weekly_refresh_schedule")
    assert schedule.cron_schedule == "0 3 * * 1" and schedule.execution_timezone == "UTC"
    with dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 3, 9, 3, tzinfo=dt.UTC)) as ctx:
        request = schedule.evaluate_tick(ctx).run_requests[0]
    assert request.tags["dagster/asset_partition_range_start"] == "2026-02-16"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-03-02"


def test_refresh_range_never_precedes_the_first_week():
    assert refresh_range(dt.datetime(2025, 1, 14, tzinfo=dt.UTC)) == ("2025-01-06", "2025-01-06")
    # a Sunday night still belongs to the running week: the last closed week is the one before
    assert refresh_range(dt.datetime(2026, 3, 8, 23, 59, tzinfo=dt.UTC))[1] == "2026-02-23"
