"""The simulated Data API: shape, rules, clamping, restatements, determinism, over MockTransport and HTTP."""

import json
import re
from collections import defaultdict
from datetime import date, timedelta

import httpx
import numpy as np
import pytest

from assets.source.client import DataApiClient, RetryBudgetExhausted
from assets.source.server import serve
from assets.source.simulator import DataApiSimulator, MarketConfig, SimulatedMarket

CONFIG = MarketConfig()
TODAY = CONFIG.today
YESTERDAY = TODAY - timedelta(days=1)
PERMASLUG = re.compile(r"^[a-z0-9~][^/]*/[^\s]+$|^other$")


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket(CONFIG)


@pytest.fixture
def sim(market) -> DataApiSimulator:
    return DataApiSimulator(market)


def get(sim: DataApiSimulator, path: str = "datasets/rankings-daily", key: str | None = "sim-key",
        **params) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(transport=sim.transport(), base_url="https://openrouter.test/api/v1") as http:
        return http.get(f"/{path}", params={k: str(v) for k, v in params.items()}, headers=headers)


def rows_of(response: httpx.Response) -> list[tuple[str, str, int]]:
    assert response.status_code == 200, response.text
    return [(r["date"], r["model_permaslug"], int(r["total_tokens"])) for r in response.json()["data"]]


def by_date(rows):
    grouped = defaultdict(list)
    for d, slug, tokens in rows:
        grouped[d].append((slug, tokens))
    return grouped


# -- shape and order ---------------------------------------------------------------------------------


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_top_n_plus_other_in_documented_order(sim, period):
    resp = get(sim, start_date="2025-11-03", end_date="2026-10-25", period=period)
    payload = resp.json()
    assert set(payload) == {"data", "meta"} and payload["meta"]["version"] == "v1"
    assert all(isinstance(r["total_tokens"], str) and r["total_tokens"].isdigit() for r in payload["data"])
    rows = rows_of(resp)
    assert [d for d, _, _ in rows] == sorted(d for d, _, _ in rows)  # date ascending
    for day, entries in by_date(rows).items():
        listed = [e for e in entries if e[0] != "other"]
        assert len(listed) == CONFIG.list_depth
        assert entries[-1][0] == "other" and sum(e[0] == "other" for e in entries) == 1  # pinned last
        assert listed == sorted(listed, key=lambda e: (-e[1], e[0]))  # tokens desc, permaslug asc
        assert all(PERMASLUG.match(slug) and tokens > 0 for slug, tokens in entries)
        if period == "week":
            assert date.fromisoformat(day).weekday() == 0
        if period == "month":
            assert day.endswith("-01")


def test_exact_ties_occur_and_break_alphabetically(sim):
    rows = rows_of(get(sim, start_date="2025-11-24", end_date="2026-11-22", period="week"))
    ties = [(a, b) for entries in by_date(rows).values() for a, b in zip(entries, entries[1:])
            if a[1] == b[1] and "other" not in (a[0], b[0])]
    assert ties, "the market should contain occasional exact ties"
    assert all(a[0] < b[0] for a, b in ties)


def test_weekly_bucket_equals_the_sum_of_its_days(sim, market):
    weeks = rows_of(get(sim, start_date="2026-09-07", end_date="2026-11-01", period="week"))
    days = rows_of(get(sim, start_date="2026-09-07", end_date="2026-11-01", period="day"))
    week_total = {d: sum(t for _, t in e) for d, e in by_date(weeks).items()}
    day_total = defaultdict(int)
    for d, _, t in days:
        monday = date.fromisoformat(d) - timedelta(days=date.fromisoformat(d).weekday())
        day_total[monday.isoformat()] += t
    assert week_total == dict(day_total) and len(week_total) == 8
    # and both equal the market's own truth
    first = date(2026, 9, 7)
    truth = sum(sum(market.daily(first + timedelta(days=k)).values()) for k in range(7))
    assert week_total["2026-09-07"] == truth


def test_partial_week_holds_only_the_days_inside_the_window(sim, market):
    rows = rows_of(get(sim, start_date="2026-11-04", end_date="2026-11-05", period="week"))
    assert {d for d, _, _ in rows} == {"2026-11-02"}
    expected = sum(sum(market.daily(date(2026, 11, d)).values()) for d in (4, 5))
    assert sum(t for _, _, t in rows) == expected


