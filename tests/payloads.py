"""Data API response bodies built by hand, in the documented shape (sources.md §1.3)."""

import datetime as dt
import json

from assets.raw_store import RawStore, StoredPull


def body(rows: list[tuple[str, str, str]], *, start: str, end: str,
         as_of: str = "2026-05-19T02:00:00.000Z", version: str = "v1") -> bytes:
    return json.dumps({
        "data": [{"date": d, "model_permaslug": m, "total_tokens": t} for d, m, t in rows],
        "meta": {"as_of": as_of, "version": version, "start_date": start, "end_date": end},
    }).encode()


def keep(store: RawStore, raw: bytes, *, start: str, end: str, period: str = "week",
         fetched_at: dt.datetime | None = None, **segment: str) -> StoredPull:
    """Keep `raw` in the store as if the client had just received it."""
    params = {"start_date": start, "end_date": end, "period": period, **segment}
    return store.put(endpoint="datasets/rankings-daily", params=params, status=200, body=raw,
                     fetched_at=fetched_at or dt.datetime.now(dt.UTC))


WEEK1 = [("2026-05-04", "acme/alpha-20260101", "300"), ("2026-05-04", "beta/bolt:free", "200"),
         ("2026-05-04", "other", "500")]
WEEK2 = [("2026-05-11", "beta/bolt:free", "330"), ("2026-05-11", "acme/alpha-20260101", "310"),
         ("2026-05-11", "other", "560")]
