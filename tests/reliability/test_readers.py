"""Promise 4: analysts reading the warehouse never block a run and never see half of one.

Two reader processes stay up for the whole CLI backfill: one holds a single read-only connection
open (like `duckdb -readonly`), one reconnects in a loop. The run stops at the last step before it
publishes (marts half-built, raw and core of the new weeks already committed to its stage): a new
reader still sees the old warehouse. Then the run completes on its own, in bounded time; every
read of the loop was the state before the run or the state after it, and the held connection
kept its snapshot of before."""

import json
import subprocess
import sys
import textwrap

from tests.reliability.conftest import ROOT, WAIT_S, backfill_args, checksums, pause_env, wait_for

READER = textwrap.dedent("""
    import json, pathlib, sys, time, duckdb
    from assets.checksum import FETCH_TIME_COLUMNS, table_checksums
    path, mode = sys.argv[1], sys.argv[2]
    state = lambda conn: json.dumps(table_checksums(conn, FETCH_TIME_COLUMNS), sort_keys=True)
    if mode == "held":
        conn = duckdb.connect(path, read_only=True)
        for _ in sys.stdin:                        # one read per line, always on the same connection
            print(state(conn), flush=True)
    else:
        stop, seen, reads = pathlib.Path(sys.argv[3]), [], 0
        while not stop.exists():
            with duckdb.connect(path, read_only=True) as conn:
                current = state(conn)
            reads += 1
            if current not in seen:
                seen.append(current)
            time.sleep(0.1)                        # leave the CPU to the run (2 cores)
        print(json.dumps({"reads": reads, "states": seen}), flush=True)
""")


def _reader(db, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", READER, str(db), *args], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ask(held: subprocess.Popen) -> dict:
    held.stdin.write("\n")
    held.stdin.flush()
    return json.loads(held.stdout.readline())


def test_readers_never_block_a_backfill_and_see_before_or_after(cli, start_db, reference, tmp_path):
    held = _reader(start_db, "held")
    stop = tmp_path / "stop-loop"
    loop = _reader(start_db, "loop", str(stop))
    try:
        assert _ask(held) == reference.before
        pause = tmp_path / "pause"
        run = cli.start(*backfill_args(start_db), env=pause_env(cli, "marts:before-commit", pause))
        wait_for((pause / "paused").exists, "the run to reach its mart rebuild", run)
        assert checksums(start_db) == reference.before, "a reader saw part of the run"

        (pause / "release").touch()
        out, err = run.communicate(timeout=WAIT_S)   # completes on its own while both readers are open
        assert run.returncode == 0, err
        assert checksums(start_db) == reference.after
        assert _ask(held) == reference.before        # an open session keeps its snapshot

        stop.touch()
        report = json.loads(loop.communicate(timeout=WAIT_S)[0])
        assert report["reads"] > 0
        allowed = {json.dumps(reference.before, sort_keys=True), json.dumps(reference.after, sort_keys=True)}
        assert set(report["states"]) <= allowed, "the loop reader saw a state between before and after"
    finally:
        for proc in (held, loop):
            proc.kill()
            proc.wait(WAIT_S)