def test_long_tail_only_ever_appears_inside_other(sim, market):
    tail = {s.slug for s in market._specs if s.kind == "tail"}
    assert len(tail) >= 150
    listed = set()
    for start, end in [("2025-01-01", "2025-12-31"), ("2026-01-01", "2026-11-23")]:
        for period in ("day", "week"):
            listed |= {slug for _, slug, _ in rows_of(get(sim, start_date=start, end_date=end, period=period))}
    assert not listed & tail
    assert len(listed) > 100  # plenty of churn through the top 50


# -- parameter rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("params, fragment", [
    ({"start_date": "2026-1-05", "end_date": "2026-01-11"}, "YYYY-MM-DD"),
    ({"start_date": "2026-02-01", "end_date": "2026-02-30"}, "calendar date"),
    ({"start_date": "2026-03-10", "end_date": "2026-03-01"}, "on or before"),
    ({"start_date": "2025-01-01", "end_date": "2026-01-02"}, "at most 366"),
    ({"start_date": "2024-01-01", "end_date": "2024-12-31"}, "must not be before"),
    ({"start_date": TODAY.isoformat(), "end_date": TODAY.isoformat()}, "no complete UTC day"),
    ({"period": "quarter"}, "period"),
    ({"period": "week", "category": "legal", "modality": "text"}, "cannot be combined"),
    ({"period": "day", "category": "legal"}, "period=week"),
    ({"category": "gardening"}, "unknown category"),
    ({"modality": "smell"}, "unknown modality"),
])
def test_invalid_requests_get_400_with_an_error_body(sim, params, fragment):
    resp = get(sim, **params)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == 400 and fragment in error["message"]


def test_366_day_span_is_allowed(sim):
    assert get(sim, start_date="2025-01-01", end_date="2026-01-01", period="week").status_code == 200


def test_rankings_need_the_right_key_but_models_need_none(sim):
    missing, wrong = get(sim, key=None), get(sim, key="nope")
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["code"] == 401
    assert get(sim, path="models", key=None, output_modalities="all").status_code == 200
    assert all("sim-key" not in json.dumps(r) for r in sim.requests)


def test_clamping_is_echoed_in_meta(sim):
    meta = get(sim, start_date="2024-06-01", end_date="2025-02-02", period="week").json()["meta"]
    assert (meta["start_date"], meta["end_date"]) == ("2025-01-01", "2025-02-02")
    resp = get(sim, start_date="2026-11-16", end_date=(TODAY + timedelta(days=5)).isoformat(), period="day")
    assert resp.json()["meta"]["end_date"] == YESTERDAY.isoformat()
    assert rows_of(resp)[-1][0] == YESTERDAY.isoformat()
    first_week = rows_of(get(sim, start_date="2024-06-01", end_date="2025-01-12", period="week"))
    assert first_week[0][0] == "2024-12-30"  # the Monday bucket holding 1-5 January


def test_defaults_are_the_last_30_days_daily(sim):
    payload = get(sim).json()
    assert payload["meta"]["end_date"] == YESTERDAY.isoformat()
    assert payload["meta"]["start_date"] == (YESTERDAY - timedelta(days=30)).isoformat()
    assert len({r["date"] for r in payload["data"]}) == 31
    assert payload["meta"]["as_of"] == f"{TODAY.isoformat()}T02:00:00.000Z"


def test_week_period_can_be_refused_before_a_date(market):
    config = MarketConfig(week_period_from=date(2026, 7, 7))
    sim = DataApiSimulator(SimulatedMarket(config))
    assert get(sim, start_date="2026-06-01", end_date="2026-06-28", period="week").status_code == 400
    assert get(sim, start_date="2026-06-01", end_date="2026-06-28", period="day").status_code == 200
    assert get(sim, start_date="2026-07-13", end_date="2026-08-09", period="week").status_code == 200


# -- revisions, determinism --------------------------------------------------------------------------


def test_revisions_restate_recent_weeks_and_move_as_of(market):
    window = {"start_date": "2026-08-03", "end_date": "2026-11-22", "period": "week"}
    first, second = DataApiSimulator(market, revision=0), DataApiSimulator(market, revision=1)
    a, b = get(first, **window).json(), get(second, **window).json()
    assert b["meta"]["as_of"] > a["meta"]["as_of"]
    old, new = by_date(rows_of(get(first, **window))), by_date(rows_of(get(second, **window)))
    changed = {d for d in old if old[d] != new[d]}
    assert changed and min(changed) >= (TODAY - timedelta(days=35)).isoformat()
    assert old["2026-08-03"] == new["2026-08-03"]  # older weeks never move
    for d in changed:  # restatements are small
        assert abs(sum(t for _, t in new[d]) / sum(t for _, t in old[d]) - 1) < 0.03


