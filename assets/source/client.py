"""HTTP client for OpenRouter's Data API (`/datasets/rankings-daily`) and the public `/models` catalogue.

The client stops at the edge: it returns verbatim response bytes (the caller stores them before parsing),
keeps the API key out of every message, and stays inside OpenRouter's limits (30 requests/minute,
500/day) with bounded retries. Facts behind each rule: /work/shared/specs/sources.md §1-2.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import httpx

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
CATEGORIES = ("programming", "roleplay", "marketing", "marketing/seo", "technology", "science", "translation",
              "legal", "finance", "health", "trivia", "academia")
MODALITIES = ("text", "image", "image_output", "audio", "tool_calling")
PERIODS = ("day", "week", "month")
DATA_FLOOR = date(2025, 1, 1)
MAX_SPAN_DAYS = 366  # inclusive days per request (sources.md §1.2)

RANKINGS_ENDPOINT = "datasets/rankings-daily"
MODELS_ENDPOINT = "models"
KEY_ENV_VAR = "OPENROUTER_API_KEY"
KEYS_URL = "https://openrouter.ai/settings/keys"

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
# Error bodies are only read for their message; a huge HTML error page is not worth holding.
_ERROR_BODY_BYTES = 64 * 2**10


@dataclass(frozen=True)
class ApiResponse:
    """One successful answer, exactly as received."""

    endpoint: str                 # "datasets/rankings-daily" or "models"
    params: dict[str, str]        # query params actually sent (never the key)
    status: int
    body: bytes = field(repr=False)  # verbatim body; left out of repr because it can be megabytes
    headers: dict[str, str]       # lower-cased, only content-type, retry-after, x-ratelimit-*
    fetched_at: datetime          # tz-aware UTC


class SourceError(Exception):
    """Base of every client failure; the message names the endpoint and params, never the key."""

    def __init__(self, message: str, *, endpoint: str, params: dict[str, str] | None = None,
                 status: int | None = None, attempts: int = 0):
        super().__init__(message)
        self.endpoint = endpoint
        self.params = dict(params or {})
        self.status = status
        self.attempts = attempts


class AuthError(SourceError):
    """No key, or OpenRouter refused it (401)."""


class BadRequestError(SourceError):
    """OpenRouter rejected the parameters (400), or they were invalid before sending."""


class RetryBudgetExhausted(SourceError):
    """429/5xx/timeouts/resets kept failing after the retry budget."""


class ResponseTooLarge(SourceError):
    """The body exceeded max_body_bytes; reading stopped early."""


class DailyBudgetExhausted(SourceError):
    """Sending would exceed the per-UTC-day request budget (OpenRouter allows 500/day per account)."""


def _describe(endpoint: str, params: dict[str, str]) -> str:
    shown = " ".join(f"{k}={v}" for k, v in params.items())
    return f"GET {endpoint}" + (f" ({shown})" if shown else "")


def _error_message(body: bytes) -> str:
    """OpenRouter's `error.message`, else the start of the body (an HTML error page, say)."""
    try:
        message = json.loads(body)["error"]["message"]
        if isinstance(message, str):
            return message
    except (ValueError, KeyError, TypeError):
        pass
    text = body[:200].decode("utf-8", "replace").strip()
    return text or "empty body"


