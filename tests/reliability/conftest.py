"""Machinery of the reliability suite: the Data API stand-in on 127.0.0.1, the CLI as a real
subprocess, a baseline warehouse ("before the run") and its clean continuation ("after"), and
table checksums to compare them.

The run under test re-pulls one week of the baseline and adds two, so every crash or race test
can tell the state before the run from the state after it.
"""

import dataclasses
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.checksum import FETCH_TIME_COLUMNS, table_checksums
from assets.settings import raw_dir_for
from assets.source.server import serve
from assets.source.simulator import DataApiSimulator, MarketConfig, SimulatedMarket
from orchestration.definitions import defs
from orchestration.resources import DataApiResource, WarehouseResource

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-or-v1-RELIABILITY-7f3c9e1a0b5d42c8-DO-NOT-LEAK"
BASE = ("2026-10-26", "2026-11-02")   # the warehouse before the run
RUN = ("2026-11-02", "2026-11-16")    # the run under test: one week re-pulled, two new
WAIT_S = 120                          # bound on every wait in this suite
KEY_ENV = "TOKENTIDE_RELIABILITY_API_KEY"  # in-process runs read the key from here, not the real variable
os.environ[KEY_ENV] = SECRET


@pytest.fixture(scope="session")
def market():
    return SimulatedMarket(MarketConfig())


@pytest.fixture
def api(market):
    """(simulator, base URL) of a fresh stand-in on 127.0.0.1 that only accepts SECRET."""
    sim = DataApiSimulator(market, api_key=SECRET)
    with serve(sim) as url:
        yield sim, url


def run_job(db: Path, url: str, first: str, last: str, *, instance=None, rpm: int = 10_000):
    """One weekly_refresh run in-process (real Dagster, real HTTP to `url`)."""
    def execute(inst):
        return defs.resolve_job_def("weekly_refresh").execute_in_process(
            instance=inst, raise_on_error=False,
            resources={"data_api": DataApiResource(base_url=url, api_key_env=KEY_ENV, requests_per_minute=rpm),
                       "warehouse": WarehouseResource(path=str(db))},
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last})

    if instance is not None:
        return execute(instance)
    with dg.instance_for_test() as inst:
        return execute(inst)


def failure_text(result) -> str:
    return "\n".join(e.event_specific_data.error.to_string() for e in result.all_events
                     if e.event_type_value == "STEP_FAILURE")


def checksums(db: Path, *, comparable: bool = True) -> dict[str, str]:
    """Table checksums of the published warehouse; `comparable` leaves out the fetch times, which
    differ between two warehouses that pulled the same data at different moments."""
    with duckdb.connect(str(db), read_only=True) as conn:
        return table_checksums(conn, FETCH_TIME_COLUMNS if comparable else ())


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_warehouse(src: Path, dst: Path) -> Path:
    """Copy a published warehouse and its raw directory (the state a test starts from)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    shutil.copytree(raw_dir_for(src), raw_dir_for(dst))
    return dst


def assert_raw_files_whole(db: Path) -> None:
    """Every kept body is complete: it decompresses and hashes to its own name."""
    root = raw_dir_for(db)
    bodies = list(root.glob("*/*.json.gz"))
    assert bodies, f"no raw bodies under {root}"
    for path in bodies:
        with gzip.open(path, "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == path.name.removesuffix(".json.gz"), path


def assert_no_leftovers(db: Path) -> None:
    """A finished or failed write leaves neither a working copy nor a stage beside the warehouse."""
    left = [p.name for p in db.parent.glob(f".{db.name}*")]
    assert not left, f"left beside the warehouse: {left}"


@dataclasses.dataclass(frozen=True)
class Reference:
    base: Path                 # published warehouse with weeks BASE (copy it, never write it)
    before: dict[str, str]     # its checksums (comparable)
    after: dict[str, str]      # checksums of a clean build of BASE then RUN (comparable)


@pytest.fixture(scope="session")
def reference(market, tmp_path_factory) -> Reference:
    root = tmp_path_factory.mktemp("reference")
    sim = DataApiSimulator(market, api_key=SECRET)
    base, clean = root / "base" / "w.duckdb", root / "clean" / "w.duckdb"
    with serve(sim) as url, dg.instance_for_test() as inst:
        result = run_job(base, url, *BASE, instance=inst)
        assert result.success, failure_text(result)
        copy_warehouse(base, clean)
        result = run_job(clean, url, *RUN, instance=inst)
        assert result.success, failure_text(result)
    return Reference(base=base, before=checksums(base), after=checksums(clean))


@pytest.fixture
def start_db(reference, tmp_path) -> Path:
    """A private copy of the baseline warehouse (with its raw directory)."""
    return copy_warehouse(reference.base, tmp_path / "data" / "w.duckdb")


class Cli:
    """`tokentide` as a real subprocess against the stand-in, with its own DAGSTER_HOME."""

    def __init__(self, url: str, home: Path):
        self.url, self.home = url, home

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENTIDE_", "DAGSTER_"))}
        env.update(OPENROUTER_BASE_URL=self.url, OPENROUTER_API_KEY=SECRET, DAGSTER_HOME=str(self.home),
                   PYTHONUNBUFFERED="1", COLUMNS="200")
        env.update(extra)
        return env

    def start(self, *args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", "from orchestration.cli import main; main()", *args],
                                cwd=ROOT, env=env or self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **popen)

    def run(self, *args: str, env: dict[str, str] | None = None, **popen) -> subprocess.CompletedProcess:
        proc = self.start(*args, env=env, **popen)
        out, err = proc.communicate(timeout=WAIT_S)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def backfill_args(db: Path, first: str = RUN[0], last: str = RUN[1]) -> list[str]:
    return ["backfill", "--start", first, "--end", last, "--db", str(db)]


@pytest.fixture
def cli(api, tmp_path) -> Cli:
    return Cli(api[1], tmp_path / "dagster_home")


def pause_env(cli: Cli, point: str, folder: Path) -> dict[str, str]:
    """Environment that stops the CLI's run at a writer pause point (assets/warehouse.py)."""
    folder.mkdir(parents=True, exist_ok=True)
    return cli.env(TOKENTIDE_TEST_PAUSE=point, TOKENTIDE_TEST_PAUSE_DIR=str(folder))


def wait_for(predicate, what: str, proc: subprocess.Popen | None = None, timeout_s: float = WAIT_S) -> None:
    """Poll `predicate` (bounded); fail early, with the process's output, if `proc` exits first."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process exited ({proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
