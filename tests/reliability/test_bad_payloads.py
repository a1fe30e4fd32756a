"""Promise 2: a response that lies is rejected with a message naming the row and field, its body
is kept verbatim in data/raw/, and nothing lands.

The matrix goes through the real client, `fetch` (which keeps the body) and `validate`, exactly
as the api_responses and landed_pulls assets call them; one Dagster run then shows that a bad
response in the middle of a run fails the run and leaves the published warehouse untouched."""

import datetime as dt
import json

import httpx
import pytest

from assets.ingest import IngestRejected, PullRequest, fetch, validate
from assets.raw_store import RawStore
from assets.settings import raw_dir_for
from assets.source.client import DataApiClient, ResponseTooLarge
from assets.source.simulator import DataApiSimulator
from tests.reliability.conftest import RUN, SECRET, assert_no_leftovers, failure_text, file_sha, run_job

WEEK = PullRequest("week", dt.date(2026, 11, 2), dt.date(2026, 11, 15))    # two weekly buckets
RANKINGS = "datasets/rankings-daily"


def served(sim: DataApiSimulator) -> dict:
    """The honest answer to WEEK, as a document to tamper with."""
    request = httpx.Request("GET", "http://sim/api/v1/datasets/rankings-daily",
                            params={"start_date": "2026-11-02", "end_date": "2026-11-15", "period": "week"},
                            headers={"authorization": f"Bearer {SECRET}"})
    return json.loads(sim.handle(request).content)


def tamper(change):
    def apply(doc: dict) -> bytes:
        change(doc)
        return json.dumps(doc).encode()
    return apply


def _set(row: int, field: str, value):
    return tamper(lambda doc: doc["data"][row - 1].__setitem__(field, value))


CASES = {
    "truncated JSON": (lambda doc: json.dumps(doc).encode()[:5000], ["body is not valid JSON (truncated?)"]),
    "HTML page with 200": (lambda doc: b"<!DOCTYPE html><html><body>Bad gateway</body></html>",
                           ["body is not valid JSON (looks like an HTML page)"]),
    "empty data": (tamper(lambda doc: doc.__setitem__("data", [])), ["data: empty"]),
    "missing field": (tamper(lambda doc: doc["data"][2].pop("total_tokens")),
                      ["row 3 (bucket 2026-11-02): missing field total_tokens"]),
    "extra field": (_set(3, "share", "0.1"), ["row 3 (bucket 2026-11-02): unexpected field 'share'"]),
    "negative tokens": (_set(3, "total_tokens", "-5"), ["row 3 (bucket 2026-11-02, model", "field total_tokens: '-5'"]),
    "fractional tokens": (_set(3, "total_tokens", "12.5"), ["row 3 (bucket 2026-11-02", "field total_tokens: '12.5'"]),
    "exponent tokens": (_set(3, "total_tokens", "1.2e9"), ["row 3 (bucket 2026-11-02", "field total_tokens: '1.2e9'"]),
    "tokens beyond 64 bits": (_set(3, "total_tokens", str(2**63)),
                              ["row 3 (bucket 2026-11-02", "field total_tokens", "exceeds 64-bit range"]),
    "tokens as a JSON number": (_set(3, "total_tokens", 5), ["row 3 (bucket 2026-11-02) field total_tokens: expected a "
                                                             "string, got int 5"]),
    "duplicated model": (tamper(lambda doc: doc["data"].insert(3, dict(doc["data"][2]))),
                         ["row 3 (bucket 2026-11-02", "row 4 (bucket 2026-11-02", "duplicate (bucket, model)"]),
    "two other rows": (tamper(lambda doc: doc["data"].insert(
        1, {"date": "2026-11-02", "model_permaslug": "other", "total_tokens": "7"})),
        ["row 2 (bucket 2026-11-02, model 'other')", "duplicate (bucket, model)"]),
    "non-Monday bucket": (_set(3, "date", "2026-11-04"),
                          ["row 3 (bucket 2026-11-04", "field date: weekly bucket does not start on a Monday"]),
    "bucket outside the window": (_set(3, "date", "2026-11-16"),
                                  ["row 3 (bucket 2026-11-16", "field date: bucket lies outside the window"]),
    "meta dates contradict the request": (tamper(lambda doc: doc["meta"].update(start_date="2026-10-26",
                                                                                end_date="2026-11-22")),
                                          ["meta.start_date 2026-10-26 is before the requested start_date 2026-11-02",
                                           "meta.end_date 2026-11-22 is after the requested end_date 2026-11-15"]),
    "control character in a slug": (_set(3, "model_permaslug", "evil/a\x07b"),
                                     ["row 3 (bucket 2026-11-02, model 'evil/a\\x07b') field model_permaslug"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_lying_response_is_rejected_by_row_and_field_and_its_body_kept(case, market, tmp_path):
    make, expected = CASES[case]
    sim = DataApiSimulator(market, api_key=SECRET)
    body = make(served(sim))
    sim.inject(body=body, path=RANKINGS)
    store = RawStore(tmp_path / "raw")
    with DataApiClient(transport=sim.transport(), api_key=SECRET, requests_per_minute=10_000) as client:
        outcome = fetch(client, store, [WEEK], catalogue=False)
    with pytest.raises(IngestRejected) as rejected:
        validate(store, outcome.stored)
    message = str(rejected.value)
    for text in expected:
        assert text in message
    assert "rejected, nothing landed" in message
    (stored,) = outcome.stored
    assert f"raw body kept at {store.absolute(stored)}" in message
    assert store.read(stored) == body                          # verbatim, as received
    assert [entry.sha256 for entry in store.manifest()] == [stored.sha256]


def test_a_response_over_the_size_limit_is_refused_before_it_is_read(market, tmp_path):
    sim = DataApiSimulator(market, api_key=SECRET)
    store = RawStore(tmp_path / "raw")
    with DataApiClient(transport=sim.transport(), api_key=SECRET, max_body_bytes=5_000) as client:
        with pytest.raises(ResponseTooLarge, match=r"rankings-daily .*period=week.*over max_body_bytes=5000"):
            fetch(client, store, [WEEK], catalogue=False)
    assert store.manifest() == []                              # a body never read in full is not kept


def test_one_bad_response_in_a_run_fails_it_and_nothing_lands(api, start_db):
    sim, url = api
    published, landed = file_sha(start_db), (raw_dir_for(start_db) / "landed.jsonl").read_bytes()
    good = httpx.get(f"{url}/{RANKINGS}", headers={"authorization": f"Bearer {SECRET}"},
                     params={"start_date": "2026-11-02", "end_date": "2026-11-22", "period": "day"}).json()
    good["data"][4]["total_tokens"] = "-1"
    sim.requests.clear()
    sim.inject(path=RANKINGS)                                  # the weekly answer is fine,
    sim.inject(body=json.dumps(good).encode(), path=RANKINGS)  # the daily one lies in row 5
    result = run_job(start_db, url, *RUN)
    assert not result.success
    text = failure_text(result)
    assert "rankings-daily period=day 2026-11-02..2026-11-22: rejected, nothing landed" in text
    assert "row 5 (bucket 2026-11-02, model" in text and "field total_tokens: '-1'" in text
    assert file_sha(start_db) == published
    assert (raw_dir_for(start_db) / "landed.jsonl").read_bytes() == landed
    assert_no_leftovers(start_db)
    kept = RawStore(raw_dir_for(start_db))
    assert json.dumps(good).encode() in {kept.read(p) for p in kept.manifest()}