class _SlidingWindow:
    """At most `limit` sends in any `window_s` seconds, on an injected clock."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]):
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self.sent: deque[float] = deque()

    def wait_needed(self) -> float:
        now = self.clock()
        while self.sent and self.sent[0] <= now - self.window_s:
            self.sent.popleft()
        if len(self.sent) < self.limit:
            return 0.0
        return self.sent[0] + self.window_s - now

    def record(self) -> None:
        self.sent.append(self.clock())


class DataApiClient:
    """Client for the Data API; see the module docstring. Use as a context manager or call close()."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, api_key: str | None = None, *,
                 transport: httpx.BaseTransport | None = None, requests_per_minute: int = 30,
                 daily_budget: int = 500, max_retries: int = 6, max_total_wait_s: float = 600.0,
                 timeout_s: float = 60.0, max_body_bytes: int = 64 * 2**20,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 on_wait: Callable[[float, str], None] | None = None,
                 utc_now: Callable[[], datetime] | None = None,
                 rng: random.Random | None = None):
        self.base_url = base_url.rstrip("/")
        # Falls back to the environment so every caller gets the same key handling.
        self._api_key = api_key if api_key is not None else os.environ.get(KEY_ENV_VAR)
        self.daily_budget = daily_budget
        self.max_retries = max_retries
        self.max_total_wait_s = max_total_wait_s
        self.max_body_bytes = max_body_bytes
        self._sleep = sleep
        self._on_wait = on_wait
        self._utc_now = utc_now or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()
        self._clock = clock
        self._window = _SlidingWindow(requests_per_minute, 60.0, clock)
        # Work to do while waiting out the rate limit or a retry (the wait still lasts as long).
        self.while_waiting: Callable[[], None] | None = None
        self._spent: dict[date, int] = {}
        self._http = httpx.Client(transport=transport, timeout=httpx.Timeout(timeout_s),
                                  headers={"user-agent": "tokentide/0.1", "accept": "application/json"})

    def __repr__(self) -> str:
        return f"DataApiClient(base_url={self.base_url!r}, api_key={'set' if self._api_key else 'missing'})"

    def __enter__(self) -> DataApiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def requests_spent_today(self) -> int:
        """Data API requests sent so far on the current UTC day (retries included)."""
        return self._spent.get(self._utc_now().date(), 0)

    # -- public calls ---------------------------------------------------------------------------------

    def rankings(self, start_date: date, end_date: date, *, period: str = "week",
                 category: str | None = None, modality: str | None = None) -> ApiResponse:
        """GET datasets/rankings-daily for one window (at most 366 days; see plan_windows)."""
        params = {"start_date": start_date.isoformat(), "end_date": end_date.isoformat(), "period": period}
        if category is not None:
            params["category"] = category
        if modality is not None:
            params["modality"] = modality
        problem = _param_problem(period, category, modality)
        if problem:
            # Caught here because OpenRouter would only answer 400 and spend a request on it.
            raise BadRequestError(f"{_describe(RANKINGS_ENDPOINT, params)}: not sent, {problem}",
                                  endpoint=RANKINGS_ENDPOINT, params=params)
        if not self._api_key:
            raise AuthError(f"{_describe(RANKINGS_ENDPOINT, params)}: no API key. Set {KEY_ENV_VAR} to an "
                            f"OpenRouter API key (create one at {KEYS_URL}).",
                            endpoint=RANKINGS_ENDPOINT, params=params)
        return self._get(RANKINGS_ENDPOINT, params, authorised=True)

    def models(self) -> ApiResponse:
        """GET models?output_modalities=all: the full public catalogue (needs no key, so none is sent)."""
        # output_modalities defaults to text upstream, which would hide image models (sources.md §2.1).
        return self._get(MODELS_ENDPOINT, {"output_modalities": "all"}, authorised=False)

    # -- machinery ------------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _wait(self, seconds: float, reason: str) -> None:
        if self._on_wait is not None:
            self._on_wait(seconds, reason)
        log.info("waiting %.1f s: %s", seconds, reason)
        start = self._clock()
        if self.while_waiting is not None:
            self.while_waiting()  # the caller's own work, done in the time the wait takes anyway
        self._sleep(max(0.0, seconds - (self._clock() - start)))

    def _spend_one(self, endpoint: str, params: dict[str, str], attempts: int) -> None:
        """Count one Data API request against the day's budget and the per-minute window."""
        today = self._utc_now().date()
        used = self._spent.get(today, 0)
        if used >= self.daily_budget:
            raise DailyBudgetExhausted(
                f"{_describe(endpoint, params)}: daily budget used up ({used} of {self.daily_budget} requests "
                f"on {today} UTC); it resets at 00:00 UTC.",
                endpoint=endpoint, params=params, attempts=attempts)
        while (pause := self._window.wait_needed()) > 0:
            self._wait(pause, f"rate limit: {self._window.limit} requests per minute")
        self._spent[today] = used + 1
        self._window.record()

    def _get(self, endpoint: str, params: dict[str, str], *, authorised: bool) -> ApiResponse:
        url = f"{self.base_url}/{endpoint}"
        headers = {"authorization": f"Bearer {self._api_key}"} if authorised else {}
        attempts, retries, waited = 0, 0, 0.0
        while True:
            if authorised:
                self._spend_one(endpoint, params, attempts)
            attempts += 1
            # httpx exceptions carry the request (and so the Authorization header): note what happened
            # and raise our own errors outside the except block so nothing chains to them.
            failure: str | None = None
            try:
                status, kept, body = self._send(url, params, headers, endpoint)
            except httpx.TimeoutException:
                failure = "timeout"
            except (httpx.TransportError, httpx.DecodingError) as exc:
                failure = f"connection error ({type(exc).__name__})"
            if failure is None:
                if 200 <= status < 300:
                    return ApiResponse(endpoint=endpoint, params=dict(params), status=status, body=body,
                                       headers=kept, fetched_at=self._utc_now())
                if status not in RETRY_STATUSES:
                    raise self._final_error(endpoint, params, status, body, attempts)
                failure = f"HTTP {status}: {self._redact(_error_message(body))}"
                asked = self._server_wait(kept) if status in (429, 503) else None
            else:
                status, asked = None, None
            delay = asked if asked is not None else self._backoff(retries)
            if retries >= self.max_retries or waited + delay > self.max_total_wait_s:
                why = (f"{retries} retries" if retries >= self.max_retries
                       else f"next wait {delay:.0f} s would pass max_total_wait_s={self.max_total_wait_s:.0f}")
                raise RetryBudgetExhausted(
                    f"{_describe(endpoint, params)}: gave up after {attempts} attempts ({why}); "
                    f"last failure: {failure}.",
                    endpoint=endpoint, params=params, status=status, attempts=attempts)
            log.warning("%s: %s; retry %d in %.1f s", _describe(endpoint, params), failure, retries + 1, delay)
            self._wait(delay, failure)
            waited += delay
            retries += 1

    def _send(self, url: str, params: dict[str, str], headers: dict[str, str],
              endpoint: str) -> tuple[int, dict[str, str], bytes]:
        """One GET, streamed so an oversized body is abandoned early."""
        with self._http.stream("GET", url, params=params, headers=headers) as resp:
            ok = 200 <= resp.status_code < 300
            kept = {k.lower(): v for k, v in resp.headers.items()
                    if k.lower() in ("content-type", "retry-after") or k.lower().startswith("x-ratelimit-")}
            limit = self.max_body_bytes if ok else min(self.max_body_bytes, _ERROR_BODY_BYTES)
            declared = resp.headers.get("content-length", "")
            if ok and declared.isdigit() and int(declared) > limit:
                raise self._too_large(endpoint, params, f"content-length {declared}")
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > limit:
                    if ok:
                        raise self._too_large(endpoint, params, f"more than {size} bytes read")
                    break  # an error body only needs its first bytes
                chunks.append(chunk)
            return resp.status_code, kept, b"".join(chunks)

    def _too_large(self, endpoint: str, params: dict[str, str], seen: str) -> ResponseTooLarge:
        return ResponseTooLarge(
            f"{_describe(endpoint, params)}: response body over max_body_bytes={self.max_body_bytes} ({seen}); "
            f"request a shorter window.", endpoint=endpoint, params=params, status=200)

    def _final_error(self, endpoint: str, params: dict[str, str], status: int, body: bytes,
                     attempts: int) -> SourceError:
        message = self._redact(_error_message(body))
        where = _describe(endpoint, params)
        if status == 401:
            return AuthError(f"{where}: OpenRouter refused the API key (401: {message}). Check that "
                             f"{KEY_ENV_VAR} holds a valid, enabled key ({KEYS_URL}).",
                             endpoint=endpoint, params=params, status=status, attempts=attempts)
        if status == 400:
            return BadRequestError(f"{where}: OpenRouter rejected the parameters (400: {message}).",
                                   endpoint=endpoint, params=params, status=status, attempts=attempts)
        return SourceError(f"{where}: HTTP {status}: {message}.",
                           endpoint=endpoint, params=params, status=status, attempts=attempts)

    def _server_wait(self, headers: dict[str, str]) -> float | None:
        """Seconds the server asked us to wait: Retry-After, else X-RateLimit-Reset (epoch ms)."""
        retry_after = headers.get("retry-after", "").strip()
        if retry_after:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                try:  # the HTTP-date form
                    when = email.utils.parsedate_to_datetime(retry_after)
                    return max(0.0, (when - self._utc_now()).total_seconds())
                except (TypeError, ValueError):
                    pass
        reset = headers.get("x-ratelimit-reset", "").strip()
        if reset:
            try:
                value = float(reset)
            except ValueError:
                return None
            # OpenRouter sends epoch milliseconds; a value this small can only be epoch seconds.
            epoch_s = value if value < 1e11 else value / 1000.0
            return max(0.0, epoch_s - self._utc_now().timestamp())
        return None

    def _backoff(self, retries: int) -> float:
        """Exponential backoff with jitter: between half and all of min(cap, base * 2**retries)."""
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**retries)
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


