"""Copy-and-publish: a failed write leaves the old file; readers never block the writer."""

import os
import subprocess
import sys
import textwrap

import duckdb
import pytest

from assets import warehouse
from assets.warehouse import Warehouse, WarehouseBusy, _clone


# the facts the tests write (the writer also records the DDL version it made the file with)
FACTS = "select count(*) from raw.warehouse_info where key <> 'ddl_version'"


def published(tmp_path) -> Warehouse:
    """A published warehouse `w.duckdb` holding one fact (origin = live)."""
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.writer() as conn:
        conn.execute("insert into raw.warehouse_info values ('origin', 'live')")
    return wh


def count(path) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(FACTS).fetchall()[0][0]


def test_failed_write_leaves_published_file_untouched(tmp_path):
    wh = published(tmp_path)
    before = wh.path.read_bytes()
    with pytest.raises(RuntimeError):
        with wh.writer() as conn:
            conn.execute("insert into raw.warehouse_info values ('x', 'y')")
            raise RuntimeError("boom mid-write")
    assert wh.path.read_bytes() == before
    assert not wh.work_path.exists()
    assert count(wh.path) == 1


def test_reader_in_another_process_does_not_block_the_writer(tmp_path):
    wh = published(tmp_path)
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys
        conn = duckdb.connect({str(wh.path)!r}, read_only=True)
        print(conn.execute({FACTS!r}).fetchall()[0][0], flush=True)
        sys.stdin.readline()   # hold the file open until told
        print(conn.execute({FACTS!r}).fetchall()[0][0], flush=True)
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "1"
        with wh.writer(timeout_s=5) as conn:
            conn.execute("insert into raw.warehouse_info values ('x', 'y')")
        assert count(wh.path) == 2          # new readers see the new state
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "1"  # the open reader keeps its snapshot
    finally:
        reader.kill()
        reader.wait()


def test_second_writer_waits_or_exits_with_a_clear_message(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from assets.warehouse import Warehouse
        with Warehouse({str(wh.path)!r}).run_lock():
            print("held", flush=True)
            sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseBusy, match=r"another tokentide run is writing .* \(pid \d+"):
            with wh.writer(timeout_s=0.3):
                pass
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=10)
    with wh.writer(timeout_s=5) as conn:      # free again once the holder is done
        conn.execute("insert into raw.warehouse_info values ('origin', 'live')")


def test_a_run_step_that_spills_to_disk_keeps_its_stage(tmp_path):
    """A deep backfill exceeds the writer's memory limit and DuckDB spills into `<stage>.tmp`, a
    folder beside the stage; the step must still commit and the run go on to publish."""
    wh = published(tmp_path)
    with wh.writer(run_id="run-a", publish=False, step="landed") as conn:
        conn.execute("set memory_limit = '64MB'")
        conn.execute("""create table raw.spilled as
                        select md5(range::varchar) as s from range(1000000) order by s""")
        assert wh.stage_path.with_name(wh.stage_path.name + ".tmp").is_dir()  # it did spill
    with wh.writer(run_id="run-a", step="marts") as conn:
        conn.execute("insert into raw.warehouse_info values ('from-a', 'x')")
    with duckdb.connect(str(wh.path), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.spilled").fetchall() == [(1_000_000,)]


def test_a_runs_steps_share_one_connection_and_the_next_run_starts_from_the_published_file(tmp_path):
    wh = published(tmp_path)
    with wh.writer(run_id="run-a", publish=False, step="landed") as landed:
        landed.execute("insert into raw.warehouse_info values ('from-a', 'x')")
    with wh.writer(run_id="run-a", publish=False, step="core") as core:
        assert core is landed  # continued, not reopened
        assert core.execute("select count(*) from raw.warehouse_info where key = 'from-a'").fetchall() == [(1,)]
    assert count(wh.path) == 1  # nothing is published between a run's steps
    # run-a stops before its last step; the next run neither sees nor publishes its work
    with wh.writer(run_id="run-b", step="landed") as conn:
        assert conn is not landed
        assert conn.execute("select count(*) from raw.warehouse_info where key = 'from-a'").fetchall() == [(0,)]
        conn.execute("insert into raw.warehouse_info values ('from-b', 'x')")
    with duckdb.connect(str(wh.path), read_only=True) as conn:
        assert conn.execute("select key from raw.warehouse_info where key <> 'ddl_version' order by 1").fetchall() \
            == [("from-b",), ("origin",)]
    assert not wh.stage_path.exists()


def test_a_stage_is_a_reflink_where_the_filesystem_has_them_and_otherwise_left_to_a_copy(tmp_path):
    source, target = tmp_path / "w.duckdb", tmp_path / ".w.duckdb.stage"
    source.write_bytes(os.urandom(1 << 20))
    if _clone(source, target):  # XFS, btrfs: the same bytes, sharing blocks
        assert target.read_bytes() == source.read_bytes()
    else:  # ext4, tmpfs, macOS: nothing half-made is left for the copy to trip over
        assert not target.exists()


def _prestaged(wh: Warehouse) -> list:
    warehouse._prestaging[str(wh.path)].join()  # the copy runs in the background
    return sorted(wh.path.parent.glob(f".{wh.path.name}.prestage*"))


def test_a_run_takes_the_copy_made_while_it_fetched(tmp_path):
    wh = published(tmp_path)
    wh.prestage()
    (ready,) = _prestaged(wh)
    copied = ready.stat().st_ino
    with wh.writer(run_id="run-a", step="landed") as conn:
        assert wh.stage_path.stat().st_ino == copied  # taken, not copied again
        conn.execute("insert into raw.warehouse_info values ('from-a', 'x')")
    with duckdb.connect(str(wh.path), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.warehouse_info where key in ('origin', 'from-a')"
                            ).fetchall() == [(2,)]
    assert not list(tmp_path.glob(".w.duckdb*"))


def test_a_copy_made_before_another_process_published_is_not_taken(tmp_path):
    wh = published(tmp_path)
    wh.prestage()
    assert _prestaged(wh)
    # another process publishes meanwhile: a new file renamed over the old one
    newer = tmp_path / "newer.duckdb"
    newer.write_bytes(wh.path.read_bytes())
    with duckdb.connect(str(newer)) as conn:
        conn.execute("insert into raw.warehouse_info values ('published-meanwhile', 'x')")
    os.replace(newer, wh.path)
    with wh.writer(run_id="run-a", step="landed") as conn:
        assert conn.execute("select count(*) from raw.warehouse_info where key = 'published-meanwhile'"
                            ).fetchall() == [(1,)]
    assert not list(tmp_path.glob(".w.duckdb*"))


def test_a_copy_left_by_a_run_that_died_is_removed_not_taken(tmp_path):
    """A copy made ahead by another process (one that died) may be torn: it is never trusted."""
    wh = published(tmp_path)
    left = tmp_path / ".w.duckdb.prestage.999999"
    left.write_bytes(b"torn copy of a run that died")
    with wh.writer(run_id="run-a", step="landed") as conn:
        assert conn.execute("select value from raw.warehouse_info where key = 'origin'").fetchall() == [("live",)]
    assert not list(tmp_path.glob(".w.duckdb*"))
