"""Pull → keep raw → validate → land → core: the ingestion steps as plain functions.

Dagster assets and the `rebuild` command call these; they know nothing of
Dagster. A run is all or nothing: every response is kept on disk first, then
all are validated, and only if every one passes do they land, in one
transaction, together with the core rebuild and its invariant checks.
"""

import datetime as dt
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb

from assets.core import first_week_rebuilt
from assets.landing import land_pulls
from assets.parse import PayloadError, parse_catalogue, parse_rankings_batch
from assets.raw_store import RawStore, StoredPull
from assets.source.client import (CATEGORIES, DATA_FLOOR, MODALITIES, BadRequestError, DataApiClient,
                                  plan_windows)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PullRequest:
    period: str
    start: dt.date
    end: dt.date
    category: str | None = None
    modality: str | None = None

    def label(self) -> str:
        seg = f" {self.category or self.modality}" if (self.category or self.modality) else ""
        return f"{self.period}{seg} {self.start}..{self.end}"


def plan_requests(first_week: dt.date, last_week: dt.date, *, daily: bool = True,
                  segments: bool = True, floor: dt.date = DATA_FLOOR) -> list[PullRequest]:
    """Requests covering weeks first_week..last_week (Mondays): about one per 366 days per feed.
    `floor` is the first day with data (the Data API's; a simulated market may start earlier)."""
    end = last_week + dt.timedelta(days=6)
    requests = [PullRequest("week", s, e) for s, e in plan_windows(first_week, end, "week", floor=floor)]
    if daily:
        requests += [PullRequest("day", s, e) for s, e in plan_windows(first_week, end, "day", floor=floor)]
    if segments:
        for s, e in plan_windows(first_week, end, "week", floor=floor):
            requests += [PullRequest("week", s, e, category=c) for c in CATEGORIES]
            requests += [PullRequest("week", s, e, modality=m) for m in MODALITIES]
    return requests


@dataclass
class FetchOutcome:
    stored: list[StoredPull] = field(default_factory=list)
    refused_weekly: list[str] = field(default_factory=list)  # windows served from daily rows instead


def fetch(client: DataApiClient, store: RawStore, requests: list[PullRequest], *,
          catalogue: bool = True, progress: Progress | None = None) -> FetchOutcome:
    """Send every request and keep each body verbatim before anything parses it. While the client
    waits out the rate limit (a backfill: a minute per 30 requests), the bodies kept so far are
    validated, for `validate` to take."""
    outcome = FetchOutcome()
    _prevalidated.clear()
    refused: set[tuple[dt.date, dt.date]] = set()
    total = len(requests) + int(catalogue)
    # Keeping a body (sha256, gzip, fsync) overlaps the next request. One keeper thread keeps the
    # bodies in arrival order; `outcome.stored` lists a body only once it is kept.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="keep-raw") as keeper:
        pending: list[Future] = []

        def kept() -> list[StoredPull]:
            while pending:
                outcome.stored.append(pending.pop(0).result())
            return outcome.stored

        def keep(resp) -> None:
            kept()
            pending.append(keeper.submit(store.put, endpoint=resp.endpoint, params=resp.params,
                                         status=resp.status, body=resp.body, fetched_at=resp.fetched_at))

        client.while_waiting = lambda: _prevalidate(store, kept())
        try:
            for i, req in enumerate(requests, start=1):
                try:
                    resp = client.rankings(req.start, req.end, period=req.period, category=req.category,
                                           modality=req.modality)
                except BadRequestError:
                    if req.period != "week":
                        raise
                    if not (req.category or req.modality):
                        # spec §0.6: weeks the weekly feed refuses are built from the daily rows
                        refused.add((req.start, req.end))
                        outcome.refused_weekly.append(req.label())
                        if progress:
                            progress(f"[{i}/{total}] period=week refused for {req.start}..{req.end}; "
                                     "using daily rows")
                        continue
                    if (req.start, req.end) in refused:
                        # segments exist only weekly: where the weekly feed is refused, they are too
                        outcome.refused_weekly.append(req.label())
                        continue
                    raise
                keep(resp)
                if progress:
                    progress(f"[{i}/{total}] {req.label()}: {len(resp.body):,} bytes")
            if catalogue:
                resp = client.models()
                keep(resp)
                if progress:
                    progress(f"[{total}/{total}] models catalogue: {len(resp.body):,} bytes")
        finally:
            client.while_waiting = None
            kept()  # a failed request still leaves every body received before it kept
    return outcome