def test_same_seed_same_bytes_other_seed_other_market(market):
    params = {"start_date": "2026-01-05", "end_date": "2026-03-01", "period": "week"}
    again = DataApiSimulator(SimulatedMarket(CONFIG))
    assert get(again, **params).content == get(DataApiSimulator(market), **params).content
    other = DataApiSimulator(SimulatedMarket(MarketConfig(seed=7)))
    assert get(other, **params).content != get(again, **params).content


# -- market realism ----------------------------------------------------------------------------------


def test_market_looks_like_the_real_leaderboard(market):
    weekly = {}
    for start, end in [("2025-01-06", "2026-01-04"), ("2026-01-05", "2026-11-22")]:
        weekly.update(by_date(market.bucket_rows("week", date.fromisoformat(start), date.fromisoformat(end))))
    weeks = sorted(weekly)
    totals = np.array([sum(t for _, t in weekly[w]) for w in weeks], dtype=float)
    assert 2e12 <= totals[0] <= 3e12 and 1e13 <= totals[95] <= 1e14   # 2-3T, then tens of T
    assert 0.04 <= np.median(totals[1:40] / totals[:39] - 1) <= 0.08   # ~+6 %/week early on
    leaders = [max(weekly[w], key=lambda e: e[1] if e[0] != "other" else -1)[0] for w in weeks]
    assert sum(a != b for a, b in zip(leaders, leaders[1:])) >= 8 and len(set(leaders)) >= 6
    tops = [sorted((t for s, t in weekly[w] if s != "other"), reverse=True)[:2] for w in weeks]
    assert sum(b / a > 0.95 for a, b in tops) >= 5  # neck-and-neck weeks
    slugs = {s for w in weeks for s, _ in weekly[w]}
    assert any(s.endswith(":free") for s in slugs) and any(s.endswith(":beta") for s in slugs)
    assert 35 <= len({s.split("/")[0] for s in market.slugs}) <= 50


def test_free_promotions_end_abruptly(market):
    promos = [s for s in market._specs if s.kind == "promo" and s.end < market.n_days]
    assert promos
    for spec in promos:
        last = market.floor + timedelta(days=int(spec.end) - 1)
        assert last.weekday() == 6  # the last day with traffic is a Sunday
        assert market.daily(last).get(spec.slug, 0) > 0
        assert spec.slug not in market.daily(last + timedelta(days=1))


def test_weekday_pattern_in_daily_totals(market):
    totals = defaultdict(list)
    for k in range(140):
        day = date(2026, 6, 1) + timedelta(days=k)
        totals[day.weekday()].append(sum(market.daily(day).values()))
    weekday = np.mean([np.mean(totals[d]) for d in range(5)])
    weekend = np.mean([np.mean(totals[d]) for d in (5, 6)])
    assert weekend < 0.92 * weekday


def test_catalogue_matches_rankings_like_openrouter(sim, market):
    catalogue = get(sim, path="models", key=None, output_modalities="all").json()
    models = catalogue["data"]
    assert catalogue["total_count"] == len(models) >= 280 and catalogue["links"]["next"] is None
    assert len({m["id"] for m in models}) == len(models)  # ids are unique, like OpenRouter's
    assert sum(m["id"] != m["canonical_slug"] for m in models) > 50   # date suffix dropped from ids
    free = [m for m in models if m["id"].endswith(":free")]
    assert free and all(m["pricing"]["prompt"] == "0" and ":" not in m["canonical_slug"] for m in free)
    by_key = {m["canonical_slug"] + (":" + m["id"].split(":")[1] if ":" in m["id"] else "") for m in models}
    ranked = {s for start, end in [(date(2025, 1, 1), date(2025, 12, 31)), (date(2026, 1, 1), YESTERDAY)]
              for _, s, _ in market.bucket_rows("week", start, end)} - {"other"}
    missing = ranked - by_key
    assert missing and all(s.startswith("veiled/") for s in missing)  # stealth models only
    default_view = get(sim, path="models", key=None).json()["data"]
    assert len(default_view) < len(models)  # output_modalities defaults to text
    assert all("text" in m["architecture"]["output_modalities"] for m in default_view)
    page = get(sim, path="models", key=None, output_modalities="all", limit=100).json()
    assert len(page["data"]) == 100 and "offset=100" in page["links"]["next"]


