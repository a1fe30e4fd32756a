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


def test_cli_instance_records_each_week_as_dagsters_own_storage_does(tmp_path, monkeypatch):
    """The CLI's batched event log writes the same rows: every week's status, the latest
    materialization and the planned events, for a range run of a weekly-partitioned asset."""
    import sqlite3

    from orchestration.instance import BatchingSqliteEventLogStorage, cli_instance
    from orchestration.partitions import weekly_partitions

    @dg.asset(partitions_def=weekly_partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def weekly(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"weeks": len(context.partition_keys)})

    @dg.asset(deps=[weekly])
    def after() -> None:
        pass

    job = dg.Definitions(assets=[weekly, after], jobs=[dg.define_asset_job("j")],
                         executor=dg.in_process_executor).resolve_job_def("j")
    tags = {"dagster/asset_partition_range_start": "2025-01-06", "dagster/asset_partition_range_end": "2025-03-31"}
    rows = {}
    for name in ("dagster", "cli"):
        home = tmp_path / name
        home.mkdir()
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        if name == "dagster":
            monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")
            instance = dg.DagsterInstance.get()
        else:
            monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE")
            instance = cli_instance()
            assert isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)
        with instance:
            assert job.execute_in_process(instance=instance, tags=tags).success
            weeks = instance.get_materialized_partitions(dg.AssetKey("weekly"))
            latest = instance.get_latest_materialization_event(dg.AssetKey("weekly")).dagster_event.partition
            entries = [(r.asset_entry.asset_key.to_user_string(), r.asset_entry.last_materialization_record.storage_id,
                        r.asset_entry.last_run_id == records.run_id)
                       for r in instance.get_asset_records() for records in [instance.get_runs()[0]]]
        index = sqlite3.connect(home / "history" / "runs" / "index.db")
        rows[name] = (sorted(weeks), latest, sorted(entries), index.execute(
            "select dagster_event_type, asset_key, partition from event_logs order by id").fetchall(),
            index.execute("select asset_key, last_run_id is not null from asset_keys order by 1").fetchall())
        index.close()
    assert len(rows["cli"][0]) == 13 and rows["cli"][1] == "2025-03-31"
    assert rows["cli"] == rows["dagster"]
