"""The DuckDB file, written by copy-and-publish so readers never block or see half a run.

DuckDB lets one process write a file, and a read-only reader's lock blocks that
writer. So a write never opens the published file: it copies it to a working
file beside it, changes the copy in one transaction, checkpoints, and then
atomically renames the copy over the published name. A reader that has the
old file open keeps its consistent snapshot; the next connection sees the new
one. A crash at any point leaves the published file as it was (the stale
working copy is discarded at the next write). A run lock (`<db>.lock`, flock)
serialises writers across processes; it is re-entrant within a process.

The steps of one Dagster run (land, core, marts) share one staging copy
(`.<name>.stage`, owner in `.<name>.stage.json`): each step commits into it and
only the run's last step publishes, so a reader or a crash sees the warehouse
as it was before the run or after it, never between two steps. A stage left
by a killed run is discarded by the next run; a stage whose owner is still
alive is never touched. Publishing checks that the published file is still the
one the stage was copied from, so a second writer can never be overwritten.

Test hook (inert in production): if TOKENTIDE_TEST_PAUSE names a point such as
`marts:before-commit`, the writer announces it in `$TOKENTIDE_TEST_PAUSE_DIR/paused`
and waits there until `release` appears in that folder, so crash and concurrency
tests can kill -9 or race a run at an exact stage (tests/reliability/).
"""

import contextlib
import fcntl
import glob
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from assets.raw_store import RawStore
from assets.schema import ensure_schema
from assets.settings import raw_dir_for

CONNECTION_CONFIG = {"python_enable_replacements": False}
# Files readable by the standalone DuckDB CLI too (PyPI's duckdb-cli is 1.x; 2.x storage is newer).
# One thread: parallel float sums add in a varying order, so marts differed in the last bits from
# build to build; single-threaded, a rebuild reproduces every table exactly (tests/reliability/),
# and on 2 cores the core and mart builds measured no slower (core 0.45 s vs 0.6 s, marts 1.1 s vs 1.2-1.45 s).
# A memory limit keeps a deep rebuild under 1 GiB of RSS: DuckDB spills to disk instead of caching
# up to 80 % of RAM (bench W2: 2.3 GiB -> 0.86 GiB peak).
WRITER_CONFIG = {**CONNECTION_CONFIG, "storage_compatibility_version": "v1.4.0", "threads": 1,
                 "memory_limit": "750MB"}


class WarehouseBusy(RuntimeError):
    """Another tokentide run holds the warehouse lock."""


class WarehouseMissing(FileNotFoundError):
    """No warehouse has been published at the path yet."""


class WarehouseWriteError(OSError):
    """The working copy could not be written or published (disk full, read-only folder, ...)."""


PAUSE_ENV, PAUSE_DIR_ENV = "TOKENTIDE_TEST_PAUSE", "TOKENTIDE_TEST_PAUSE_DIR"


