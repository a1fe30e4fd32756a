"""Landing data from the simulated market through the real client, fetch, validation and landing."""

from assets.ingest import LandSummary, fetch, land, plan_requests, validate
from assets.raw_store import RawStore
from assets.source.client import DataApiClient
from assets.source.simulator import DataApiSimulator, SimulatedMarket


def pull(conn, market: SimulatedMarket, store: RawStore, first, last, revision: int = 0) -> LandSummary:
    """Pull weeks first..last (week, day and segments) from `market` in-process and land them in `conn`."""
    sim = DataApiSimulator(market, revision=revision)
    with DataApiClient("https://sim.invalid/api/v1", sim.api_key, transport=sim.transport(),
                       requests_per_minute=10**6) as client:
        outcome = fetch(client, store, plan_requests(first, last))
    return land(conn, validate(store, outcome.stored))
