"""Resources: the Data API (live or simulated) and the warehouse file."""

import os

import dagster as dg

from assets.raw_store import RawStore
from assets.settings import default_db_path, raw_dir_for
from assets.source.client import DEFAULT_BASE_URL, DataApiClient
from assets.warehouse import Warehouse


class DataApiResource(dg.ConfigurableResource):
    """OpenRouter's Data API, or (demo) the seeded simulator answering through an httpx transport.

    The key is read from the environment when a client is made, never stored in
    config, so it cannot reach Dagster's run storage or the UI.
    """

    base_url: str = DEFAULT_BASE_URL
    api_key_env: str = "OPENROUTER_API_KEY"
    demo: bool = False
    demo_revision: int = 0
    requests_per_minute: int = 30

    def client(self) -> DataApiClient:
        if self.demo:
            from assets.source.simulator import DataApiSimulator, MarketConfig, SimulatedMarket

            sim = DataApiSimulator(SimulatedMarket(MarketConfig()), revision=self.demo_revision)
            return DataApiClient(self.base_url, sim.api_key, transport=sim.transport(),
                                 requests_per_minute=10_000)
        return DataApiClient(self.base_url, os.environ.get(self.api_key_env) or None,
                             requests_per_minute=self.requests_per_minute)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file (published by copy-and-rename) and the raw directory beside it."""

    path: str = str(default_db_path())
    origin: str = "live"  # or "synthetic": a warehouse never mixes the two

    def warehouse(self) -> Warehouse:
        return Warehouse(self.path)

    def raw_store(self) -> RawStore:
        return RawStore(raw_dir_for(self.warehouse().path))
