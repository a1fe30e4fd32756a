"""`tokentide rebuild`: re-derive the whole warehouse from data/raw/ alone.

It replays, in their original order, the pulls that runs landed (landed.jsonl),
re-validating each body, and publishes the result atomically; with the same raw
directory it reproduces the warehouse table for table.
"""

from collections.abc import Callable
from pathlib import Path

from assets.core import build_core
from assets.ingest import assert_invariants, land, validate
from assets.marts import refresh_marts
from assets.raw_store import RawStore
from assets.settings import raw_dir_for
from assets.warehouse import Warehouse


def rebuild_from_raw(db: Path, *, timeout_s: float | None = None,
                     on_wait: Callable[[str], None] | None = None) -> str:
    store = RawStore(raw_dir_for(db))
    pulls = store.landed()
    if not pulls:
        raise FileNotFoundError(f"no landed raw responses under {store.root}; nothing to rebuild from")
    parsed = validate(store, pulls)
    with Warehouse(db).writer(timeout_s=timeout_s, on_wait=on_wait, fresh=True) as conn:
        conn.execute("insert into raw.warehouse_info values ('origin', ?)", [store.origin()])
        summary = land(conn, parsed)
        core = build_core(conn)
        assert_invariants(conn)
        marts = refresh_marts(conn, full=True)
    return (f"rebuilt {db} from {len(pulls)} raw responses in {store.root}: "
            f"{summary.rows:,} ranking rows, {core['model_week']:,} model-weeks, "
            f"{core['market_week']} weeks, {len(marts)} marts")