def _param_problem(period: str, category: str | None, modality: str | None) -> str | None:
    if period not in PERIODS:
        return f"period must be one of {', '.join(PERIODS)}"
    if category is not None and category not in CATEGORIES:
        return f"unknown category {category!r}"
    if modality is not None and modality not in MODALITIES:
        return f"unknown modality {modality!r}"
    if category is not None and modality is not None:
        return "category and modality cannot be combined"
    if category is not None and period == "day":
        return "category data is weekly or monthly only (period=day is refused)"
    return None


def plan_windows(start: date, end: date, period: str, *, floor: date = DATA_FLOOR) -> list[tuple[date, date]]:
    """Split [start, end] into request windows of at most 366 days (inclusive); for period="week" each window
    is whole Monday..Sunday weeks (52 weeks = 364 days); start is raised to DATA_FLOOR (2025-01-01).

    Week (and month) windows widen to whole buckets so no requested day is lost; the one exception is a
    first bucket cut by the floor, which starts at the floor (the API would clamp it there anyway).
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
    start = max(start, floor)
    if start > end:
        return []
    if period == "week":
        first = start - timedelta(days=start.weekday())
        last = end + timedelta(days=6 - end.weekday())
        step = lambda s: s + timedelta(days=52 * 7 - 1)  # noqa: E731
    elif period == "month":
        first = start.replace(day=1)
        last = _month_end(end)
        step = lambda s: _month_end(_add_months(s, 11))  # noqa: E731
    else:
        first, last = start, end
        step = lambda s: s + timedelta(days=MAX_SPAN_DAYS - 1)  # noqa: E731
    windows, cursor = [], first
    while cursor <= last:
        window_end = min(last, step(cursor))
        windows.append((max(cursor, floor), window_end))
        cursor = window_end + timedelta(days=1)
    return windows


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _month_end(day: date) -> date:
    return _add_months(day.replace(day=1), 1) - timedelta(days=1)