def _test_pause(point: str) -> None:
    """Test-only: stop at `point` until released (see the module docstring); no-op unless set."""
    if os.environ.get(PAUSE_ENV) != point:
        return
    folder = Path(os.environ[PAUSE_DIR_ENV])
    (folder / "paused.tmp").write_text(f"{point} {os.getpid()}\n")
    os.replace(folder / "paused.tmp", folder / "paused")
    deadline = time.monotonic() + 120
    while not (folder / "release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"test pause at {point} was never released")
        time.sleep(0.05)


def _fingerprint(path: Path) -> list[int] | None:
    """Identity of the published file: os.replace gives every publish a new inode."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _close_quietly(conn: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        conn.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_held: dict[str, int] = {}
_held_guard = threading.Lock()
# stage path -> (run_id, connection, base) left open by a run's step that did not publish
_kept: dict[str, tuple[str, duckdb.DuckDBPyConnection, list[int] | None]] = {}
# published path -> the thread copying it ahead of this process's next write (Warehouse.prestage),
# and, once done, (fingerprint of the file it copied, the copy)
_prestaging: dict[str, threading.Thread] = {}
_prestaged: dict[str, tuple[list[int], Path]] = {}


class Warehouse:
    def __init__(self, path: Path | str):
        self.path = Path(path).resolve()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.work_path = self.path.with_name(f".{self.path.name}.work")
        self.stage_path = self.path.with_name(f".{self.path.name}.stage")
        self.stage_meta_path = self.path.with_name(f".{self.path.name}.stage.json")
        self._pending_landed: list[str] = []

    # -- the run lock ---------------------------------------------------------
    @contextlib.contextmanager
    def run_lock(self, timeout_s: float | None = None,
                 on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the cross-process writer lock; wait up to `timeout_s` (None = forever)."""
        key = str(self.lock_path)
        with _held_guard:
            if _held.get(key):
                _held[key] += 1
                reentered = True
            else:
                reentered = False
        if reentered:
            try:
                yield
            finally:
                with _held_guard:
                    _held[key] -= 1
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            told = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = self._holder()
                    if deadline is not None and time.monotonic() >= deadline:
                        raise WarehouseBusy(
                            f"another tokentide run is writing {self.path} ({holder}); "
                            "try again when it has finished") from None
                    if on_wait and not told:
                        on_wait(f"waiting for another tokentide run to finish ({holder})")
                        told = True
                    time.sleep(0.2)
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                time.gmtime())}).encode())
            with _held_guard:
                _held[key] = 1
            try:
                yield
            finally:
                with _held_guard:
                    _held.pop(key, None)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _holder(self) -> str:
        try:
            info = json.loads(self.lock_path.read_text() or "{}")
            return f"pid {info.get('pid')}, since {info.get('since')}"
        except (OSError, json.JSONDecodeError):
            return "unknown holder"

    # -- writing ---------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, timeout_s: float | None = None, on_wait: Callable[[str], None] | None = None,
               fresh: bool = False, *, run_id: str | None = None, publish: bool = True,
               step: str = "write") -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to a private copy in an open transaction; published on success.

        `fresh` starts from an empty database instead of a copy (for `rebuild`). With `run_id`
        the copy is the run's stage, shared by the run's steps; it is published only when
        `publish` is true (the run's last step). `step` names the step for messages and the
        test pause points (`<step>:before-commit`, `<step>:before-publish`)."""
        with self.run_lock(timeout_s, on_wait):
            path = self.stage_path if run_id else self.work_path
            kept = self._kept_connection(run_id)
            try:
                if kept is not None:
                    conn, base = kept
                else:
                    base = self._open_stage(run_id, fresh) if run_id else self._open_work_at(self.work_path, fresh)
                    conn = duckdb.connect(str(path), config=WRITER_CONFIG)
            except (OSError, duckdb.IOException) as exc:
                self._discard(path)
                raise self._write_error(exc) from None
            try:
                if kept is None:
                    ensure_schema(conn)
                conn.execute("begin")
                try:
                    yield conn
                    _test_pause(f"{step}:before-commit")
                except BaseException:
                    with contextlib.suppress(duckdb.Error):  # a fatal error has already rolled back
                        conn.execute("rollback")
                    raise
                try:
                    conn.execute("commit")
                    if run_id and not publish:
                        # the run's next step in this process continues on this connection: no
                        # checkpoint, close and reopen per step (committed work is in the stage's WAL)
                        self._save_stage(run_id, base)
                        _kept[str(path)] = (run_id, conn, base)
                        return
                    conn.execute("checkpoint")
                    conn.close()
                    if run_id:
                        self._save_stage(run_id, base)
                    if publish:
                        _test_pause(f"{step}:before-publish")
                        self._publish(path, base)
                except OSError as exc:
                    raise self._write_error(exc) from None
            except (duckdb.IOException, duckdb.FatalException) as exc:
                # the copy grew past a full disk: DuckDB reports an I/O error, or a fatal one that
                # invalidates the connection; either way only the private copy is lost
                _close_quietly(conn)
                self._discard(path)
                raise self._write_error(exc) from None
            except BaseException:
                _close_quietly(conn)
                self._discard(path)
                raise
            if publish and run_id:
                self._record_landed()  # under the lock, so landed.jsonl keeps the publishing order

    def _kept_connection(self, run_id: str | None) -> tuple[duckdb.DuckDBPyConnection, list[int] | None] | None:
        """This run's stage connection if an earlier step of the run left it open in this process.
        A connection kept for another run (one that stopped before publishing) is closed."""
        kept = _kept.pop(str(self.stage_path), None)
        if kept is None:
            return None
        kept_run, conn, base = kept
        meta = self._stage_meta()
        if run_id and kept_run == run_id and meta.get("run_id") == run_id and self.stage_path.exists():
            self._pending_landed = list(meta.get("landed", []))
            return conn, base
        _close_quietly(conn)
        return None

    def note_landed(self, pull_ids: list[str]) -> None:
        """Pulls landed in the open staged write: appended to landed.jsonl when the run publishes."""
        self._pending_landed += pull_ids

    def _open_stage(self, run_id: str, fresh: bool) -> list[int] | None:
        """Continue this run's stage, or start one from the published file."""
        meta = self._stage_meta()
        if meta.get("run_id") == run_id and self.stage_path.exists():
            self._pending_landed = list(meta.get("landed", []))
            return meta.get("base")
        if meta and meta.get("pid") != os.getpid() and _pid_alive(int(meta.get("pid", 0))):
            raise WarehouseBusy(f"Dagster run {meta.get('run_id')} (pid {meta.get('pid')}) is part-way through "
                                f"writing {self.path}; try again when it has finished")
        self._pending_landed = []
        return self._open_work_at(self.stage_path, fresh)

    def _open_work_at(self, path: Path, fresh: bool) -> list[int] | None:
        self._discard(path)  # a stage left by a killed run, or a failed one
        _wait_for(_prestaging.pop(str(self.path), None))
        base = _fingerprint(self.path)
        copied, ready = _prestaged.pop(str(self.path), (None, None))
        if base is not None and not fresh:
            if copied == base and ready.exists():  # copied (and fsynced) while the run waited on the API
                os.replace(ready, path)
            elif not _copy(self.path, path):
                _flush_soon(path)
        self.drop_prestaged()  # a copy of an older published file, unused by a fresh write, or a dead run's
        return base

    # -- copying ahead -----------------------------------------------------------
    def prestage(self) -> None:
        """Start copying the published file for this run's first write, in the background.

        The copy is the one step of a run that grows with history (every run copies the whole
        file, Guarantee 4). A run calls this before it starts fetching, so the copy is made while
        the client waits on the API (round trips, the rate limit); the run's first writer then
        takes it instead of copying, if nothing was published meanwhile. Only this process takes
        it: a copy left by a run that died is never trusted, only removed."""
        if self.path.exists() and str(self.path) not in _prestaging:
            thread = threading.Thread(target=self._prestage, name=f"prestage {self.path.name}", daemon=True)
            _prestaging[str(self.path)] = thread
            thread.start()

    def drop_prestaged(self) -> None:
        """Remove copies made ahead that no write will take (a run that failed before writing)."""
        _wait_for(_prestaging.pop(str(self.path), None))
        _prestaged.pop(str(self.path), None)
        for path in self.path.parent.glob(f".{glob.escape(self.path.name)}.prestage*"):
            path.unlink(missing_ok=True)

    def _prestage(self) -> None:
        base = _fingerprint(self.path)
        copy = self.path.with_name(f".{self.path.name}.prestage.{os.getpid()}")
        try:
            if base is None:
                return
            if not _copy(self.path, copy):
                # here, beside the fetch, rather than in the background of the steps that write
                # (measured: W3 1.6 s vs 1.9 s)
                _fsync(copy)
            if _fingerprint(self.path) == base:  # else a publish replaced the file while it was copied
                _prestaged[str(self.path)] = (base, copy)
                return
        except OSError:
            pass  # (disk full, say) the writer copies as it would have; its error is the one to report
        copy.unlink(missing_ok=True)

    def _stage_meta(self) -> dict:
        try:
            return json.loads(self.stage_meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def _save_stage(self, run_id: str, base: list[int] | None) -> None:
        # not `.stage.tmp`: that is DuckDB's spill folder for the stage (`<database>.tmp`)
        tmp = self.stage_meta_path.with_name(self.stage_meta_path.name + ".part")
        tmp.write_text(json.dumps({"run_id": run_id, "pid": os.getpid(), "base": base,
                                   "landed": self._pending_landed}))
        os.replace(tmp, self.stage_meta_path)

    def _discard(self, path: Path) -> None:
        for stale in (path, path.with_name(path.name + ".wal")):
            stale.unlink(missing_ok=True)
        if path == self.stage_path:
            self.stage_meta_path.unlink(missing_ok=True)

    def _write_error(self, exc: BaseException) -> WarehouseWriteError:
        return WarehouseWriteError(
            f"could not write the warehouse beside {self.path}: {exc}. Is the disk full, or the folder "
            f"read-only? Nothing was published: {self.path} is as it was before this run.")

    def _publish(self, path: Path, base: list[int] | None) -> None:
        if _fingerprint(self.path) != base:
            raise WarehouseBusy(f"{self.path} was published by another writer while this run was writing; "
                                "nothing from this run was published, run it again")
        _flush_now(path)
        old = _hold_open(self.path)
        os.replace(path, self.path)
        _fsync(self.path.parent)  # the rename itself
        _release_soon(old)
        if path == self.stage_path:
            self.stage_meta_path.unlink(missing_ok=True)

    def _record_landed(self) -> None:
        # after the publish: a crash in between is healed by the rerun, which records its pulls again
        # (README, Guarantees: "Not promised")
        if self._pending_landed:
            RawStore(raw_dir_for(self.path)).record_landed(self._pending_landed)
            self._pending_landed = []

    def origin(self) -> str | None:
        """'live' or 'synthetic' for a published warehouse, None when there is none yet."""
        if not self.path.exists():
            return None
        with self.reader() as conn:
            try:
                found = conn.execute("select value from raw.warehouse_info where key = 'origin'").fetchall()
            except duckdb.CatalogException:
                return None
        return found[0][0] if found else None

    # -- reading ---------------------------------------------------------------
    @contextlib.contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to the published file (never blocks a writer: writers use a copy)."""
        if not self.path.exists():
            raise WarehouseMissing(f"no warehouse at {self.path} yet; run `tokentide demo` or `tokentide backfill`")
        conn = duckdb.connect(str(self.path), read_only=True, config=CONNECTION_CONFIG)
        try:
            yield conn
        finally:
            conn.close()


# Linux's FICLONE ioctl: the copy shares the published file's blocks until the run changes them.
_FICLONE = 0x40049409


def _copy(source: Path, target: Path) -> bool:
    """Copy `source` to `target`; True when the copy is a reflink (it shares the blocks, already on
    disk), False when the bytes were copied and still need flushing."""
    if _clone(source, target):
        return True
    shutil.copyfile(source, target)
    return False


def _clone(source: Path, target: Path) -> bool:
    """Copy `source` as a reflink where the filesystem has them (XFS, btrfs): milliseconds and no
    extra disk instead of copying every byte (0.2-2 s per 500 MB here, growing with history).
    False where it has not (ext4, tmpfs, other systems)."""
    if not sys.platform.startswith("linux"):  # the ioctl number is Linux's
        return False
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
    except OSError:
        target.unlink(missing_ok=True)
        return False
    return True


# The copy is written to disk while the run works on it, not all at publish time: a background
# fsync right after the copy (at W2's 2 GiB this takes ~1 s that otherwise adds to every run);
# the fsync at publish then flushes only what the run changed.
_flushing: dict[str, threading.Thread] = {}


def _wait_for(thread: threading.Thread | None) -> None:
    if thread is not None:
        thread.join()


def _flush_soon(path: Path) -> None:
    thread = threading.Thread(target=_fsync, args=(path,), name=f"fsync {path.name}", daemon=True)
    _flushing[str(path)] = thread
    thread.start()


def _flush_now(path: Path) -> None:
    early = _flushing.pop(str(path), None)
    if early is not None:
        early.join()
    _fsync(path)


# Replacing the published file frees its blocks, which takes ext4 ~0.15 s per 500 MB inside the
# rename; holding the old file open moves that work to the close, done in the background.
def _hold_open(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None


def _release_soon(fd: int | None) -> None:
    if fd is not None:
        threading.Thread(target=os.close, args=(fd,), name="release old warehouse", daemon=True).start()


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # the early flush of a copy that was discarded meanwhile
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
