"""DataApiClient behaviour against scripted transports, on a fake clock (nothing really sleeps)."""

import json
import logging
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.source.client import (
    DATA_FLOOR, AuthError, BadRequestError, DailyBudgetExhausted, DataApiClient, ResponseTooLarge,
    RetryBudgetExhausted, SourceError, plan_windows,
)

KEY = "sk-or-v1-CANARY-7f3a9e"
OK_BODY = b'{"data":[],"meta":{"as_of":"2026-11-24T02:00:00.000Z","version":"v1"}}'


class FakeTime:
    """Monotonic clock + sleep + UTC wall clock that move together."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def utc(self) -> datetime:
        return datetime(2026, 11, 24, 3, 0, tzinfo=UTC) + timedelta(seconds=self.now)


class Script:
    """A transport handler answering from a list: httpx.Response, an exception to raise, or a callable."""

    def __init__(self, *answers, default=None):
        self.answers = list(answers)
        self.default = default
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else self.default
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer


def ok() -> httpx.Response:
    return httpx.Response(200, content=OK_BODY, headers={"content-type": "application/json"})


def error(status: int, message: str = "boom", headers=None) -> httpx.Response:
    body = json.dumps({"error": {"code": status, "message": message}}).encode()
    return httpx.Response(status, content=body, headers=headers or {})


def make_client(script: Script, fake: FakeTime, **kwargs) -> DataApiClient:
    waits = kwargs.pop("waits", None)
    return DataApiClient("https://sim.test/api/v1", kwargs.pop("api_key", KEY),
                         transport=httpx.MockTransport(script), sleep=fake.sleep, clock=fake.clock,
                         utc_now=fake.utc, on_wait=(lambda s, r: waits.append((s, r))) if waits is not None else None,
                         **kwargs)


def week(client: DataApiClient):
    return client.rankings(date(2026, 11, 9), date(2026, 11, 22), period="week")


def test_success_returns_verbatim_body_and_sends_key_only_to_rankings():
    fake = FakeTime()
    script = Script(ok(), ok())
    with make_client(script, fake) as client:
        resp = week(client)
        catalogue = client.models()
    assert resp.body == OK_BODY and resp.status == 200
    assert resp.params == {"start_date": "2026-11-09", "end_date": "2026-11-22", "period": "week"}
    assert resp.headers == {"content-type": "application/json"}
    assert resp.fetched_at.tzinfo is not None
    rankings_req, models_req = script.requests
    assert rankings_req.url.path == "/api/v1/datasets/rankings-daily"
    assert rankings_req.headers["authorization"] == f"Bearer {KEY}"
    assert models_req.url.params["output_modalities"] == "all"
    assert "authorization" not in models_req.headers
    assert catalogue.endpoint == "models"


def test_rate_limit_never_exceeds_requests_per_minute():
    fake = FakeTime()
    sent_at: list[float] = []
    script = Script(default=lambda req: (sent_at.append(fake.now), ok())[1])
    waits: list[tuple[float, str]] = []
    client = make_client(script, fake, requests_per_minute=30, daily_budget=500, waits=waits)
    for _ in range(65):
        week(client)
    assert len(sent_at) == 65
    # any 60 s window holds at most 30 sends
    assert max(sum(1 for t in sent_at if s <= t < s + 60) for s in sent_at) == 30
    # and the client waited no longer than needed: 65 sends fit in three windows
    assert sent_at[-1] == pytest.approx(120.0)
    assert waits and all("rate limit" in reason for _, reason in waits)


def test_429_honours_retry_after_seconds():
    fake = FakeTime()
    waits = []
    script = Script(error(429, "Rate limit exceeded", {"Retry-After": "7"}), ok())
    resp = week(make_client(script, fake, waits=waits))
    assert resp.status == 200
    assert fake.sleeps == [7.0]
    assert waits[0][0] == 7.0 and "429" in waits[0][1]


def test_429_honours_x_ratelimit_reset_epoch_ms():
    fake = FakeTime()
    reset_ms = int((fake.utc().timestamp() + 42.5) * 1000)
    script = Script(error(429, headers={"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "0",
                                        "X-RateLimit-Reset": str(reset_ms)}), ok())
    week(make_client(script, fake))
    assert fake.sleeps == [pytest.approx(42.5, abs=0.01)]


def test_429_without_hints_backs_off_exponentially_with_jitter():
    fake = FakeTime()
    script = Script(error(429), error(429), error(429), ok())
    week(make_client(script, fake))
    assert len(fake.sleeps) == 3
    for n, slept in enumerate(fake.sleeps):
        assert 2**n / 2 <= slept <= 2**n


def test_5xx_timeout_and_reset_are_retried_then_succeed():
    fake = FakeTime()
    script = Script(error(500), error(502), httpx.ReadTimeout("read timed out"),
                    httpx.RemoteProtocolError("Server disconnected without sending a response."),
                    httpx.ConnectError("[Errno 104] Connection reset by peer"), error(504), ok())
    resp = week(make_client(script, fake, max_retries=6))
    assert resp.body == OK_BODY
    assert len(script.requests) == 7
    assert len(fake.sleeps) == 6
    assert all(min(60, 2**n) / 2 <= s <= min(60, 2**n) for n, s in enumerate(fake.sleeps))


def test_backoff_is_capped_at_60s():
    fake = FakeTime()
    script = Script(default=error(503))
    with pytest.raises(RetryBudgetExhausted):
        week(make_client(script, fake, max_retries=9, max_total_wait_s=10_000))
    assert max(fake.sleeps) <= 60.0
    assert fake.sleeps[-1] >= 30.0


def test_retry_budget_exhausted_reports_attempts_and_last_status():
    fake = FakeTime()
    script = Script(default=error(503, "no provider"))
    with pytest.raises(RetryBudgetExhausted) as info:
        week(make_client(script, fake, max_retries=3))
    assert info.value.attempts == 4 and info.value.status == 503
    assert len(script.requests) == 4
    assert "4 attempts" in str(info.value) and "503" in str(info.value)


def test_retry_after_beyond_the_wait_budget_gives_up_without_sleeping():
    fake = FakeTime()
    script = Script(default=error(429, "Rate limit exceeded", {"Retry-After": "3600"}))
    with pytest.raises(RetryBudgetExhausted):
        week(make_client(script, fake, max_total_wait_s=600))
    assert fake.sleeps == [] and len(script.requests) == 1


def test_daily_budget_stops_before_sending_and_resets_next_utc_day():
    fake = FakeTime()
    script = Script(default=ok())
    client = make_client(script, fake, daily_budget=3)
    for _ in range(3):
        week(client)
    with pytest.raises(DailyBudgetExhausted, match="3 of 3"):
        week(client)
    assert len(script.requests) == 3
    client.models()  # the public catalogue is not a Data API call
    fake.now += 24 * 3600  # next UTC day
    week(client)
    assert len(script.requests) == 5


def test_retries_count_against_the_daily_budget():
    fake = FakeTime()
    script = Script(error(500), error(500), ok())
    with pytest.raises(DailyBudgetExhausted):
        week(make_client(script, fake, daily_budget=2))
    assert len(script.requests) == 2


def test_400_fails_at_once_with_openrouter_message_and_params():
    fake = FakeTime()
    script = Script(error(400, "end_date must not be before 2025-01-01"), default=ok())
    client = make_client(script, fake)
    with pytest.raises(BadRequestError) as info:
        client.rankings(date(2024, 1, 1), date(2024, 6, 1), period="day")
    message = str(info.value)
    assert "end_date must not be before 2025-01-01" in message
    assert "start_date=2024-01-01" in message and "datasets/rankings-daily" in message
    assert len(script.requests) == 1 and fake.sleeps == []


def test_401_fails_at_once_and_says_which_variable_to_set():
    fake = FakeTime()
    script = Script(error(401, "User not found."), default=ok())
    with pytest.raises(AuthError) as info:
        week(make_client(script, fake))
    assert "OPENROUTER_API_KEY" in str(info.value) and "User not found." in str(info.value)
    assert len(script.requests) == 1 and fake.sleeps == []


def test_missing_key_fails_before_sending(monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    fake = FakeTime()
    script = Script(default=ok())
    with pytest.raises(AuthError, match="OPENROUTER_API_KEY") as info:
        week(make_client(script, fake, api_key=None))
    assert "https://openrouter.ai/settings/keys" in str(info.value)
    assert script.requests == []


def test_invalid_parameters_are_refused_before_sending():
    fake = FakeTime()
    script = Script(default=ok())
    client = make_client(script, fake)
    with pytest.raises(BadRequestError, match="cannot be combined"):
        client.rankings(date(2026, 1, 5), date(2026, 1, 11), category="legal", modality="text")
    with pytest.raises(BadRequestError, match="period=day"):
        client.rankings(date(2026, 1, 5), date(2026, 1, 11), period="day", category="legal")
    assert script.requests == []


def test_other_client_errors_are_not_retried():
    fake = FakeTime()
    script = Script(error(403, "Forbidden"), default=ok())
    with pytest.raises(SourceError, match="HTTP 403"):
        week(make_client(script, fake))
    assert len(script.requests) == 1


def _chunks(counter: list[int], n: int = 64, size: int = 1024):
    for _ in range(n):
        counter[0] += 1
        yield b"x" * size


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
def test_too_large_body_is_rejected_and_reading_stops_early(declared):
    fake = FakeTime()
    produced = [0]
    if declared:
        response = httpx.Response(200, content=b"x" * 8192)
    else:
        response = httpx.Response(200, content=_chunks(produced))
    script = Script(response)
    with pytest.raises(ResponseTooLarge, match="max_body_bytes=4096"):
        week(make_client(script, fake, max_body_bytes=4096))
    if not declared:
        assert produced[0] < 64
    assert len(script.requests) == 1  # not retried: asking again would not shrink it


# -- the key never leaks ------------------------------------------------------------------------------

LEAK_CASES = {
    "400": dict(answers=[error(400, "Invalid request parameters")]),
    "401": dict(answers=[error(401, "Missing Authentication header")]),
    "401-echoing-key": dict(answers=[error(401, f"key {KEY} is disabled")]),
    "403": dict(answers=[error(403, "Forbidden")]),
    "429-exhausted": dict(default=error(429, "Rate limit exceeded", {"Retry-After": "1"})),
    "500-exhausted": dict(default=error(500, "Internal Server Error")),
    "timeout-exhausted": dict(default=httpx.ReadTimeout("timed out")),
    "reset-exhausted": dict(default=httpx.ConnectError("Connection reset by peer")),
    "too-large": dict(answers=[httpx.Response(200, content=b"x" * 8192)]),
    "daily-budget": dict(answers=[ok()], calls=2, budget=1),
}


def _exception_chain(exc: BaseException):
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


@pytest.mark.parametrize("case", LEAK_CASES, ids=list(LEAK_CASES))
def test_api_key_never_appears_in_errors_or_logs(case, caplog):
    spec = LEAK_CASES[case]
    caplog.set_level(logging.DEBUG)
    fake = FakeTime()
    script = Script(*spec.get("answers", []), default=spec.get("default"))
    client = make_client(script, fake, max_retries=2, max_body_bytes=4096, daily_budget=spec.get("budget", 500))
    with pytest.raises(SourceError) as info:
        for _ in range(spec.get("calls", 1)):
            week(client)
    assert script.requests and script.requests[0].headers["authorization"] == f"Bearer {KEY}"
    chain = _exception_chain(info.value)
    for exc in chain:
        assert KEY not in str(exc) and KEY not in repr(exc)
        assert KEY not in repr(getattr(exc, "params", ""))
    assert KEY not in caplog.text
    assert KEY not in repr(client)


def test_api_key_absent_from_successful_response():
    fake = FakeTime()
    resp = week(make_client(Script(ok()), fake))
    assert KEY not in repr(resp) and KEY not in json.dumps(resp.params) and KEY not in repr(resp.headers)


# -- plan_windows ------------------------------------------------------------------------------------

days = st.dates(min_value=date(2024, 6, 1), max_value=date(2028, 12, 31))


@settings(max_examples=300, deadline=None)
@given(start=days, end=days, period=st.sampled_from(["day", "week", "month"]))
def test_plan_windows_cover_the_range_in_legal_contiguous_windows(start, end, period):
    windows = plan_windows(start, end, period)
    lo = max(start, DATA_FLOOR)
    if lo > end:
        assert windows == []
        return
    assert windows[0][0] <= lo and windows[-1][1] >= end  # every requested day is covered
    assert windows[0][0] >= DATA_FLOOR
    for (s, e), (next_s, _) in zip(windows, windows[1:]):
        assert next_s == e + timedelta(days=1)  # contiguous, no overlap
    for s, e in windows:
        assert s <= e and (e - s).days + 1 <= 366
        if period == "week":
            assert s.weekday() == 0 or s == DATA_FLOOR
            assert e.weekday() == 6 and (e - s).days + 1 <= 364
        if period == "month":
            assert s.day == 1 or s == DATA_FLOOR
            assert (e + timedelta(days=1)).day == 1
    if period == "day":
        assert windows[0][0] == lo and windows[-1][1] == end  # no widening for days


def test_plan_windows_backfill_needs_few_requests():
    # Two years of weekly history: 52-week windows, the first cut by the floor.
    windows = plan_windows(date(2024, 1, 1), date(2026, 11, 22), "week")
    assert windows[0] == (DATA_FLOOR, date(2025, 12, 28))
    assert windows[1] == (date(2025, 12, 29), date(2026, 11, 22))  # already a Sunday
    assert len(windows) == 2


def test_work_done_while_waiting_for_the_rate_limit_shortens_the_sleep_not_the_wait():
    fake = FakeTime()
    client = make_client(Script(default=ok()), fake, requests_per_minute=2)
    worked = []

    def work():
        worked.append(fake.now)
        fake.now += 5.0  # the caller's work takes 5 s of the wait

    client.while_waiting = work
    for _ in range(3):
        week(client)
    assert worked == [0.0] and fake.sleeps == [55.0] and fake.now == 60.0  # the 3rd request waits 60 s all told
