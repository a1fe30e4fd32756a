"""Dagster assets for the mart layer: one asset per mart table, built in one step into the run's
private copy (so a reader never sees marts from two different runs)."""

import dagster as dg

from assets.marts import MARTS, mart_docs, mart_query, refresh_marts
from assets.core import CORE_TABLES
from orchestration.resources import WarehouseResource


def _spec(name: str) -> dg.AssetSpec:
    table_doc, _ = mart_docs(name)
    return dg.AssetSpec(
        ["mart", name], group_name="mart", kinds={"duckdb", "sql"}, skippable=True,
        description=table_doc or f"mart.{name}",
        deps=[["core", t] for t in CORE_TABLES],
    )


def column_schema(conn, schema: str, table: str) -> dg.TableSchema:
    """The table's columns with their COMMENT ON text, for the Dagster UI."""
    rows = conn.execute(
        "select column_name, data_type, coalesce(comment, '') from duckdb_columns() "
        "where schema_name = ? and table_name = ? order by column_index", [schema, table]).fetchall()
    return dg.TableSchema(columns=[dg.TableColumn(n, t, description=c) for n, t, c in rows])


@dg.multi_asset(
    specs=[_spec(name) for name in MARTS],
    can_subset=True,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def marts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Derived tables (spec analytics.md): growth, leaderboard, churn, noise vs trend,
    fragmentation, market trend, spells, retention — complete weeks only."""
    selected = {key.path[-1] for key in context.selected_asset_keys}
    # a mart reads the marts before it, so a subset still builds its prerequisites
    last = max(MARTS.index(name) for name in selected)
    names = MARTS[: last + 1]
    # the run's last step: publishes the stage the landing and core steps committed to
    built: dict[str, str] = {}

    def note(name: str, rows: int, seconds: float) -> None:
        built[name] = f"{seconds:.2f} s"

    with warehouse.warehouse().writer(on_wait=context.log.info, run_id=context.run_id, step="marts") as conn:
        # only what this run's core changes reach: the stale weeks, or nothing on a rerun
        refresh_marts(conn, names=names, on_built=note)
        rows = {name: conn.execute(f"select count(*) from mart.{name}").fetchall()[0][0] for name in selected}
        schemas = {name: column_schema(conn, "mart", name) for name in selected}
    for name in MARTS:
        if name in selected:
            yield dg.MaterializeResult(asset_key=["mart", name], metadata={
                "dagster/row_count": rows[name],
                "dagster/column_schema": schemas[name],
                "build": built.get(name, "unchanged (core did not change)"),
                "sql": dg.MetadataValue.md(f"```sql\n{_query_text(name)}\n```"),
            })


def _query_text(name: str) -> str:
    try:
        return mart_query(name)
    except FileNotFoundError:
        return f"-- built in polars: assets/mart_builders/{name}.py"
