"""pandera (polars) schemas for what enters the warehouse; validated lazily so a
failure report lists every bad row, not just the first."""

import pandera.polars as pa
import polars as pl

# Documented permaslug shape: author/slug[:variant], no whitespace or control
# characters; `other` is the one non-slug value (sources.md §1.3, §6.5).
PERMASLUG_PATTERN = r"^(other|[a-z0-9~][^/\s\x00-\x1f\x7f]*/[^\s\x00-\x1f\x7f]+)$"
TOKENS_PATTERN = r"^[0-9]+$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
MAX_BIGINT = 2**63 - 1


class RankingRowsText(pa.DataFrameModel):
    """The rows of rankings responses as received: every field a string. `pull` tells apart the
    responses validated together (assets.parse validates a run's pulls in one call)."""

    pull: int = pa.Field(ge=0)
    row: int = pa.Field(ge=1)
    date: str = pa.Field(str_matches=DATE_PATTERN)
    model_permaslug: str = pa.Field(str_matches=PERMASLUG_PATTERN)
    total_tokens: str = pa.Field(str_matches=TOKENS_PATTERN)

    class Config:
        strict = True
        coerce = False


class RankingRows(pa.DataFrameModel):
    """Typed rows of rankings pulls, ready to land; `pull` as in RankingRowsText."""

    pull: int = pa.Field(ge=0)
    row: int = pa.Field(ge=1)
    bucket_date: pl.Date
    model_permaslug: str  # shape already checked on the text rows
    tokens: int = pa.Field(ge=0)
    is_monday: bool
    in_window: bool

    class Config:
        strict = True
        coerce = False
        unique = ["pull", "bucket_date", "model_permaslug"]  # once per bucket within each pull

    @pa.check("is_monday", name="weekly bucket starts on a Monday")
    @classmethod
    def weekly_buckets_are_mondays(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("is_monday"))

    @pa.check("in_window", name="bucket inside the window the API applied (meta.start_date..end_date)")
    @classmethod
    def buckets_in_window(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("in_window"))


class CatalogueModels(pa.DataFrameModel):
    """The fields tokentide keeps from `/models`."""

    model_id: str = pa.Field(str_matches=r"^~?[a-z0-9][^/\s]*/\S+$")
    canonical_slug: str = pa.Field(str_matches=r"^[a-z0-9][^/\s]*/\S+$")
    model_permaslug: str = pa.Field(str_matches=PERMASLUG_PATTERN)

    class Config:
        strict = False
        coerce = False
        unique = ["model_id"]
