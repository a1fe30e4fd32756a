"""Promise 5: `kill -9` of a run at any stage leaves the published warehouse exactly as it was,
raw files whole, and rerunning the same command completes the work (equal to a clean build).

The CLI runs as a real subprocess against the stand-in on 127.0.0.1 and is killed at each stage
in turn, each attempt starting on the leftovers of the one before: "download" holds the fifth
response open on the server; "write" and "mart rebuild" stop the run at the writer's test pause
point (assets/warehouse.py) with the transaction open.
"""

import os
import signal

from tests.reliability.conftest import (WAIT_S, assert_no_leftovers, assert_raw_files_whole, backfill_args,
                                        checksums, file_sha, pause_env, wait_for)

STAGES = {
    "download": None,                          # the 5th request hangs on the server
    "write": "landed:before-commit",           # the run's pulls landing in its stage
    "mart rebuild": "marts:before-commit",     # raw and core staged and committed, marts half-built
}


def test_kill_9_at_every_stage_keeps_the_warehouse_and_a_rerun_completes(api, cli, start_db, reference, tmp_path):
    sim, _ = api
    published = file_sha(start_db)
    for stage, point in STAGES.items():
        if point is None:
            sim.inject(times=4, path="datasets/rankings-daily")           # four normal answers, then
            sim.inject(delay_s=60, path="datasets/rankings-daily")        # one that does not come
            proc = cli.start(*backfill_args(start_db))
            wait_for(lambda: len(sim.requests) >= 5, "the hanging request", proc)
        else:
            pause = tmp_path / stage.replace(" ", "_")
            proc = cli.start(*backfill_args(start_db), env=pause_env(cli, point, pause))
            wait_for((pause / "paused").exists, f"the run to reach {point}", proc)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(WAIT_S) == -signal.SIGKILL
        assert file_sha(start_db) == published, f"the published file changed after a kill during {stage}"
        assert checksums(start_db) == reference.before
        assert_raw_files_whole(start_db)

    rerun = cli.run(*backfill_args(start_db))
    assert rerun.returncode == 0, rerun.stderr
    assert checksums(start_db) == reference.after
    assert_no_leftovers(start_db)
    assert_raw_files_whole(start_db)
