"""The single Dagster entry point (`dagster dev`, `dg dev`, and the tokentide CLI)."""

import dagster as dg

from assets.brief_asset import brief, brief_after_refresh, weekly_brief
from assets.ingestion import api_responses, core_tables, landed_pulls
from assets.mart_assets import marts
from orchestration.jobs import weekly_refresh, weekly_refresh_schedule
from orchestration.resources import DataApiResource, WarehouseResource

defs = dg.Definitions(
    assets=[api_responses, landed_pulls, core_tables, marts, brief],
    jobs=[weekly_refresh, weekly_brief],
    schedules=[weekly_refresh_schedule],
    sensors=[brief_after_refresh],  # the brief runs after each successful refresh
    # DuckDB has one writer, and the steps are small: one process, steps in order
    executor=dg.in_process_executor,
    resources={
        "data_api": DataApiResource(base_url=dg.EnvVar("OPENROUTER_BASE_URL").get_value(
            "https://openrouter.ai/api/v1")),
        "warehouse": WarehouseResource(),
    },
)
