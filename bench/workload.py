"""The simulated markets the workloads run on (synthetic data only).

W2 is ten years of weekly history at ten times today's list depth: 520 weeks x 500 listed models
from a 5,000-model market, plus the daily feed and the 17 use-case segments, pulled through the
real client → raw store → validation → landing path. The Data API starts in 2025, so this
market sets its own calendar (from 2016-01-04). One market serves W2 and W3: W2 lands weeks
1..N, W3 adds week N+1 the way the Monday schedule does (that week plus re-pulls of the 2 before).
"""

import contextlib
import datetime as dt
from dataclasses import asdict, dataclass

START = dt.date(2016, 1, 4)  # a Monday


@dataclass(frozen=True)
class Size:
    weeks: int = 520
    list_depth: int = 500
    n_models: int = 5000
    daily: bool = True
    segments: bool = True

    def scaled(self, fraction: float) -> "Size":
        return Size(max(8, round(self.weeks * fraction)), self.list_depth, self.n_models, self.daily,
                    self.segments)

    @property
    def first_week(self) -> dt.date:
        return START

    @property
    def last_week(self) -> dt.date:
        """The last week of the base warehouse (W3 adds the one after)."""
        return START + dt.timedelta(weeks=self.weeks - 1)

    def market_config(self):
        from assets.source.simulator import MarketConfig

        # data up to the end of week N+1, so W3 has one more closed week to pull
        today = self.last_week + dt.timedelta(weeks=2)
        return MarketConfig(seed=6, start=START, today=today, n_models=self.n_models,
                            list_depth=self.list_depth, n_authors=120)

    def key(self) -> str:
        return f"w{self.weeks}_d{self.list_depth}_m{self.n_models}_{int(self.daily)}{int(self.segments)}"

    def as_dict(self) -> dict:
        return asdict(self)


def simulated_client(size: Size, prerender: list | None = None):
    """A Data API client answering from the simulator in-process (no rate limit: not the real API).

    With `prerender` (planned requests), the simulator renders those answers before the client is
    returned: building a 500-row body from the simulated market is the server's work, not
    tokentide's, so a timed fetch then measures the client and the raw store only."""
    import httpx

    from assets.source.client import BadRequestError, DataApiClient
    from assets.source.simulator import DataApiSimulator, SimulatedMarket

    sim = DataApiSimulator(SimulatedMarket(size.market_config()))
    rendered: dict[str, tuple[int, list, bytes]] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        key = str(request.url)
        if key not in rendered:
            response = sim.handle(request)
            rendered[key] = (response.status_code, list(response.headers.items()), response.read())
        status, headers, body = rendered[key]
        return httpx.Response(status, headers=headers, content=body)

    def client() -> DataApiClient:
        return DataApiClient("https://sim.invalid/api/v1", sim.api_key, transport=httpx.MockTransport(answer),
                             requests_per_minute=10**9, daily_budget=10**9)

    if prerender is not None:
        with client() as warm:
            for req in prerender:
                # a refused weekly window is answered (400) and remembered like any other answer
                with contextlib.suppress(BadRequestError):
                    warm.rankings(req.start, req.end, period=req.period, category=req.category,
                                  modality=req.modality)
            warm.models()
    return client()


# The README's ad-hoc queries (## Ad-hoc SQL), verbatim, plus the `tokentide sql` example.
README_QUERIES = {
    "leader_last_8_weeks": """
        select week_start, model_permaslug, tokens, round(100 * share, 2) as share_pct
        from core.model_week where rank = 1 order by week_start desc limit 8""",
    "total_and_top50_coverage": """
        select week_start, total_tokens, round(100 * named_share, 1) as top50_coverage_pct
        from core.market_week where is_complete order by week_start desc limit 12""",
    "restated_weeks": """
        with versions as (
            select bucket_date, pull_id, any_value(as_of) as as_of, sum(tokens) as total
            from raw.rankings where period = 'week' and segment_type = 'all' group by all)
        select bucket_date, count(*) as versions, min(total) as low, max(total) as high
        from versions group by bucket_date having count(*) > 1 order by bucket_date""",
    "latest_leaderboard": """
        select * from mart.leaderboard
        where week_start = (select max(week_start) from mart.leaderboard)""",
    "table_comments": """
        select schema_name, table_name, comment from duckdb_tables() order by all""",
    "column_comments": """
        select column_name, data_type, comment from duckdb_columns() where table_name = 'model_week'""",
}
