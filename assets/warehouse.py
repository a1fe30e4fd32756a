"""The DuckDB file, written by copy-and-publish so readers never block or see half a run.

DuckDB lets one process write a file, and a read-only reader's lock blocks that
writer. So a write never opens the published file: it copies it to a working
file beside it, changes the copy in one transaction, checkpoints, and then
atomically renames the copy over the published name. A reader that has the
old file open keeps its consistent snapshot; the next connection sees the new
one. A crash at any point leaves the published file as it was (the stale
working copy is discarded at the next write). A run lock (`<db>.lock`, flock)
serialises writers across processes; it is re-entrant within a process.
"""

import contextlib
import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from assets.schema import ensure_schema

CONNECTION_CONFIG = {"python_enable_replacements": False}
# Files readable by the standalone DuckDB CLI too (PyPI's duckdb-cli is 1.x; 2.x storage is newer).
WRITER_CONFIG = {**CONNECTION_CONFIG, "storage_compatibility_version": "v1.4.0"}


class WarehouseBusy(RuntimeError):
    """Another tokentide run holds the warehouse lock."""


class WarehouseMissing(FileNotFoundError):
    """No warehouse has been published at the path yet."""


_held: dict[str, int] = {}
_held_guard = threading.Lock()


class Warehouse:
    def __init__(self, path: Path | str):
        self.path = Path(path).resolve()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.work_path = self.path.with_name(f".{self.path.name}.work")

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
               fresh: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to a private working copy in an open transaction; published on success.
        `fresh` starts from an empty database instead of a copy (for `rebuild`)."""
        with self.run_lock(timeout_s, on_wait):
            self.work_path.unlink(missing_ok=True)
            self.work_path.with_name(self.work_path.name + ".wal").unlink(missing_ok=True)
            if self.path.exists() and not fresh:
                shutil.copyfile(self.path, self.work_path)
            conn = duckdb.connect(str(self.work_path), config=WRITER_CONFIG)
            try:
                ensure_schema(conn)
                conn.execute("begin")
                try:
                    yield conn
                    conn.execute("commit")
                except BaseException:
                    conn.execute("rollback")
                    raise
                conn.execute("checkpoint")
                conn.close()
                self._publish()
            except BaseException:
                conn.close()
                self.work_path.unlink(missing_ok=True)
                raise

    def _publish(self) -> None:
        fd = os.open(self.work_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.work_path, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

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
