"""Promise 6: two runs at once. The second waits for the first (or, with --no-wait, exits at once
naming it); neither corrupts anything, and the result equals a clean build. Also the Dagster-level
case (runs launched by the daemon take the lock per step): a run never takes over the stage of a
live run, and never publishes over a warehouse another writer published meanwhile."""

import subprocess
import sys
import textwrap
import threading

import duckdb
import pytest

from assets.warehouse import Warehouse, WarehouseBusy
from tests.reliability.conftest import (ROOT, WAIT_S, assert_no_leftovers, backfill_args, checksums, file_sha,
                                        pause_env, wait_for)


def test_a_second_backfill_waits_or_refuses_and_nothing_is_corrupted(cli, start_db, reference, tmp_path):
    published = file_sha(start_db)
    pause = tmp_path / "pause"
    first = cli.start(*backfill_args(start_db), env=pause_env(cli, "landed:before-commit", pause))
    wait_for((pause / "paused").exists, "the first run to hold the warehouse", first)

    refused = cli.run(*backfill_args(start_db), "--no-wait")
    assert refused.returncode == 1
    assert "another tokentide run is writing" in refused.stderr
    assert f"pid {first.pid}" in refused.stderr

    second = cli.start(*backfill_args(start_db))
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(second.stderr), daemon=True)
    reader.start()
    wait_for(lambda: any("waiting for another tokentide run" in line for line in said), "the second run to wait",
             second)
    assert file_sha(start_db) == published     # nothing published while both are in flight

    (pause / "release").touch()
    assert first.wait(WAIT_S) == 0, first.stderr.read()
    assert second.wait(WAIT_S) == 0, "".join(said)
    reader.join(WAIT_S)
    assert checksums(start_db) == reference.after
    assert_no_leftovers(start_db)


def _insert(conn, key: str) -> None:
    conn.execute("insert into raw.warehouse_info values (?, 'x')", [key])


def _keys(path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return [k for (k,) in conn.execute("select key from raw.warehouse_info where key <> 'ddl_version' "
                                           "order by 1").fetchall()]


def test_a_live_runs_stage_is_never_taken_over_and_a_dead_ones_is_discarded(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.writer() as conn:
        _insert(conn, "published")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from assets.warehouse import Warehouse
        with Warehouse({str(wh.path)!r}).writer(run_id="run-a", publish=False, step="landed") as conn:
            conn.execute("insert into raw.warehouse_info values ('from-a', 'x')")
        print("staged", flush=True)
        sys.stdin.readline()
    """)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "staged"
        with pytest.raises(WarehouseBusy, match=r"run-a \(pid \d+\) is part-way through writing"):
            with wh.writer(run_id="run-b", step="landed"):
                pass
    finally:
        holder.kill()
        holder.wait(WAIT_S)
    with wh.writer(run_id="run-b", step="landed") as conn:   # its owner is dead: discarded
        _insert(conn, "from-b")
    assert _keys(wh.path) == ["from-b", "published"]
    assert_no_leftovers(wh.path)


def test_a_stage_is_never_published_over_another_writers_publish(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.writer() as conn:
        _insert(conn, "published")
    with wh.writer(run_id="run-a", publish=False, step="landed") as conn:
        _insert(conn, "from-a")
    with Warehouse(wh.path).writer() as conn:                # e.g. `tokentide rebuild` in between
        _insert(conn, "other-writer")
    with pytest.raises(WarehouseBusy, match="published by another writer"):
        with wh.writer(run_id="run-a", step="marts"):
            pass
    assert _keys(wh.path) == ["other-writer", "published"]
    assert_no_leftovers(wh.path)
