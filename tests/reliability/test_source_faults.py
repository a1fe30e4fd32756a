"""Promise 1: transient source faults are retried within bounds; when the retry budget runs out
the run fails with a clear message, lands nothing, and the next run completes the work.

Runs are real Dagster runs (in-process) over real HTTP to the stand-in on 127.0.0.1. Resets and
read timeouts are produced at the transport: a reset is raised before the request is sent, a
timeout is real (the server holds the answer longer than the client's read timeout)."""

import dagster as dg
import httpx

from assets.settings import raw_dir_for
from assets.source.client import DataApiClient
from orchestration.definitions import defs
from orchestration.resources import DataApiResource, WarehouseResource
from tests.reliability.conftest import (RUN, SECRET, assert_no_leftovers, checksums, failure_text, file_sha,
                                        run_job)


class _ResetTransport(httpx.BaseTransport):
    """Real HTTP, except that the first `resets` requests fail as if the peer reset the connection."""

    def __init__(self, resets: int):
        self.inner, self.resets = httpx.HTTPTransport(), resets

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.resets:
            self.resets -= 1
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        return self.inner.handle_request(request)


_TRANSPORT: dict[str, httpx.BaseTransport] = {}


class FaultyApi(DataApiResource):
    """The Data API resource with a short read timeout, a no-op backoff sleep and _TRANSPORT."""

    def client(self) -> DataApiClient:
        return DataApiClient(self.base_url, SECRET, transport=_TRANSPORT["t"], requests_per_minute=10_000,
                             timeout_s=1.0, sleep=lambda s: None)


def test_throttling_5xx_resets_timeouts_and_slow_answers_are_retried(api, start_db, reference):
    sim, url = api
    rankings = "datasets/rankings-daily"
    faults = [dict(status=429, headers={"Retry-After": "1"}), dict(status=429, headers={"X-RateLimit-Reset": "0"}),
              dict(status=500), dict(status=502), dict(status=503), dict(delay_s=3)]   # the last: a read timeout
    for fault in faults:           # each fault, then a normal answer to its retry
        sim.inject(path=rankings, **fault)
        sim.inject(path=rankings)
    sim.inject(delay_s=0.5, times=3, path=rankings)          # slow answers, within the read timeout
    sim.inject(status=503, path="models")
    _TRANSPORT["t"] = _ResetTransport(resets=2)
    with dg.instance_for_test() as inst:
        result = defs.resolve_job_def("weekly_refresh").execute_in_process(
            instance=inst, raise_on_error=False,
            resources={"data_api": FaultyApi(base_url=url), "warehouse": WarehouseResource(path=str(start_db))},
            tags={"dagster/asset_partition_range_start": RUN[0], "dagster/asset_partition_range_end": RUN[1]})
    assert result.success, failure_text(result)
    assert checksums(start_db) == reference.after
    # every fault was met and retried: 20 answers + 7 faults seen by the server (2 resets never reach it)
    assert len(sim.requests) == 20 + len(faults) + 1
    assert _TRANSPORT["t"].resets == 0


def test_a_429_storm_past_the_budget_fails_clearly_lands_nothing_and_the_next_run_completes(
        api, start_db, reference):
    sim, url = api
    published, landed = file_sha(start_db), (raw_dir_for(start_db) / "landed.jsonl").read_bytes()
    sim.inject(times=3, path="datasets/rankings-daily")                          # three good answers, then
    sim.inject(status=429, headers={"Retry-After": "0"}, times=7, path="datasets/rankings-daily")  # 1 + 6 retries
    result = run_job(start_db, url, *RUN)
    assert not result.success
    text = failure_text(result)
    assert "gave up after 7 attempts (6 retries); last failure: HTTP 429: Rate limit exceeded" in text
    assert "period=week category=" in text or "GET datasets/rankings-daily (" in text   # names the request
    assert file_sha(start_db) == published
    assert (raw_dir_for(start_db) / "landed.jsonl").read_bytes() == landed
    assert_no_leftovers(start_db)

    result = run_job(start_db, url, *RUN)                                        # the storm is over
    assert result.success, failure_text(result)
    assert checksums(start_db) == reference.after
