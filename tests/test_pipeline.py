"""End to end through real Dagster runs, real HTTP to a Data API stand-in on 127.0.0.1, and a
real DuckDB file: the warehouse equals what was served, to the token."""

import datetime as dt

import dagster as dg
import duckdb
import pytest

from assets.source.server import serve
from assets.source.simulator import DataApiSimulator, MarketConfig, SimulatedMarket
from orchestration.definitions import defs
from orchestration.resources import DataApiResource, WarehouseResource

D = dt.date.fromisoformat


@pytest.fixture(scope="module")
def market():
    return SimulatedMarket(MarketConfig())


@pytest.fixture
def api(market, monkeypatch):
    sim = DataApiSimulator(market)
    monkeypatch.setenv("OPENROUTER_API_KEY", sim.api_key)
    with serve(sim) as base_url:
        yield sim, base_url


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def run(instance, base_url, db, first, last, *, rpm=10_000):
    return defs.resolve_job_def("weekly_refresh").execute_in_process(
        instance=instance, raise_on_error=False,
        resources={"data_api": DataApiResource(base_url=base_url, requests_per_minute=rpm),
                   "warehouse": WarehouseResource(path=str(db))},
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )


def query(db, sql):
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def served_weeks(sim, first, last):
    rows = sim.market.bucket_rows("week", D(first), D(last) + dt.timedelta(days=6), revision=sim.revision)
    models = sorted((str(d), m, t) for d, m, t in rows if m != "other")
    totals = {}
    for d, _, t in rows:
        totals[str(d)] = totals.get(str(d), 0) + t
    return models, sorted(totals.items())


def failure_text(result) -> str:
    return "\n".join(str(e.event_specific_data.error.to_string()) for e in result.all_events
                     if e.event_type_value == "STEP_FAILURE")


def test_backfill_equals_the_served_numbers_to_the_token(api, instance, tmp_path):
    sim, url = api
    db = tmp_path / "w.duckdb"
    result = run(instance, url, db, "2025-05-26", "2025-07-14")
    assert result.success, failure_text(result)
    models, totals = served_weeks(sim, "2025-05-26", "2025-07-14")
    assert query(db, "select week_start::varchar, model_permaslug, tokens from core.model_week order by all") == models
    assert query(db, "select week_start::varchar, total_tokens from core.market_week order by 1") == totals
    assert query(db, "select count(*), bool_and(is_complete), min(source) from core.market_week") == [(8, True, "api_week")]
    # a whole range is one run, about one request per feed (week, day, 17 segments) plus the catalogue
    assert len(sim.requests) == 20
    assert query(db, "select count(*) > 0 from mart.growth") == [(True,)]
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"every_landed_week_in_core": True, "shares_sum_to_one": True,
                      "complete_weeks_have_7_days": True, "ranks_are_dense": True}
    # every log line is a stored event: the fetch logs its progress every 10 s, not per request
    lines = [e for e in instance.all_logs(result.run_id) if not e.is_dagster_event and e.step_key == "api_responses"]
    assert 1 <= len(lines) <= 3 and lines[-1].user_message.startswith("[20/20] models catalogue")


def test_restatement_adds_a_version_and_core_shows_the_latest(api, instance, tmp_path):
    sim, url = api
    db = tmp_path / "w.duckdb"
    first, last = "2026-10-19", "2026-11-16"  # the simulator restates the last 28 days
    assert run(instance, url, db, first, last).success
    before = query(db, "select count(*) from raw.rankings where period = 'week' and segment_type = 'all'")
    assert run(instance, url, db, first, last).success  # same data again: nothing changes
    assert query(db, "select count(*) from raw.rankings where period = 'week' and segment_type = 'all'") == before
    sim.revision = 1
    assert run(instance, url, db, first, last).success
    restated = query(db, """select bucket_date::varchar from raw.rankings where period = 'week'
                            and segment_type = 'all' group by 1 having count(distinct pull_id) = 2 order by 1""")
    assert restated, "revision 1 restates recent weeks"
    assert query(db, """select max(n) from (select count(distinct pull_id) n from raw.rankings
                        where period = 'week' and segment_type = 'all' group by bucket_date)""") == [(2,)]
    models, _ = served_weeks(sim, first, last)
    assert query(db, "select week_start::varchar, model_permaslug, tokens from core.model_week order by all") == models


