"""A synthetic OpenRouter market and an httpx transport that answers like the Data API.

`SimulatedMarket` is the truth: exact integer tokens per (model, day), generated from a seed with numpy
(one models x days int64 matrix). `DataApiSimulator` serves it the way sources.md §1.2-1.4 and §2 describe:
auth, 400 rules, clamping echoed in `meta`, top-N + `other` per bucket, restatements across revisions, and
canned failures for tests (`inject`). It backs `tokentide demo`, the tests and the benchmarks.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property, lru_cache

import httpx
import numpy as np

from assets.source.client import CATEGORIES, MODALITIES, PERIODS

INF = math.inf
MAX_SPAN_DAYS = 366
REVISION_DAYS = 28          # restatements touch the last 4 weeks (sources.md §4.1: recent weeks move)
_DAY_CHUNK = 256            # days per block while building, so temporaries stay small at scale
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Made-up organisations; none is a real model vendor.
AUTHORS = (
    "aurora-labs", "nimbus-ai", "quillmind", "meridian-research", "emberstack", "halcyon-ai", "lumenforge",
    "tessellate", "vireo", "solace-systems", "kestrel-labs", "driftwood-ai", "cobaltmind", "larkspur",
    "orrery-ai", "fennec-labs", "tidewater-ai", "basalt-research", "marigold-ai", "petrichor", "wrenfield",
    "obsidian-loom", "saltmarsh-ai", "cinderpeak", "rowan-works", "hollowbrook", "plover-ai", "quartzline",
    "bramble-labs", "tundra-ai", "copperleaf", "nightjar-ai", "glasswing", "ridgeback-ai", "lanternfish",
    "sablecrest", "ironbark-ai", "pebblebay", "sirocco-ai", "halite-labs", "thistle-ai", "oriole-research",
    "gannet-ai", "moraine-labs",
)
FAMILY_WORDS = ("vesper", "tern", "lyric", "cairn", "ripple", "kite", "sprig", "ferrum", "fjord", "mesa",
                "thorn", "auk", "brisk", "cedar", "dune", "gale", "heron", "inlet", "jolt", "knoll", "loam",
                "marrow", "nook", "opal", "pike", "quay", "rune", "slate", "tallow", "umber", "vale", "whit")
LARGE_SIZES = ("pro", "max", "ultra", "large", "235b-a22b", "120b", "70b")
SMALL_SIZES = ("flash", "mini", "lite", "nano", "turbo", "air", "8b", "14b", "32b")
TAIL_STEMS = ("moth", "wisp", "fable", "grove", "ash", "bard", "cinder", "dusk", "elm", "finch", "glint",
              "hazel", "isle", "jade", "kelp", "lark", "myrrh", "nettle", "oak", "pollen", "quartz", "reed",
              "sage", "tansy", "urchin", "vetch", "willow", "yarrow", "zinnia")
TAIL_SIZES = ("3b", "7b", "8b", "12b", "13b", "22b", "24b", "34b", "70b")
TAIL_FLAVOURS = ("instruct", "chat", "rp", "storyteller", "coder", "uncensored", "distill", "v2", "dpo", "merge")
STEALTH_AUTHOR = "veiled"
STEALTH_CODENAMES = ("lodestar", "brightwater", "farpoint", "stillwind", "undertow", "silverline", "longshore",
                     "emberfall", "northlight", "tideglass")
# Category order follows CATEGORIES; one more column is the traffic no category claims.
_CATEGORY_ALPHA = np.array([3.0, 1.5, 0.5, 0.0, 1.2, 0.8, 0.5, 0.3, 0.4, 0.4, 0.6, 0.7, 2.0])
_WEEKDAY_FACTOR = np.array([1.04, 1.07, 1.07, 1.05, 1.00, 0.88, 0.89])
_WEEKDAY_FACTOR = _WEEKDAY_FACTOR / _WEEKDAY_FACTOR.mean()
_ERROR_TEXT = {400: "Invalid request parameters", 401: "Missing Authentication header",
               404: "Not Found", 405: "Method Not Allowed", 429: "Rate limit exceeded",
               500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
               504: "Gateway Timeout"}


@dataclass(frozen=True)
class MarketConfig:
    seed: int = 20250106
    start: date = date(2025, 1, 1)       # first day with data; also the API floor of this market
    today: date = date(2026, 11, 24)     # "now": end_date clamps to today-1 (last complete UTC day)
    n_models: int = 320                  # >= 300 models
    list_depth: int = 50                 # top N per bucket, plus one `other` row
    week_period_from: date | None = None  # if set, period=week with start_date < this -> 400
    n_authors: int = 40


@dataclass
class _Spec:
    """One ranked entry (a permaslug) and the knobs of its traffic curve; day numbers count from start."""

    slug: str
    model_id: str
    canonical: str
    name: str
    author: str
    kind: str                 # base, free, beta, promo, stealth, tail
    launch: float
    weight: float             # relative pull; for promo/stealth the market share at peak
    ramp: float = 14.0        # days to reach full strength
    prime: float = 90.0       # days at full strength before ageing
    half_life: float = 180.0  # ageing half-life, days
    residual: float = 0.0     # share of peak pull an aged model keeps (habits, pinned integrations)
    takeover: float = INF     # day a successor starts taking its users
    takeover_half_life: float = 30.0
    loyal: float = 0.0        # share of users who stay after a takeover
    end: float = INF          # first day without traffic (free offers stop abruptly)
    tier: int = 0             # 0 large, 1 small
    output: tuple[str, ...] = ("text",)
    vision: bool = False
    audio: bool = False
    tools: bool = True
    open_weights: bool = False
    price_in: float = 1.0     # USD per million prompt tokens
    context_length: int = 131072
    specialty: int = -1       # index into CATEGORIES, or -1
    listed: bool = True       # present in /models


class BadRequest(ValueError):
    """A request the Data API answers with 400; the message is OpenRouter-style."""


class SimulatedMarket:
    """The truth: exact integer daily tokens per model, deterministic for a MarketConfig."""

    def __init__(self, config: MarketConfig | None = None):
        self.config = config or MarketConfig()
        self.floor = self.config.start
        self.yesterday = self.config.today - timedelta(days=1)
        self.n_days = (self.config.today - self.floor).days
        if self.n_days < 14:
            raise ValueError("the market needs at least two weeks between start and today")
        rng = np.random.default_rng(self.config.seed)
        self._specs = self._make_specs(rng)
        self.slugs = [s.slug for s in self._specs]
        self._index = {slug: i for i, slug in enumerate(self.slugs)}
        order = sorted(range(len(self.slugs)), key=self.slugs.__getitem__)
        self._name_rank = np.empty(len(order), dtype=np.int64)
        self._name_rank[order] = np.arange(len(order))  # ties break alphabetically by permaslug
        self._tokens = self._make_tokens(rng)
        self._place_ties(rng)
        self._category_share, self._modality_share = self._make_segment_shares(rng)

    # -- public --------------------------------------------------------------------------------------

    @property
    def tokens(self) -> np.ndarray:
        """models x days int64 matrix (row order = self.slugs, column 0 = config.start); read-only view."""
        view = self._tokens.view()
        view.flags.writeable = False
        return view

    def daily(self, day: date) -> dict[str, int]:
        """All models with >0 tokens that day (the unrevised truth)."""
        t = (day - self.floor).days
        if not 0 <= t < self.n_days:
            return {}
        column = self._tokens[:, t]
        return {self.slugs[i]: int(column[i]) for i in np.flatnonzero(column > 0)}

    def applied_window(self, start: date, end: date) -> tuple[date, date]:
        """The window the API applies: start raised to the floor, end lowered to yesterday."""
        return max(start, self.floor), min(end, self.yesterday)

    def bucket_rows(self, period: str, start: date, end: date, category: str | None = None,
                    modality: str | None = None, *, revision: int = 0) -> list[tuple[date, str, int]]:
        """Exactly what the API serves for a (clamped) request: top N + ('other') per bucket, sorted by
        date asc, tokens desc, permaslug asc, with `other` last."""
        start, end = self.applied_window(start, end)
        if start > end:
            return []
        lo = (start - self.floor).days
        # Category figures are weekly estimates whose trailing bucket runs to the bucket's end (sources.md §1.2).
        hi = (min(_bucket_end(_bucket_start(end, period), period), self.yesterday) if category else end)
        hi = (hi - self.floor).days + 1
        block = self._block(lo, hi, revision)
        days = np.arange(lo, hi)
        keys = self._bucket_keys(days, period)
        if modality is not None:
            share = self._modality_share[:, MODALITIES.index(modality)]
            block = np.floor(block * share[:, None]).astype(np.int64)  # an exact sub-dataset
        elif category is not None:
            weeks = self._week_numbers(days)
            noise = self._upsampling_noise(CATEGORIES.index(category), int(weeks[0]), int(weeks[-1]))
            share = self._category_share[:, CATEGORIES.index(category)]
            block = block * share[:, None] * noise[:, weeks - weeks[0]]
        cuts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        sums = np.add.reduceat(block, cuts, axis=1)
        if sums.dtype != np.int64:
            sums = np.rint(sums).astype(np.int64)
        rows: list[tuple[date, str, int]] = []
        for b, cut in enumerate(cuts):
            rows.extend(self._top_rows(self._bucket_date(int(keys[cut]), period), sums[:, b]))
        return rows

    def catalogue(self) -> list[dict]:
        """Model objects for /models (sources.md §2.2): models launched by today, minus stealth ones."""
        return [self._model_object(s) for s in self._specs if s.listed and s.launch < self.n_days]

    # -- serving helpers ------------------------------------------------------------------------------

    def _top_rows(self, bucket: date, column: np.ndarray) -> list[tuple[date, str, int]]:
        depth = self.config.list_depth
        present = np.flatnonzero(column > 0)  # zero-token models are dropped before ranking
        values = column[present]
        if len(present) > depth:
            threshold = np.partition(values, len(values) - depth)[len(values) - depth]
            keep = values >= threshold  # every model tied at the cut competes on its name
            present, values = present[keep], values[keep]
        order = np.lexsort((self._name_rank[present], -values))[:depth]
        rows = [(bucket, self.slugs[i], int(column[i])) for i in present[order]]
        other = int(column.sum()) - sum(r[2] for r in rows)
        if other > 0:
            rows.append((bucket, "other", other))
        return rows

    def _block(self, lo: int, hi: int, revision: int) -> np.ndarray:
        block = self._tokens[:, lo:hi]
        if revision:
            rev_lo, revised = self._revised(revision)
            if hi > rev_lo:
                block = block.copy()
                a = max(lo, rev_lo)
                block[:, a - lo:] = revised[:, a - rev_lo:hi - rev_lo]
        return block

    @lru_cache(maxsize=8)  # noqa: B019 - one market per process in practice
    def _revised(self, revision: int) -> tuple[int, np.ndarray]:
        """Revision r restates ~10 % of (model, day) cells of the last 4 weeks by ±0.5-3 %."""
        rev_lo = max(0, self.n_days - REVISION_DAYS)
        base = self._tokens[:, rev_lo:]
        rng = np.random.default_rng([self.config.seed, 7, revision])
        hit = rng.random(base.shape) < 0.10
        change = rng.uniform(0.005, 0.03, base.shape) * rng.choice([-1.0, 1.0], base.shape)
        return rev_lo, np.where(hit, np.rint(base * (1.0 + change)).astype(np.int64), base)

    def _upsampling_noise(self, category: int, first_week: int, last_week: int) -> np.ndarray:
        """Deterministic per (model, week, category) estimation noise of the sampled category data."""
        columns = [np.random.default_rng([self.config.seed, 11, category, w]).lognormal(0.0, 0.12, len(self.slugs))
                   for w in range(first_week, last_week + 1)]
        return np.stack(columns, axis=1)

    def _week_numbers(self, days: np.ndarray) -> np.ndarray:
        return (days + self.floor.weekday()) // 7

    def _bucket_keys(self, days: np.ndarray, period: str) -> np.ndarray:
        if period == "day":
            return days
        if period == "week":
            return self._week_numbers(days)
        return self._month_numbers[days]

    @cached_property
    def _month_numbers(self) -> np.ndarray:
        """year * 12 + month - 1 of every day (numpy months count from 1970-01)."""
        days = np.arange(np.datetime64(self.floor), np.datetime64(self.config.today))
        return days.astype("datetime64[M]").astype(np.int64) + 1970 * 12

    def _bucket_date(self, key: int, period: str) -> date:
        if period == "day":
            return self.floor + timedelta(days=key)
        if period == "week":
            return self.floor - timedelta(days=self.floor.weekday()) + timedelta(weeks=key)
        return date(key // 12, key % 12 + 1, 1)

    # -- market generation ----------------------------------------------------------------------------

    def _make_specs(self, rng: np.random.Generator) -> list[_Spec]:
        cfg, days = self.config, self.n_days
        n_head = max(cfg.list_depth + 40, round(0.45 * cfg.n_models))
        n_promo = max(3, days // 70)
        n_stealth = max(2, days // 240)
        n_beta = max(2, n_head // 40)
        n_free = max(4, n_head // 10)
        n_base = n_head - n_promo - n_stealth - n_beta - n_free
        n_tail = cfg.n_models - n_head
        if n_tail < 1:
            raise ValueError("n_models is too small for this list_depth")
        authors = _author_slugs(cfg.n_authors)
        strength = np.sort(rng.lognormal(0.0, 0.8, len(authors)))[::-1]
        open_weights = rng.random(len(authors)) < 0.4
        specialty = rng.integers(-1, len(CATEGORIES), len(authors))
        # The market at day 0 must already list more than N models, so many launch before the start.
        n_legacy = min(n_base, max(math.ceil(1.2 * cfg.list_depth), round(0.3 * n_base)))
        launches = np.r_[rng.uniform(-700, -1, n_legacy), rng.uniform(0, days - 7, n_base - n_legacy)]
        rng.shuffle(launches)
        counts = _apportion(n_base, strength**0.7)
        specs: list[_Spec] = []
        taken: set[str] = set()
        cursor = 0
        for a, author in enumerate(authors):
            mine = np.sort(launches[cursor:cursor + counts[a]])
            cursor += counts[a]
            n_families = 1 + (counts[a] > 6) + (counts[a] > 14)
            words = [author.split("-")[0]] + list(rng.choice(FAMILY_WORDS, n_families - 1, replace=False))
            for f, family in enumerate(words):
                specs.extend(self._family(rng, author, family, mine[f::n_families], float(strength[a]),
                                          bool(open_weights[a]), int(specialty[a]), taken))
        base = list(specs)
        for s in rng.choice(len(base), n_free, replace=False):
            specs.append(self._free_variant(rng, base[s]))
        for s in rng.choice(len(base), n_beta, replace=False):
            b = base[s]
            specs.append(_variant(b, ":beta", kind="beta", weight=b.weight * rng.uniform(0.02, 0.1)))
        specs.extend(self._promotions(rng, authors[: max(8, len(authors) // 3)], n_promo, taken))
        specs.extend(self._stealth(rng, n_stealth))
        specs.extend(self._tail(rng, authors, n_tail, taken))
        return specs

    def _family(self, rng, author, family, launches, strength, open_weights, specialty, taken) -> list[_Spec]:
        """A model line: versions over time, each size superseded by the next of the same tier."""
        specs: list[_Spec] = []
        version = float(rng.integers(1, 4))
        step = float(_pick(rng, [0.5, 1.0]))
        family_mult = rng.uniform(0.7, 1.3)
        last_of_tier: dict[int, _Spec] = {}
        for i, launch in enumerate(launches):
            if i and rng.random() < 0.6:
                version += step
            tier = int(rng.random() < 0.5)
            size = str(_pick(rng, SMALL_SIZES if tier else LARGE_SIZES))
            image = rng.random() < 0.04
            stem = f"{family}-{_version(version)}-{size}" + ("-image" if image else "")
            launch_day = self.floor + timedelta(days=math.floor(launch))
            dated = rng.random() < 0.7
            model_id = _unique(f"{author}/{stem}", taken)
            slug = f"{model_id}-{launch_day:%Y%m%d}" if dated else model_id
            taken.update((model_id, slug))  # ids are unique in the catalogue, permaslugs in rankings
            ramp = rng.uniform(4, 35)
            price = rng.lognormal(math.log(4.0 if tier == 0 else 0.4), 0.6) * (0.4 if open_weights else 1.0)
            spec = _Spec(
                slug=slug, model_id=model_id, canonical=slug,
                name=f"{_title(author)}: {_title(stem)}", author=author, kind="base", launch=float(launch),
                # Newer launches pull harder: the frontier moves, so old models lose share.
                weight=strength**0.5 * family_mult * (1.0 if tier == 0 else rng.uniform(0.5, 1.5))
                * rng.lognormal(0.0, 0.3) * math.exp(0.6 * launch / 365) * (0.3 if image else 1.0),
                ramp=ramp, prime=rng.uniform(10, 60), half_life=rng.uniform(60, 200), residual=rng.uniform(0.05, 0.2),
                tier=tier, output=("image", "text") if image and rng.random() < 0.5 else ("image",) if image
                else ("text",), vision=rng.random() < (0.5 if tier == 0 else 0.3), audio=rng.random() < 0.08,
                tools=rng.random() < 0.7, open_weights=open_weights, price_in=float(price),
                context_length=int(_pick(rng, [32768, 65536, 131072, 200000, 262144, 1048576])),
                specialty=int(_pick(rng, [specialty, 0])),
            )
            previous = last_of_tier.get(tier)
            if previous is not None:  # the successor takes over its predecessor's users
                previous.takeover = launch + ramp / 2
                previous.takeover_half_life = rng.uniform(15, 50)
                previous.loyal = rng.uniform(0.05, 0.25)
            last_of_tier[tier] = spec
            specs.append(spec)
        return specs

    def _free_variant(self, rng, base: _Spec) -> _Spec:
        launch = base.launch + rng.uniform(0, 20)
        # Many free offers stop abruptly some months in.
        end = launch + rng.uniform(40, 300) if rng.random() < 0.6 else INF
        return _variant(base, ":free", kind="free", weight=base.weight * rng.uniform(0.15, 0.6),
                        launch=launch, end=end, price_in=0.0)

    def _promotions(self, rng, authors, n, taken) -> list[_Spec]:
        """Free previews: huge for 1-3 whole weeks, gone the next Monday."""
        specs = []
        mondays = self._mondays()
        for _ in range(n):
            author = str(_pick(rng, authors))
            launch = float(rng.choice(mondays[(mondays >= 7) & (mondays < self.n_days - 7)]))
            day = self.floor + timedelta(days=int(launch))
            stem = f"{author.split('-')[0]}-{_version(float(rng.integers(3, 9)) + float(_pick(rng, [0, 0.5])))}-preview"
            model_id = _unique(f"{author}/{stem}", taken)
            canonical = f"{model_id}-{day:%m-%d}"
            taken.update((model_id, canonical))
            specs.append(_Spec(slug=f"{canonical}:free", model_id=f"{model_id}:free", canonical=canonical,
                               name=f"{_title(author)}: {_title(stem)} (free)", author=author, kind="promo",
                               launch=launch, weight=rng.uniform(0.06, 0.25), ramp=2.0,
                               end=launch + 7 * int(rng.integers(1, 4)), price_in=0.0, tools=True,
                               context_length=262144, specialty=0))
        return specs

    def _stealth(self, rng, n) -> list[_Spec]:
        """Cloaked models: ranked for a few weeks, never in the catalogue."""
        specs = []
        mondays = self._mondays()
        order = rng.permutation(len(STEALTH_CODENAMES))
        names = [STEALTH_CODENAMES[order[k % len(order)]] + (f"-{k // len(order) + 1}" if k >= len(order) else "")
                 for k in range(n)]
        for codename in names:
            launch = float(rng.choice(mondays[(mondays >= 0) & (mondays < self.n_days - 7)]))
            slug = f"{STEALTH_AUTHOR}/{codename}-alpha"
            specs.append(_Spec(slug=slug, model_id=slug, canonical=slug, name=f"{_title(codename)} Alpha",
                               author=STEALTH_AUTHOR, kind="stealth", launch=launch,
                               weight=rng.uniform(0.02, 0.10), ramp=7.0,
                               end=launch + 7 * int(rng.integers(2, 7)), price_in=0.0, listed=False))
        return specs

    def _tail(self, rng, authors, n, taken) -> list[_Spec]:
        """Hundreds of small models that only ever show up inside `other`."""
        specs = []
        for _ in range(n):
            author = str(_pick(rng, authors))
            stem = f"{_pick(rng, TAIL_STEMS)}-{_pick(rng, TAIL_SIZES)}-{_pick(rng, TAIL_FLAVOURS)}"
            slug = _unique(f"{author}/{stem}", taken)
            taken.add(slug)
            launch = rng.uniform(-700, self.n_days - 7)
            specs.append(_Spec(
                slug=slug, model_id=slug, canonical=slug, name=f"{_title(author)}: {_title(stem)}",
                author=author, kind="tail", launch=float(launch),
                weight=float(rng.lognormal(math.log(0.15), 0.6) * math.exp(0.6 * launch / 365)),
                ramp=rng.uniform(7, 60), prime=rng.uniform(60, 400), half_life=rng.uniform(120, 600),
                tier=1, open_weights=True, tools=rng.random() < 0.2, price_in=float(rng.lognormal(math.log(0.1), 0.7)),
                context_length=int(_pick(rng, [8192, 32768, 65536, 131072])),
                specialty=int(_pick(rng, [1, 1, 0, -1, 6, 10]))))
        return specs

    def _mondays(self) -> np.ndarray:
        first = (7 - self.floor.weekday()) % 7
        return np.arange(first, self.n_days, 7)

    def _make_tokens(self, rng: np.random.Generator) -> np.ndarray:
        specs, n_models, n_days = self._specs, len(self._specs), self.n_days
        # float32 for the traffic curves (several times faster on big markets); float64 for the split.
        col = lambda name: np.array([getattr(s, name) for s in specs], dtype=np.float32)[:, None]  # noqa: E731
        launch, weight, ramp, prime = col("launch"), col("weight"), col("ramp"), col("prime")
        half_life, takeover, takeover_hl, end = col("half_life"), col("takeover"), col("takeover_half_life"), col("end")
        loyal, residual = col("loyal"), col("residual")
        kinds = [s.kind for s in specs]
        # Specs are laid out base/variants, then promo+stealth, then tail, so row ranges are slices.
        surge = slice(kinds.index("promo"), kinds.index("tail"))   # sized as a share of the whole market
        tail = slice(kinds.index("tail"), n_models)
        head = slice(0, tail.start)
        assert set(kinds[surge]) == {"promo", "stealth"} and set(kinds[tail]) == {"tail"}
        totals = self._market_totals(rng)
        week_of_day = self._week_numbers(np.arange(n_days))
        weekly_noise = rng.normal(0.0, 0.10, (n_models, int(week_of_day[-1]) + 1)).astype(np.float32)
        depth = self.config.list_depth
        tokens = np.zeros((n_models, n_days), dtype=np.int64)
        for c0 in range(0, n_days, _DAY_CHUNK):
            c1 = min(c0 + _DAY_CHUNK, n_days)
            t = np.arange(c0, c1, dtype=np.float32)[None, :]
            age = t - launch
            grown = np.clip(age / ramp, 0.0, 1.0)
            curve = grown * np.sqrt(grown)  # x**1.5 without the slow generic power
            curve *= residual + (1 - residual) * _halvings(np.clip(age - ramp - prime, 0.0, None) / half_life)
            curve *= loyal + (1 - loyal) * _halvings(np.clip(t - takeover, 0.0, None) / takeover_hl)
            curve *= (age >= 0) & (t < end)
            noise = np.random.default_rng([self.config.seed, 3, c0]).standard_normal(curve.shape, dtype=np.float32)
            noise *= 0.05
            noise += weekly_noise[:, week_of_day[c0:c1]]
            pull = weight * curve * np.exp(noise)
            rest = pull[: surge.start].sum(axis=0) + pull[tail].sum(axis=0)
            pull[surge] = rest * (pull[surge] / (1.0 - pull[surge]))  # share s of the whole market
            # Keep the long tail below the N-th listed head model so it only ever appears in `other`.
            nth = np.partition(pull[head], -depth, axis=0)[-depth]
            top_tail = pull[tail].max(axis=0)
            pull[tail] *= np.where(top_tail >= 0.7 * nth, 0.7 * nth / np.maximum(top_tail, 1e-30), 1.0)
            scale = totals[c0:c1] / pull.sum(axis=0, dtype=np.float64)
            tokens[:, c0:c1] = np.floor(pull * scale).astype(np.int64)
        return tokens

    def _market_totals(self, rng: np.random.Generator) -> np.ndarray:
        """Daily market tokens: ~2.5T/week at the start, fast growth slowing after ~9 months, weekday dip."""
        t = np.arange(self.n_days, dtype=np.float64)
        w = t / 7
        fast, rate, fade, floor_rate = 36.0, 0.052, 18.0, 0.004
        growth = np.where(w <= fast, rate * w,
                          rate * fast + rate * fade * (1 - np.exp(-(w - fast) / fade)) + floor_rate * (w - fast))
        weeks = self._week_numbers(t.astype(np.int64))
        wobble = np.zeros(int(weeks[-1]) + 1)
        shocks = rng.normal(0.0, 0.045, wobble.size)
        for k in range(1, wobble.size):  # AR(1) over ~100-500 weeks
            wobble[k] = 0.6 * wobble[k - 1] + shocks[k]
        weekday = (self.floor.weekday() + t.astype(np.int64)) % 7
        log_total = (math.log(2.5e12 / 7) + growth + wobble[weeks] + np.log(_WEEKDAY_FACTOR[weekday])
                     + rng.normal(0.0, 0.02, self.n_days))
        return np.exp(log_total)

    def _place_ties(self, rng: np.random.Generator) -> None:
        """Occasional exact ties inside the listed top N: a model copies its neighbour's days for a week."""
        mondays = self._mondays()
        mondays = mondays[mondays + 7 <= self.n_days]
        depth = self.config.list_depth
        for monday in rng.choice(mondays, min(len(mondays), max(2, len(mondays) // 8)), replace=False):
            week = self._tokens[:, monday:monday + 7]
            total = week.sum(axis=1)
            order = np.lexsort((self._name_rank, -total))
            k = int(rng.integers(3, depth - 2))
            leader, follower = order[k], order[k + 1]
            self._tokens[follower, monday:monday + 7] = self._tokens[leader, monday:monday + 7]

    def _make_segment_shares(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Per model: the fraction of its tokens in each category (12) and modality dataset (5)."""
        n = len(self._specs)
        alpha = np.tile(_CATEGORY_ALPHA, (n, 1))
        specialty = np.array([s.specialty for s in self._specs])
        alpha[specialty >= 0, specialty[specialty >= 0]] += 4.0
        alpha[:, CATEGORIES.index("marketing/seo")] = 1.0  # placeholder; seo is carved out of marketing below
        draw = rng.gamma(alpha)
        draw[:, CATEGORIES.index("marketing/seo")] = 0.0
        categories = (draw / draw.sum(axis=1, keepdims=True))[:, : len(CATEGORIES)]
        seo = CATEGORIES.index("marketing/seo")
        categories[:, seo] = categories[:, CATEGORIES.index("marketing")] * rng.uniform(0.1, 0.4, n)
        modalities = np.zeros((n, len(MODALITIES)))
        for i, s in enumerate(self._specs):
            text_out, image_out = "text" in s.output, "image" in s.output
            modalities[i] = [1.0 if text_out and not image_out else 0.6 if text_out else 0.0,
                             rng.uniform(0.02, 0.3) if s.vision else 0.0,
                             1.0 if image_out and not text_out else 0.4 if image_out else 0.0,
                             rng.uniform(0.02, 0.2) if s.audio else 0.0,
                             rng.uniform(0.05, 0.7) if s.tools else 0.0]
        return categories, modalities

    def _model_object(self, s: _Spec) -> dict:
        created = datetime.combine(self.floor, datetime.min.time(), UTC) + timedelta(days=s.launch, hours=9)
        free = s.price_in == 0.0
        inputs = ["text"] + (["image", "file"] if s.vision else []) + (["audio"] if s.audio else [])
        outputs = list(s.output)
        params = ["max_tokens", "temperature", "top_p", "stop", "seed", "response_format"]
        if s.tools:
            params += ["tools", "tool_choice"]
        end = self.floor + timedelta(days=s.end) if s.end < INF else None
        return {
            "id": s.model_id,
            "canonical_slug": s.canonical.removesuffix(":free").removesuffix(":beta"),
            "hugging_face_id": s.canonical if s.open_weights else None,
            "name": s.name,
            "created": int(created.timestamp()),
            "description": f"{s.name}, a simulated model for tokentide tests.",
            "context_length": s.context_length,
            "architecture": {"modality": f"{'+'.join(inputs)}->{'+'.join(outputs)}", "input_modalities": inputs,
                             "output_modalities": outputs, "tokenizer": _title(s.author.split("-")[0]),
                             "instruct_type": None},
            "pricing": {"prompt": _usd_per_token(s.price_in),
                        "completion": _usd_per_token(0.0 if free else s.price_in * 4),
                        "request": "0", "image": "0", "web_search": "0", "internal_reasoning": "0"},
            "top_provider": {"context_length": s.context_length, "max_completion_tokens": 32768,
                             "is_moderated": not s.open_weights},
            "per_request_limits": None,
            "supported_parameters": params,
            "default_parameters": {},
            "supported_voices": None,
            "expiration_date": end.isoformat() if end else None,
            "links": {"details": f"/api/v1/models/{s.model_id}/endpoints"},
        }


class DataApiSimulator:
    """Answers httpx requests for /datasets/rankings-daily and /models like OpenRouter does."""

    def __init__(self, market: SimulatedMarket, api_key: str = "sim-key", revision: int = 0):
        self.market = market
        self.api_key = api_key
        self.revision = revision   # settable: each revision restates recent weeks and moves meta.as_of
        self.requests: list[dict] = []
        self._canned: list[dict] = []
        self._lock = threading.Lock()

    def inject(self, *, status: int = 200, body: bytes | None = None, headers: dict | None = None,
               times: int = 1, delay_s: float = 0.0, path: str | None = None) -> None:
        """The next `times` requests (whose path ends with `path`, if given) get this answer. With status
        200 and no body the normal answer is served (after `delay_s`, with `headers` added)."""
        with self._lock:
            self._canned.append({"status": status, "body": body, "headers": dict(headers or {}),
                                 "times": times, "delay_s": delay_s, "path": (path or "").strip("/")})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        params = dict(request.url.params)
        with self._lock:
            self.requests.append({"method": request.method, "path": path, "params": params})
            canned = self._take_canned(path)
        if canned is not None:
            if canned["delay_s"]:
                time.sleep(canned["delay_s"])
            if canned["status"] != 200 or canned["body"] is not None:
                body = canned["body"] if canned["body"] is not None else _error_body(canned["status"])
                headers = {"content-type": "application/json", **canned["headers"]}
                return httpx.Response(canned["status"], content=body, headers=headers)
        response = self._serve(request, path, params)
        if canned is not None:
            response.headers.update(canned["headers"])
        return response

    def _take_canned(self, path: str) -> dict | None:
        for canned in self._canned:
            if path.strip("/").endswith(canned["path"]):
                canned["times"] -= 1
                if canned["times"] <= 0:
                    self._canned.remove(canned)
                return canned
        return None

    def _serve(self, request: httpx.Request, path: str, params: dict[str, str]) -> httpx.Response:
        if request.method != "GET":
            return _error(405)
        if path.endswith("/datasets/rankings-daily"):
            auth = request.headers.get("authorization")
            if not auth:
                return _error(401)
            if auth != f"Bearer {self.api_key}":
                return _error(401, "Invalid or disabled API key")
            try:
                return self._rankings(params)
            except BadRequest as exc:
                return _error(400, str(exc))
        if path.endswith("/models"):
            return self._models(params, request.url)
        return _error(404)

    def as_of(self) -> str:
        """meta.as_of: 02:00Z on `today`, one hour later per revision."""
        stamp = datetime.combine(self.market.config.today, datetime.min.time(), UTC)
        return (stamp + timedelta(hours=2 + self.revision)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def _rankings(self, params: dict[str, str]) -> httpx.Response:
        period, start, end, category, modality = resolve_rankings_params(self.market, params)
        rows = self.market.bucket_rows(period, start, end, category, modality, revision=self.revision)
        data = ",".join(f'{{"date":"{d.isoformat()}","model_permaslug":"{slug}","total_tokens":"{tokens}"}}'
                        for d, slug, tokens in rows)
        meta = json.dumps({"as_of": self.as_of(), "version": "v1", "start_date": start.isoformat(),
                           "end_date": end.isoformat()}, separators=(",", ":"))
        return _json_response(f'{{"data":[{data}],"meta":{meta}}}'.encode())

    def _models(self, params: dict[str, str], url: httpx.URL) -> httpx.Response:
        wanted = params.get("output_modalities", "text")  # upstream default hides image models
        models = self.market.catalogue()
        if wanted != "all":
            allowed = set(wanted.split(","))
            models = [m for m in models if allowed & set(m["architecture"]["output_modalities"])]
        envelope = {"data": models, "total_count": len(models), "links": {"next": None}}
        if "offset" in params or "limit" in params:
            try:
                offset, limit = int(params.get("offset", 0)), int(params.get("limit", 500))
            except ValueError:
                return _error(400)
            if not (0 <= offset and 1 <= limit <= 1000):
                return _error(400)
            envelope["data"] = models[offset:offset + limit]
            if offset + limit < len(models):
                envelope["links"]["next"] = str(url.copy_merge_params({"offset": offset + limit, "limit": limit}))
        return _json_response(json.dumps(envelope, separators=(",", ":")).encode())


def resolve_rankings_params(market: SimulatedMarket, params: dict[str, str]):
    """Apply the Data API's parameter rules (sources.md §1.2); returns the applied
    (period, start, end, category, modality) or raises BadRequest."""
    requested = {}
    for key in ("start_date", "end_date"):
        if key in params:
            value = params[key]
            if not _DATE_RE.match(value):
                raise BadRequest(f"{key} must match YYYY-MM-DD, got {value!r}")
            try:
                requested[key] = date.fromisoformat(value)
            except ValueError:
                raise BadRequest(f"{key} is not a real calendar date: {value}") from None
    period, category, modality = params.get("period"), params.get("category"), params.get("modality")
    if period is not None and period not in PERIODS:
        raise BadRequest(f"period must be one of day, week, month, got {period!r}")
    if category is not None and category not in CATEGORIES:
        raise BadRequest(f"unknown category {category!r}")
    if modality is not None and modality not in MODALITIES:
        raise BadRequest(f"unknown modality {modality!r}")
    if category is not None and modality is not None:
        raise BadRequest("category cannot be combined with modality")
    period = period or ("week" if category else "day")
    if category is not None and period == "day":
        raise BadRequest("category data is available for period=week or period=month only")
    end = requested.get("end_date", market.yesterday)
    start = requested.get("start_date", min(end, market.yesterday) - timedelta(days=30))
    if start > end:
        raise BadRequest("start_date must be on or before end_date")
    if end < market.floor:
        raise BadRequest(f"end_date must not be before {market.floor.isoformat()}")
    start, end = market.applied_window(start, end)
    if start > end:
        raise BadRequest(f"no complete UTC day in range: data ends at {market.yesterday.isoformat()}")
    if (end - start).days + 1 > MAX_SPAN_DAYS:
        raise BadRequest(f"date range spans {(end - start).days + 1} days; at most {MAX_SPAN_DAYS} are allowed")
    limit = market.config.week_period_from
    if limit is not None and period == "week" and start < limit:
        raise BadRequest(f"period=week is not available before {limit.isoformat()}")
    return period, start, end, category, modality


# -- small helpers ----------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _halvings(n: np.ndarray) -> np.ndarray:
    """0.5 ** n via exp, several times faster than numpy's generic power on large arrays."""
    return np.exp(n * np.float32(-math.log(2)))


def _bucket_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _bucket_end(first: date, period: str) -> date:
    if period == "week":
        return first + timedelta(days=6)
    if period == "month":
        return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return first


def _variant(base: _Spec, suffix: str, **changes) -> _Spec:
    fields = dict(base.__dict__)
    fields.update(slug=base.slug + suffix, model_id=base.model_id + suffix,
                  name=base.name + f" ({suffix[1:]})", **changes)
    return _Spec(**fields)


def _apportion(total: int, weights: np.ndarray) -> list[int]:
    """Split `total` into integer counts roughly proportional to weights, each at least 1."""
    raw = weights / weights.sum() * total
    counts = np.maximum(1, np.floor(raw)).astype(int)
    while counts.sum() < total:
        counts[np.argmax(raw - counts)] += 1
    while counts.sum() > total:
        counts[np.argmax(counts)] -= 1
    return counts.tolist()


def _author_slugs(n: int) -> list[str]:
    if n <= len(AUTHORS):
        return list(AUTHORS[:n])
    return list(AUTHORS) + [f"{a}-{k}" for k in range(2, n) for a in AUTHORS][: n - len(AUTHORS)]


def _unique(candidate: str, taken: set[str]) -> str:
    name, k = candidate, 2
    while name in taken:
        name = f"{candidate}-v{k}"
        k += 1
    return name


def _version(v: float) -> str:
    return str(int(v)) if v == int(v) else f"{v:.1f}"


def _title(stem: str) -> str:
    return " ".join(part.capitalize() for part in re.split(r"[-/]", stem))


def _usd_per_token(per_million: float) -> str:
    if per_million <= 0:
        return "0"
    value = Decimal(f"{per_million:.3g}") / Decimal(1_000_000)
    return format(value.normalize(), "f")


def _error_body(status: int, message: str | None = None) -> bytes:
    return json.dumps({"error": {"code": status, "message": message or _ERROR_TEXT.get(status, "Error")}},
                      separators=(",", ":")).encode()


def _error(status: int, message: str | None = None) -> httpx.Response:
    return _json_response(_error_body(status, message), status)


def _json_response(body: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": "application/json"})