def test_segments_have_the_same_shape(sim, market):
    category = rows_of(get(sim, start_date="2026-10-05", end_date="2026-11-18", category="programming"))
    assert {d for d, _, _ in category} == {f"2026-{md}" for md in ("10-05", "10-12", "10-19", "10-26", "11-02",
                                                                    "11-09", "11-16")}
    for entries in by_date(category).values():
        assert len(entries) <= CONFIG.list_depth + 1 and entries[-1][0] == "other"
    # the trailing category week runs past end_date (sources.md §1.2) but never past yesterday
    main = rows_of(get(sim, start_date="2026-11-16", end_date="2026-11-18", period="week"))
    full = rows_of(get(sim, start_date="2026-11-16", end_date="2026-11-22", period="week"))
    assert sum(t for _, _, t in main) < sum(t for _, _, t in full)
    images = rows_of(get(sim, start_date="2026-11-01", end_date="2026-11-22", period="day", modality="image_output"))
    image_models = {s.slug for s in market._specs if "image" in s.output}
    assert images and {s for _, s, _ in images} - {"other"} <= image_models


# -- canned failures and the real HTTP server ---------------------------------------------------------


def test_injected_failures_then_normal_service(sim):
    sim.inject(status=429, headers={"Retry-After": "3"}, times=2)
    sim.inject(status=200, body=b"<html>maintenance</html>", headers={"content-type": "text/html"})
    slept = []
    client = DataApiClient("https://openrouter.test/api/v1", "sim-key", transport=sim.transport(),
                           sleep=slept.append, clock=lambda: 0.0)
    html = client.rankings(date(2026, 11, 2), date(2026, 11, 8))
    assert slept == [3.0, 3.0] and html.body == b"<html>maintenance</html>"
    normal = client.rankings(date(2026, 11, 2), date(2026, 11, 8))
    assert json.loads(normal.body)["meta"]["start_date"] == "2026-11-02"
    assert len(sim.requests) == 4


def test_injection_can_target_one_path(sim):
    sim.inject(status=500, path="models")
    assert get(sim, start_date="2026-11-02", end_date="2026-11-08").status_code == 200
    assert get(sim, path="models", key=None).status_code == 500
    assert get(sim, path="models", key=None).status_code == 200


def test_real_http_server_serves_the_same_bytes(sim):
    params = {"start_date": "2026-10-05", "end_date": "2026-11-01", "period": "week"}
    with serve(sim) as base_url:
        assert re.match(r"^http://127\.0\.0\.1:\d+/api/v1$", base_url)
        with DataApiClient(base_url, "sim-key") as client:
            over_http = client.rankings(date(2026, 10, 5), date(2026, 11, 1))
            catalogue = client.models()
        refused = httpx.get(f"{base_url}/datasets/rankings-daily", headers={"authorization": "Bearer wrong"})
    assert over_http.body == get(sim, **params).content
    assert over_http.headers["content-type"] == "application/json"
    assert json.loads(catalogue.body)["total_count"] > 280
    assert refused.status_code == 401


def test_server_delay_triggers_client_timeouts(sim):
    sim.inject(status=200, delay_s=0.6, times=5)
    with serve(sim) as base_url:
        client = DataApiClient(base_url, "sim-key", timeout_s=0.15, max_retries=1, sleep=lambda s: None)
        with pytest.raises(RetryBudgetExhausted, match="timeout"):
            client.rankings(date(2026, 11, 2), date(2026, 11, 8))
        sim._canned.clear()
        assert client.rankings(date(2026, 11, 2), date(2026, 11, 8)).status == 200
        client.close()


def test_floor_follows_config_start_for_synthetic_calendars():
    market = SimulatedMarket(MarketConfig(n_models=400, list_depth=100, start=date(2016, 1, 4),
                                          today=date(2016, 7, 4)))
    sim = DataApiSimulator(market)
    rows = rows_of(get(sim, start_date="2016-01-04", end_date="2016-07-03", period="week"))
    entries = by_date(rows)
    assert min(entries) == "2016-01-04" and len(entries) == 26
    assert all(len(e) == 101 for e in entries.values())
    assert get(sim, start_date="2015-01-01", end_date="2015-12-31").status_code == 400