def test_malformed_answer_fails_the_run_and_lands_nothing(api, instance, tmp_path):
    sim, url = api
    db = tmp_path / "w.duckdb"
    assert run(instance, url, db, "2025-06-02", "2025-06-09").success
    published = db.read_bytes()
    sim.inject(status=200, body=b"<!DOCTYPE html><html><body>Service unavailable</body></html>",
               path="datasets/rankings-daily")
    result = run(instance, url, db, "2025-06-16", "2025-06-23")
    assert not result.success
    assert "not valid JSON (looks like an HTML page)" in failure_text(result)
    assert db.read_bytes() == published
    assert query(db, "select max(week_start)::varchar from core.market_week") == [("2025-06-09",)]


def test_throttling_and_server_errors_are_retried(api, instance, tmp_path):
    sim, url = api
    sim.inject(status=429, headers={"Retry-After": "0"}, times=2, path="datasets/rankings-daily")
    sim.inject(status=500, times=1, path="datasets/rankings-daily")
    db = tmp_path / "w.duckdb"
    result = run(instance, url, db, "2025-06-02", "2025-06-09")
    assert result.success, failure_text(result)
    assert query(db, "select count(*) from core.market_week") == [(2,)]


def test_weeks_the_weekly_feed_refuses_are_built_from_daily_rows(monkeypatch, instance, tmp_path):
    market = SimulatedMarket(MarketConfig(week_period_from=dt.date(2025, 9, 1)))
    sim = DataApiSimulator(market)
    monkeypatch.setenv("OPENROUTER_API_KEY", sim.api_key)
    db = tmp_path / "w.duckdb"
    with serve(sim) as url:
        result = run(instance, url, db, "2025-07-28", "2025-08-11")
    assert result.success, failure_text(result)
    weeks = query(db, "select week_start::varchar, source, days_present, is_complete, total_tokens "
                      "from core.market_week order by 1")
    daily = market.bucket_rows("day", D("2025-07-28"), D("2025-08-17"))
    totals = {}
    for d, _, t in daily:
        week = str(d - dt.timedelta(days=d.weekday()))
        totals[week] = totals.get(week, 0) + t
    assert weeks == [(w, "api_day", 7, True, totals[w]) for w in sorted(totals)]
    # a model listed on only some days is a lower bound, flagged incomplete, with its upper bound
    partial = query(db, "select count(*), bool_and(tokens_upper > tokens) from core.model_week where not is_complete")
    assert partial[0][0] == 0 or partial[0][1]


def test_pulls_validated_while_waiting_for_the_rate_limit_are_what_validate_gives(market, tmp_path):
    """fetch validates the bodies it holds while the client waits out the rate limit; validate then
    takes those results, which equal validating from scratch."""
    from assets import ingest
    from assets.raw_store import RawStore
    from assets.source.client import DataApiClient

    sim = DataApiSimulator(market)
    now = [0.0]
    client = DataApiClient("https://sim.test/api/v1", sim.api_key, transport=sim.transport(),
                           requests_per_minute=10, sleep=lambda s: now.__setitem__(0, now[0] + s),
                           clock=lambda: now[0])
    store = RawStore(tmp_path)
    requests = ingest.plan_requests(D("2025-01-06"), D("2025-12-29"))
    with client:
        outcome = ingest.fetch(client, store, requests)
    assert client.while_waiting is None
    # bodies are kept by a background thread, in arrival order, each listed once kept
    assert [(p.params.get("period"), p.params.get("category") or p.params.get("modality"), p.params.get("start_date"))
            for p in outcome.stored] == [(r.period, r.category or r.modality, str(r.start)) for r in requests] + [
        (None, None, None)]
    assert all(store.absolute(p).exists() for p in outcome.stored)
    early = dict(ingest._prevalidated)
    assert 10 <= len(early) < len(outcome.stored)  # the bodies that arrived before the last wait
    reused = ingest.validate(store, outcome.stored)
    assert not ingest._prevalidated
    fresh = ingest.validate(store, outcome.stored)
    assert len(reused) == len(fresh) == len(outcome.stored)
    for (stored_a, a), (stored_b, b) in zip(reused, fresh, strict=True):
        assert stored_a == stored_b
        if stored_a.endpoint == "models":
            assert a.equals(b)
        else:
            assert (a.period, a.segment_type, a.segment, a.as_of, a.meta_start_date, a.meta_end_date) == (
                b.period, b.segment_type, b.segment, b.as_of, b.meta_start_date, b.meta_end_date)
            assert a.rows.equals(b.rows)
    assert any(ingest._pull_key(s) in early for s, _ in reused)
