"""The /models catalogue as a slowly changing dimension, joined to rankings on the permaslug."""

import datetime as dt
import json

import duckdb

from assets.core import build_core
from assets.ingest import land, validate
from assets.raw_store import RawStore
from assets.schema import ensure_schema
from tests.payloads import WEEK1, body, keep

MODELS = [
    {"id": "acme/alpha", "canonical_slug": "acme/alpha-20260101", "name": "Acme: Alpha", "created": 1767225600,
     "context_length": 128000, "pricing": {"prompt": "0.000001", "completion": "0.000002"}},
    {"id": "beta/bolt:free", "canonical_slug": "beta/bolt", "name": "Beta: Bolt (free)", "created": 1767225600,
     "context_length": 32000, "pricing": {"prompt": "0", "completion": "0"}},
    {"id": "beta/bolt", "canonical_slug": "beta/bolt", "name": "Beta: Bolt", "created": 1767225600,
     "context_length": 32000, "pricing": {"prompt": "0.0000005", "completion": "0.0000015"}},
]


def land_catalogue(conn, store, models, when):
    raw = json.dumps({"data": models, "total_count": len(models), "links": {"next": None}}).encode()
    stored = store.put(endpoint="models", params={"output_modalities": "all"}, status=200, body=raw,
                       fetched_at=when)
    return land(conn, validate(store, [stored]))


def test_catalogue_versions_and_join_keys(tmp_path):
    conn = duckdb.connect()
    ensure_schema(conn)
    store = RawStore(tmp_path)
    t1, t2, t3 = (dt.datetime(2026, 5, d, tzinfo=dt.UTC) for d in (1, 2, 3))
    land_catalogue(conn, store, MODELS, t1)
    # the id differs from the permaslug; :free shares the base canonical_slug
    assert conn.execute("select model_id, model_permaslug, variant from core.models order by 1").fetchall() == [
        ("acme/alpha", "acme/alpha-20260101", None), ("beta/bolt", "beta/bolt", None),
        ("beta/bolt:free", "beta/bolt:free", "free")]
    changed = [dict(MODELS[0], pricing={"prompt": "0.0000009", "completion": "0.000002"}), MODELS[2]]
    land_catalogue(conn, store, changed, t2)  # alpha repriced, bolt:free withdrawn
    rows = conn.execute("select model_id, prompt_usd_per_token::varchar, valid_from, valid_to from core.models "
                        "order by model_id, valid_from").fetchall()
    assert rows == [
        ("acme/alpha", "0.000001000000", t1, t2), ("acme/alpha", "0.000000900000", t2, None),
        ("beta/bolt", "0.000000500000", t1, None), ("beta/bolt:free", "0.000000000000", t1, t2)]
    land_catalogue(conn, store, list(reversed(changed)), t3)  # same content, other order: no new version
    assert conn.execute("select count(*) from core.models").fetchall() == [(4,)]


def test_ranked_models_missing_from_the_catalogue_are_kept(tmp_path):
    conn = duckdb.connect()
    ensure_schema(conn)
    store = RawStore(tmp_path)
    land_catalogue(conn, store, MODELS[:1], dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    stored = keep(store, body(WEEK1, start="2026-05-04", end="2026-05-10"), start="2026-05-04", end="2026-05-10")
    land(conn, validate(store, [stored]))
    build_core(conn)
    assert conn.execute("select model_permaslug, in_catalogue, name, first_seen_week::varchar from core.model_dim "
                        "order by 1").fetchall() == [
        ("acme/alpha-20260101", True, "Acme: Alpha", "2026-05-04"),
        ("beta/bolt:free", False, None, "2026-05-04")]
