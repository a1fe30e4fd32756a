"""Promise 9: a full disk or a read-only data folder gives a clear error and leaves the previous
warehouse intact (same bytes, nothing left beside it).

"Disk full": the CLI runs with RLIMIT_FSIZE below the warehouse's size (SIGXFSZ ignored), so
writing the working copy fails with EFBIG the way a full disk fails with ENOSPC. "Read-only":
root ignores file modes, so the CLI runs in its own mount namespace (`unshare --mount
--map-root-user`) where the data folder is a read-only bind mount (EROFS), for root and users
alike."""

import resource
import shutil
import signal
import subprocess
import sys

import pytest

from tests.reliability.conftest import (ROOT, WAIT_S, assert_no_leftovers, backfill_args, checksums, file_sha)


def _words(text: str) -> str:
    return " ".join(text.split())   # the console wraps long lines


@pytest.mark.parametrize("full_while", ["copying", "writing"])
def test_a_full_disk_fails_clearly_and_keeps_the_warehouse(full_while, cli, start_db, reference):
    published = file_sha(start_db)
    size = start_db.stat().st_size
    # half the file: the working copy cannot be made; a little more than it: DuckDB's own writes fail
    limit = size // 2 if full_while == "copying" else size + 256 * 1024

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = cli.run(*backfill_args(start_db), preexec_fn=small_disk)
    assert result.returncode == 1
    said = _words(result.stderr)
    assert "could not write the warehouse beside" in said and "Is the disk full, or the folder read-only?" in said
    assert "is as it was before this run" in said
    assert file_sha(start_db) == published
    assert checksums(start_db) == reference.before
    assert_no_leftovers(start_db)


def test_a_read_only_data_folder_fails_clearly_and_keeps_the_warehouse(cli, start_db, reference):
    if not shutil.which("unshare") or subprocess.run(["unshare", "--mount", "--map-root-user", "true"]).returncode:
        pytest.skip("needs mount namespaces (unshare --mount --map-root-user)")
    published = file_sha(start_db)
    readonly = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    proc = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", readonly, "sh", str(start_db.parent),
         sys.executable, "-c", "from orchestration.cli import main; main()", *backfill_args(start_db)],
        cwd=ROOT, env=cli.env(), capture_output=True, text=True, timeout=WAIT_S)
    assert proc.returncode == 1, proc.stderr
    said = _words(proc.stderr)
    assert "cannot write beside" in said and "Read-only file system" in said
    assert "needs a writable folder for the warehouse, its lock and raw/. Nothing was changed." in said
    assert file_sha(start_db) == published
    assert checksums(start_db) == reference.before
    assert_no_leftovers(start_db)