class IngestRejected(ValueError):
    """One or more responses failed validation; nothing landed."""

    def __init__(self, errors: list[PayloadError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class LandSummary:
    pulls_landed: int = 0
    pulls_unchanged: int = 0
    weeks: list[str] = field(default_factory=list)
    rows: int = 0
    new_weeks: list[str] = field(default_factory=list)
    restated_weeks: list[str] = field(default_factory=list)
    as_of: str | None = None


# Rankings pulls validated by `fetch` while it waited out the rate limit: (pull key) -> the
# RankingsPull or PayloadError that parse_rankings_batch gave. A pull's result does not depend on
# the pulls validated with it, so `validate` takes these as they are (a step in another process
# finds none and validates everything itself).
_prevalidated: dict[tuple, object] = {}


def _pull_key(stored: StoredPull) -> tuple:
    return stored.sha256, stored.path, stored.status, tuple(sorted(stored.params.items()))


def _prevalidate(store: RawStore, stored: list[StoredPull]) -> None:
    todo = [p for p in stored if p.endpoint != "models" and _pull_key(p) not in _prevalidated]
    try:
        results = parse_rankings_batch((p, store.read(p), str(store.absolute(p))) for p in todo)
    except Exception:  # noqa: BLE001 - an optimisation only: validate() repeats the work and reports
        return
    _prevalidated.update({_pull_key(p): result for p, result in zip(todo, results, strict=True)})


def validate(store: RawStore, pulls: list[StoredPull]) -> list:
    """Parse every pull; raise IngestRejected naming every bad row of every bad pull. The rankings
    bodies are validated together (parse_rankings_batch: one pandera call for the run, not two per pull),
    except those `fetch` already validated while it waited."""
    done = {_pull_key(p): _prevalidated.pop(_pull_key(p)) for p in pulls if _pull_key(p) in _prevalidated}
    rankings = iter(parse_rankings_batch((stored, store.read(stored), str(store.absolute(stored)))
                                         for stored in pulls
                                         if stored.endpoint != "models" and _pull_key(stored) not in done))
    parsed, errors = [], []
    for stored in pulls:
        try:
            if stored.endpoint == "models":
                parsed.append((stored, parse_catalogue(stored, store.read(stored), str(store.absolute(stored)))))
            else:
                result = done[_pull_key(stored)] if _pull_key(stored) in done else next(rankings)
                if isinstance(result, PayloadError):
                    raise result
                parsed.append((stored, result))
        except PayloadError as exc:
            errors.append(exc)
    if errors:
        raise IngestRejected(errors)
    return parsed


def land(conn: duckdb.DuckDBPyConnection, parsed: list) -> LandSummary:
    """Land validated pulls into raw (inside the caller's transaction), in a few set-based statements
    (landing.land_pulls); core is rebuilt separately."""
    summary = LandSummary()
    for (stored, item), result in zip(parsed, land_pulls(conn, parsed), strict=True):
        if stored.endpoint != "models":
            if item.period == "week" and item.segment_type == "all":
                summary.weeks += sorted({str(d) for d in item.rows["bucket_date"].unique()})
                summary.new_weeks += result.new_buckets
                summary.restated_weeks += result.restated_buckets
                summary.as_of = max(filter(None, [summary.as_of, item.as_of.isoformat()]))
            summary.rows += item.rows.height
        summary.pulls_landed += int(result.landed)
        summary.pulls_unchanged += int(not result.landed)
    summary.weeks = sorted(set(summary.weeks))
    return summary


def core_invariants(conn: duckdb.DuckDBPyConnection,
                    since_week: dt.date | None = None) -> dict[str, tuple[bool, str]]:
    """Invariants of core that must hold before a run may publish: name -> (passed, detail).

    With `since_week` (the first week a run rebuilt, as given to build_core) only the weeks from
    that week's Monday on are checked: the run changed no other week of raw or core, and they were
    checked when they were written, so the weekly run's checks do not grow with history."""
    since = first_week_rebuilt(since_week)
    scope = f" from {since}" if since_week else ""
    shares = conn.execute(
        """select count(*), max(abs(s - 1)) from (
               select w.week_start, coalesce(sum(m.share), 0) + w.other_tokens / w.total_tokens as s
               from core.market_week w left join core.model_week m using (week_start)
               where w.week_start >= $since
               group by w.week_start, w.other_tokens, w.total_tokens)
           where abs(s - 1) > 1e-9""", {"since": since}
    ).fetchall()[0]
    short = conn.execute(
        "select count(*), min(week_start)::varchar from core.market_week "
        "where is_complete and days_present < 7 and week_start >= $since", {"since": since}
    ).fetchall()[0]
    ranks = conn.execute(
        """select count(*) from (
               select week_start, max(rank) r, count(*) n from core.model_week where week_start >= $since
               group by week_start)
           where r <> n""", {"since": since}
    ).fetchall()[0]
    missing = conn.execute(
        """select count(*), min(w)::varchar from (
               select distinct case when period = 'week' then bucket_date
                                    else cast(date_trunc('week', bucket_date) as date) end as w
               from raw.rankings where segment_type = 'all' and bucket_date >= $since)
           where w not in (select week_start from core.market_week)""", {"since": since}
    ).fetchall()[0]
    return {
        "every_landed_week_in_core": (missing[0] == 0, f"{missing[0]} week(s) in raw{scope} missing from core, "
                                      f"first {missing[1]}" if missing[0] else
                                      f"every week in raw{scope} has a core row"),
        "shares_sum_to_one": (shares[0] == 0, f"{shares[0]} week(s){scope} off by up to {shares[1]}" if shares[0]
                              else f"every week's model shares plus other sum to 1{scope}"),
        "complete_weeks_have_7_days": (short[0] == 0, f"{short[0]} week(s) marked complete with < 7 days, "
                                       f"first {short[1]}" if short[0] else f"no short week marked complete{scope}"),
        "ranks_are_dense": (ranks[0] == 0, f"{ranks[0]} week(s){scope} with gaps in ranks" if ranks[0]
                            else f"ranks run 1..N in every week{scope}"),
    }


class InvariantViolated(RuntimeError):
    pass


def assert_invariants(conn: duckdb.DuckDBPyConnection,
                      since_week: dt.date | None = None) -> dict[str, tuple[bool, str]]:
    results = core_invariants(conn, since_week)
    failed = {k: v[1] for k, v in results.items() if not v[0]}
    if failed:
        raise InvariantViolated("core invariants failed, nothing published: " +
                                "; ".join(f"{k}: {v}" for k, v in failed.items()))
    return results


class OriginMismatch(ValueError):
    """Demo (synthetic) and live data would mix in one warehouse."""


def check_origin(found: str | None, wanted: str) -> None:
    if found is not None and found != wanted:
        raise OriginMismatch(
            f"this warehouse holds {found} data and this run is {wanted}: tokentide never mixes demo "
            "(synthetic) and live data in one file; pass --db (or TOKENTIDE_DB) to use another file")
