"""`tokentide`: the few commands people run. Each write runs the Dagster job in-process
against the instance in DAGSTER_HOME (default data/dagster_home), so CLI runs show up in
`dagster dev` too."""

import contextlib
import datetime as dt
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from assets.settings import DATA_DIR, default_db_path

app = typer.Typer(
    help="tokentide: OpenRouter's weekly LLM token rankings as a validated DuckDB time series.\n\n"
         "Live data needs OPENROUTER_API_KEY (and optionally OPENROUTER_BASE_URL); `demo` needs neither.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()
FIRST_WEEK = dt.date(2025, 1, 6)
_LOG_LEVEL = os.environ.get("TOKENTIDE_LOG_LEVEL", "CRITICAL")

DbOption = Annotated[Path | None, typer.Option("--db", help="Warehouse file (default: $TOKENTIDE_DB or "
                                                             "data/warehouse.duckdb).")]
WaitOption = Annotated[bool, typer.Option("--wait/--no-wait", help="If another run is writing, wait for it "
                                                                    "(default) or exit at once.")]


def last_closed_week(today: dt.date | None = None) -> dt.date:
    """Monday of the last Monday–Sunday UTC week that has ended."""
    today = today or dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=today.weekday() + 7)


def _monday(value: str, name: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD", param_hint=name) from None
    if day.weekday() != 0:
        monday = day - dt.timedelta(days=day.weekday())
        raise typer.BadParameter(f"{day} is a {day:%A}; weeks start on Mondays (that week is {monday})",
                                 param_hint=name)
    return day


def _setup_dagster_home() -> None:
    home = Path(os.environ.get("DAGSTER_HOME") or DATA_DIR / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():  # the project's settings: one run at a time, no telemetry
        shutil.copyfile(DATA_DIR / "dagster_home" / "dagster.yaml", config)
    os.environ["DAGSTER_HOME"] = str(home)


def _run(first: dt.date, last: dt.date, *, db: Path, demo: bool, revision: int = 0, wait: bool = True,
         title: str = "pulling") -> dict:
    """Materialize the weekly_refresh job for weeks first..last as one Dagster run; exit 1 on failure."""
    _setup_dagster_home()
    # A backfill is one run over many weekly partitions: Dagster's switch for single-run backfills
    # stores one "planned" event for the range instead of one per week (each a SQLite write of
    # ~10 ms CPU; 98 at today's size). A failed run then leaves its weeks' status as it was.
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    from assets.warehouse import Warehouse, WarehouseBusy

    # The run lock first, held for the whole run: a busy warehouse or an unwritable folder is
    # reported at once, before Dagster loads (seconds), and the run's steps re-enter the lock.
    lock = contextlib.ExitStack()
    try:
        lock.enter_context(Warehouse(db).run_lock(timeout_s=None if wait else 0, on_wait=console.print))
    except WarehouseBusy as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except OSError as exc:  # the lock file beside the warehouse: a read-only folder or a full disk
        console.print(f"[red]error:[/red] cannot write beside {db} ({exc.strerror or exc}: {exc.filename or db}); "
                      "tokentide needs a writable folder for the warehouse, its lock and raw/. Nothing was changed.")
        raise typer.Exit(1) from None
    with lock:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from assets import progress
        from orchestration.definitions import defs
        from orchestration.instance import cli_instance
        from orchestration.resources import DataApiResource, WarehouseResource

        resources = {
            "data_api": DataApiResource(base_url=os.environ.get("OPENROUTER_BASE_URL") or
                                        "https://openrouter.ai/api/v1", demo=demo, demo_revision=revision),
            "warehouse": WarehouseResource(path=str(db), origin="synthetic" if demo else "live"),
        }
        job = defs.resolve_job_def("weekly_refresh")
        # the bar's thread redraws while the client waits out the rate limit (a minute per 30
        # requests): 2 redraws a second are plenty for a seconds clock, and none off a terminal
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True, refresh_per_second=2,
                      disable=not console.is_terminal) as bar:
            task = bar.add_task(f"{title} {first}..{last}", total=None)

            def report(message: str) -> None:
                step = re.match(r"\[(\d+)/(\d+)\]", message)
                if step:
                    bar.update(task, completed=int(step[1]), total=int(step[2]))

            progress.set_reporter(report)
            try:
                with cli_instance() as instance:
                    result = job.execute_in_process(
                        instance=instance, resources=resources, raise_on_error=False,
                        # the CLI prints its own summary and errors; the full event log stays in DAGSTER_HOME
                        run_config={"loggers": {"console": {"config": {"log_level": _LOG_LEVEL}}}},
                        tags={"dagster/asset_partition_range_start": str(first),
                              "dagster/asset_partition_range_end": str(last), "tokentide/command": title},
                    )
            finally:
                progress.set_reporter(None)
    if not result.success:
        console.print(f"[red]error:[/red] run {result.run_id} failed:\n{_failure_text(result)}")
        raise typer.Exit(1)
    landed = result.asset_materializations_for_node("landed_pulls")
    meta = {k: v.value for k, v in landed[0].metadata.items()} if landed else {}
    meta["run_id"] = result.run_id
    return meta


def _failure_text(result) -> str:
    lines = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            while error is not None and error.cause is not None and "dagster" in error.cls_name.lower():
                error = error.cause
            lines.append(f"step {event.step_key}: {error.message.strip() if error else 'failed'}")
    return "\n".join(lines) or "see the run's event log in `dagster dev`"


def _summary(meta: dict, first: dt.date, last: dt.date, db: Path, synthetic: bool) -> None:
    tag = " [bold yellow](SYNTHETIC demo data)[/bold yellow]" if synthetic else ""
    out.print(f"weeks {first}..{last} → {db}{tag}")
    out.print(f"  pulls landed: {meta.get('pulls_landed', 0)} (already landed: {meta.get('pulls_already_landed', 0)})"
              f"; rows: {meta.get('rows', 0):,}; weeks in the pulls: {meta.get('weeks', 0)}")
    out.print(f"  new weeks: {meta.get('new_weeks', 0)}; restated weeks: {meta.get('restated_weeks', 'none')}")
    out.print(f"  as_of: {meta.get('as_of', '')}   run: {meta.get('run_id')}")


@app.command()
def backfill(
    start: Annotated[str, typer.Option(help="First week (a Monday, from 2025-01-06).")] = str(FIRST_WEEK),
    end: Annotated[str | None, typer.Option(help="Last week (a Monday); default: the last closed week.")] = None,
    db: DbOption = None,
    wait: WaitOption = True,
) -> None:
    """Pull, validate and land a range of weeks as one Dagster run (about one request per 366 days per
    feed), then rebuild core and marts. Safe to repeat: unchanged data changes nothing."""
    first = _monday(start, "--start")
    last = _monday(end, "--end") if end else last_closed_week()
    if first < FIRST_WEEK:
        raise typer.BadParameter(f"the Data API starts in 2025; the first full week is {FIRST_WEEK}",
                                 param_hint="--start")
    if last > last_closed_week():
        raise typer.BadParameter(f"{last} has not closed yet; the last closed week is {last_closed_week()}",
                                 param_hint="--end")
    if last < first:
        raise typer.BadParameter(f"--end {last} is before --start {first}", param_hint="--end")
    db = (db or default_db_path()).resolve()
    _require_key()
    meta = _run(first, last, db=db, demo=False, wait=wait, title="backfill")
    _summary(meta, first, last, db, synthetic=False)


@app.command()
def update(db: DbOption = None, wait: WaitOption = True) -> None:
    """What the Monday schedule does, now: pull the last closed week and re-pull the two before it
    (OpenRouter restates recent weeks), then rebuild core and marts."""
    from orchestration.jobs import refresh_range

    first, last = (dt.date.fromisoformat(d) for d in refresh_range(dt.datetime.now(dt.UTC)))
    db = (db or default_db_path()).resolve()
    _require_key()
    meta = _run(first, last, db=db, demo=False, wait=wait, title="update")
    _summary(meta, first, last, db, synthetic=False)


def _require_key() -> None:
    if not os.environ.get("OPENROUTER_API_KEY"):
        console.print("[red]error:[/red] OPENROUTER_API_KEY is not set. The Data API needs a key: create one at "
                      "https://openrouter.ai/settings/keys and `export OPENROUTER_API_KEY=...`. "
                      "To try tokentide without a key, run `tokentide demo`.")
        raise typer.Exit(2)


@app.command()
def demo(db: DbOption = None, wait: WaitOption = True) -> None:
    """The whole pipeline offline, with no key: a seeded SYNTHETIC market (300+ models, ~95 weeks) served
    through an httpx transport that behaves like the Data API. Backfills every week, then runs a
    second pull in which the source restates recent weeks, then writes the weekly brief."""
    from assets.source.simulator import MarketConfig

    db = (db or default_db_path()).resolve()
    today = MarketConfig().today
    last = last_closed_week(today)
    console.print(f"[bold yellow]SYNTHETIC DEMO[/bold yellow]: simulated market, simulated today = {today}; "
                  "no network, no key. Numbers are made up.")
    meta = _run(FIRST_WEEK, last, db=db, demo=True, revision=0, wait=wait, title="demo backfill")
    _summary(meta, FIRST_WEEK, last, db, synthetic=True)
    first = last - dt.timedelta(weeks=2)
    meta = _run(first, last, db=db, demo=True, revision=1, wait=wait, title="demo update (restatements)")
    _summary(meta, first, last, db, synthetic=True)
    _maybe_report(db, None)


def _maybe_report(db: Path, week: str | None) -> None:
    try:
        from assets.report import write_report  # the weekly brief
    except ImportError:
        return
    try:
        paths = write_report(db, week)
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    out.print(f"brief: {paths['md']}")
    out.print(f"       {paths['html']}")


@app.command()
def status(db: DbOption = None) -> None:
    """Weeks present, gaps, the latest as_of, restatements and the last Dagster run."""
    from assets.status import warehouse_status

    db = (db or default_db_path()).resolve()
    _setup_dagster_home()
    try:
        text = warehouse_status(db)
    except FileNotFoundError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    out.print(text)


@app.command()
def rebuild(db: DbOption = None, wait: WaitOption = True) -> None:
    """Re-derive every table from the raw responses kept in data/raw/ alone (no network), and
    publish the result atomically."""
    from assets.rebuild import rebuild_from_raw
    from assets.warehouse import WarehouseBusy

    db = (db or default_db_path()).resolve()
    try:
        summary = rebuild_from_raw(db, timeout_s=None if wait else 0, on_wait=console.print)
    except (WarehouseBusy, OSError) as exc:  # busy, no raw responses, or an unwritable folder
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    out.print(summary)


@app.command()
def checksum(db: DbOption = None) -> None:
    """Print an order-independent checksum of every raw, core and mart table (rows:digest); a
    `rebuild` from data/raw/ reproduces them exactly."""
    from assets.checksum import table_checksums
    from assets.warehouse import Warehouse, WarehouseMissing

    try:
        with Warehouse((db or default_db_path()).resolve()).reader() as conn:
            sums = table_checksums(conn)
    except WarehouseMissing as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    for table, value in sums.items():
        typer.echo(f"{table}\t{value}")  # plain tab-separated lines, for diff and scripts


@app.command()
def report(week: Annotated[str | None, typer.Option(help="Week to report (a Monday); default: the last "
                                                         "complete week in the warehouse.")] = None,
           db: DbOption = None) -> None:
    """Write the weekly brief (Markdown, self-contained HTML and PNG charts) to data/reports/<week>/."""
    if week:
        _monday(week, "--week")
    _maybe_report((db or default_db_path()).resolve(), week)


@app.command()
def sql(query: Annotated[str, typer.Argument(help="SQL to run, e.g. \"select * from mart.leaderboard limit 10\"")],
        db: DbOption = None) -> None:
    """Run one read-only query against the published warehouse and print the result."""
    import duckdb
    import polars as pl

    from assets.warehouse import Warehouse, WarehouseMissing

    try:
        with Warehouse((db or default_db_path()).resolve()).reader() as conn:
            frame = conn.sql(query).pl()
    except (WarehouseMissing, duckdb.Error) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    with pl.Config(tbl_rows=200, tbl_cols=30, fmt_str_lengths=60, tbl_width_chars=200):
        out.print(str(frame), highlight=False)


def main() -> None:
    import warnings

    # pandera imports hypothesis whenever it is installed (here a dev dependency, for tests) only
    # to offer data-synthesis strategies, which tokentide never uses: ~0.2 s CPU per command.
    # Blocked in the command's own process only, so a dev checkout starts like an installed tool.
    sys.modules.setdefault("hypothesis", None)

    # Dagster marks single-run backfills as beta; that notice is for developers, not CLI users.
    warnings.filterwarnings("ignore", message=".*is currently in (beta|preview).*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except SystemExit as exc:
        _exit_now(exc.code)
        raise


def _exit_now(code) -> None:
    """Leave as `sys.exit(code)` would, minus the interpreter's teardown: with Dagster, DuckDB, polars
    and pandera loaded, freeing every module object takes 0.4-0.8 s after the command is done. Exit
    handlers still run and output is flushed; the warehouse and the event log are closed by then (each
    write closes its connections). Falls back to the normal exit while a non-daemon thread runs."""
    import atexit
    import threading

    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): Python prints it and exits 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
