"""`tokentide status`: what the warehouse holds, in a few lines."""

import datetime as dt
from pathlib import Path

from assets.settings import CITATION
from assets.warehouse import Warehouse


def warehouse_status(db: Path) -> str:
    wh = Warehouse(db)
    with wh.reader() as conn:
        origin = conn.execute("select value from raw.warehouse_info where key = 'origin'").fetchall()
        weeks = conn.execute(
            "select week_start, is_complete, source from core.market_week order by week_start").fetchall()
        as_of, pulls = conn.execute(
            "select max(as_of) filter (where endpoint = 'datasets/rankings-daily'), count(*) from raw.pulls"
        ).fetchall()[0]
        restated = conn.execute(
            """select count(*) from (select period, segment_type, segment, bucket_date
                                     from raw.rankings group by all having count(distinct pull_id) > 1)"""
        ).fetchall()[0][0]
    lines = [f"warehouse: {db}" + ("  (SYNTHETIC demo data)" if origin and origin[0][0] == "synthetic" else "")]
    if not weeks:
        return "\n".join(lines + ["no weeks landed yet"])
    first, last = weeks[0][0], weeks[-1][0]
    present = {w for w, _, _ in weeks}
    expected = [first + dt.timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
    gaps = [str(w) for w in expected if w not in present]
    incomplete = [str(w) for w, complete, _ in weeks if not complete]
    from_days = sum(1 for _, _, source in weeks if source == "api_day")
    lines += [
        f"weeks: {len(weeks)} ({first}..{last}); complete: {len(weeks) - len(incomplete)}"
        + (f"; incomplete: {', '.join(incomplete)}" if incomplete else ""),
        f"gaps: {', '.join(gaps) if gaps else 'none'}",
        f"weeks built from daily rows (period=week refused): {from_days}",
        f"pulls landed: {pulls}; buckets restated at least once: {restated}",
        f"last as_of: {as_of:%Y-%m-%dT%H:%M:%SZ}" if as_of else "last as_of: none",
        CITATION.format(as_of=f"{as_of:%Y-%m-%dT%H:%M:%SZ}" if as_of else "unknown"),
        f"last run: {_last_run()}",
    ]
    return "\n".join(lines)


def _last_run() -> str:
    try:
        import dagster as dg

        instance = dg.DagsterInstance.get()
        runs = instance.get_runs(limit=1)
    except Exception:  # no instance yet is a normal state for status
        return "none recorded"
    if not runs:
        return "none recorded"
    run = runs[0]
    stats = instance.get_run_stats(run.run_id)
    ended = dt.datetime.fromtimestamp(stats.end_time, dt.UTC).isoformat() if stats.end_time else "running"
    return f"{run.run_id[:8]} {run.status.value} ({run.tags.get('tokentide/command', run.job_name)}, ended {ended})"
