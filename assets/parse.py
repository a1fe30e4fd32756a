"""Parse and validate Data API bodies into typed frames, or reject them whole.

Errors are raised here, where the data enters, and name every bad row with its
field, value and bucket, plus where the verbatim body was kept for inspection.
Tokens go from decimal string to Python int to BIGINT, never through float.
"""

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass

import pandera.errors
import polars as pl

from assets.raw_store import StoredPull
from assets.schemas import MAX_BIGINT, CatalogueModels, RankingRows, RankingRowsText

ROW_FIELDS = ("date", "model_permaslug", "total_tokens")
META_FIELDS = ("as_of", "version", "start_date", "end_date")
MAX_LISTED_PROBLEMS = 60


class PayloadError(ValueError):
    """A response that cannot land: says which pull, every problem, and where the body is kept."""

    def __init__(self, what: str, problems: list[str], raw_path: str | None = None):
        self.what, self.problems, self.raw_path = what, problems, raw_path
        shown = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(shown)
        lines = [f"{what}: rejected, nothing landed ({len(problems)} problem(s))"]
        lines += [f"  - {p}" for p in shown]
        if more:
            lines.append(f"  ... and {more} more")
        if raw_path:
            lines.append(f"  raw body kept at {raw_path}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class RankingsPull:
    """One validated rankings response."""

    stored: StoredPull
    period: str
    segment_type: str
    segment: str
    as_of: dt.datetime
    meta_start_date: dt.date
    meta_end_date: dt.date
    rows: pl.DataFrame  # bucket_date, model_permaslug, tokens, position


def describe(stored: StoredPull) -> str:
    """Human name of a pull: endpoint, period, segment and window."""
    p = stored.params
    if stored.endpoint == "models":
        return "models catalogue"
    seg = f" category={p['category']}" if "category" in p else ""
    seg += f" modality={p['modality']}" if "modality" in p else ""
    return (f"rankings-daily period={p.get('period', 'day')}{seg} "
            f"{p.get('start_date', '?')}..{p.get('end_date', '?')}")


def segment_of(params: dict[str, str]) -> tuple[str, str]:
    if "category" in params:
        return "category", params["category"]
    if "modality" in params:
        return "modality", params["modality"]
    return "all", ""


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _parse_date(text: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
    except ValueError:
        return None


def _parse_as_of(text: object) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return value if value is not None and value.tzinfo is not None else None


def _load_json(stored: StoredPull, body: bytes, raw_path: str | None) -> object:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        head = body[:80].decode("utf-8", "replace")
        hint = " (looks like an HTML page)" if head.lstrip().lower().startswith("<") else (
            " (truncated?)" if "Expecting" in str(exc) or "Unterminated" in str(exc) else "")
        raise PayloadError(describe(stored), [
            f"body is not valid JSON{hint}: {exc.msg} at byte {exc.pos}; starts with {head!r}"
            if isinstance(exc, json.JSONDecodeError) else f"body is not UTF-8 text: {exc}"
        ], raw_path) from None


def _check_meta(meta: object, params: dict[str, str], problems: list[str]):
    if not isinstance(meta, dict):
        problems.append("meta: missing or not an object")
        return None
    for field in META_FIELDS:
        if field not in meta:
            problems.append(f"meta.{field}: missing")
    as_of = _parse_as_of(meta.get("as_of"))
    start, end = _parse_date(meta.get("start_date")), _parse_date(meta.get("end_date"))
    if "as_of" in meta and as_of is None:
        problems.append(f"meta.as_of: {_show(meta.get('as_of'))} is not an ISO-8601 timestamp with a zone")
    if "version" in meta and meta.get("version") != "v1":
        problems.append(f"meta.version: {_show(meta.get('version'))} is not the supported version 'v1'")
    for field, value in (("start_date", start), ("end_date", end)):
        if field in meta and value is None:
            problems.append(f"meta.{field}: {_show(meta.get(field))} is not a calendar date YYYY-MM-DD")
    req_start, req_end = _parse_date(params.get("start_date")), _parse_date(params.get("end_date"))
    if start and end and start > end:
        problems.append(f"meta: start_date {start} is after end_date {end}")
    if start and req_start and start < req_start:
        problems.append(f"meta.start_date {start} is before the requested start_date {req_start}")
    if end and req_end and end > req_end:
        problems.append(f"meta.end_date {end} is after the requested end_date {req_end}")
    if end and req_start and end < req_start:
        problems.append(f"meta.end_date {end} is before the requested start_date {req_start}")
    if as_of and end and as_of.astimezone(dt.UTC).date() < end:
        problems.append(f"meta.as_of {as_of.isoformat()} is before the data window ends ({end})")
    return as_of, start, end


def _row_problems(data: list, problems: list[str]) -> list[dict]:
    """Structural checks on each row; returns the rows that are well-formed dicts of strings."""
    good = []
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            problems.append(f"row {i}: expected an object, got {type(item).__name__}")
            continue
        bucket = item.get("date")
        where = f"row {i} (bucket {bucket})" if isinstance(bucket, str) else f"row {i}"
        bad = False
        for field in ROW_FIELDS:
            if field not in item:
                problems.append(f"{where}: missing field {field}")
                bad = True
            elif not isinstance(item[field], str):
                problems.append(f"{where} field {field}: expected a string, got "
                                f"{type(item[field]).__name__} {_show(item[field])}")
                bad = True
        for field in item.keys() - set(ROW_FIELDS):
            problems.append(f"{where}: unexpected field {_show(field)}")
            bad = True
        if not bad:
            good.append({"row": i, **{f: item[f] for f in ROW_FIELDS}})
    return good


_TEXT_SCHEMA = {"row": pl.Int64, "date": pl.String, "model_permaslug": pl.String, "total_tokens": pl.String}
_TYPED_SCHEMA = {"row": pl.Int64, "bucket_date": pl.Date, "model_permaslug": pl.String, "tokens": pl.Int64}
_FIELD_SET = frozenset(ROW_FIELDS)


def _text_rows(data: list, problems: list[str]) -> pl.DataFrame:
    """The rows as a frame of strings. Columns are gathered in bulk when every row is an object of
    exactly the three string fields (the normal case); otherwise each row is checked and named."""
    if all(type(item) is dict and item.keys() == _FIELD_SET for item in data):
        columns = {f: [item[f] for item in data] for f in ROW_FIELDS}
        try:  # strict: a non-string value raises instead of being cast; JSON null shows as a null
            frame = pl.DataFrame({"row": range(1, len(data) + 1), **columns}, schema=_TEXT_SCHEMA, strict=True)
            if not frame.null_count().sum_horizontal().item():
                return frame
        except (TypeError, pl.exceptions.PolarsError):
            pass
    return pl.DataFrame(_row_problems(data, problems), schema=_TEXT_SCHEMA)


def _typed_rows(text: pl.DataFrame, problems: list[str]) -> pl.DataFrame:
    """Dates and integer tokens, vectorised for rows of the documented shape; any other row goes
    through the row-by-row rules below, which name the problem (so messages never depend on
    which path a row took)."""
    typed = text.select(
        "row",
        pl.when(pl.col("date").str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
        .then(pl.col("date").str.to_date("%Y-%m-%d", strict=False)).alias("bucket_date"),
        "model_permaslug",
        pl.when(pl.col("total_tokens").str.contains(r"^[0-9]+$"))
        .then(pl.col("total_tokens").str.to_integer(strict=False)).alias("tokens"),
    )
    ok = pl.col("bucket_date").is_not_null() & pl.col("tokens").is_not_null()
    odd = text.filter(~typed.select(ok).to_series())
    if odd.is_empty():
        return typed
    return pl.concat([typed.filter(ok), _typed_rows_one_by_one(odd, problems)]).sort("row")


def _typed_rows_one_by_one(text: pl.DataFrame, problems: list[str]) -> pl.DataFrame:
    typed_rows = []
    for rec in text.iter_rows(named=True):
        day = _parse_date(rec["date"])
        where = f"row {rec['row']} (bucket {rec['date']}, model {_show(rec['model_permaslug'])})"
        if day is None and len(rec["date"]) == 10 and rec["date"][4] == "-":
            problems.append(f"{where} field date: {rec['date']!r} is not a real calendar date")
        tokens = int(rec["total_tokens"]) if rec["total_tokens"].isascii() and rec["total_tokens"].isdigit() else None
        if tokens is not None and tokens > MAX_BIGINT:
            problems.append(f"{where} field total_tokens: {_show(rec['total_tokens'])} exceeds 64-bit range")
            tokens = None
        if day is None or tokens is None:
            continue
        typed_rows.append((rec["row"], day, rec["model_permaslug"], tokens))
    return pl.DataFrame(typed_rows, schema=_TYPED_SCHEMA, orient="row")


def _pandera_problems(exc: pandera.errors.SchemaErrors, frame: pl.DataFrame, bucket_col: str) -> list[str]:
    problems = []
    cases = exc.failure_cases
    for case in cases.iter_rows(named=True):
        index = case.get("index")
        column = case.get("column") or ""
        check = str(case.get("check"))
        if index is not None and 0 <= index < frame.height:
            rec = frame.row(index, named=True)
            where = f"row {rec['row']} (bucket {rec[bucket_col]}, model {_show(rec['model_permaslug'])})"
            value = rec.get(column) if column in rec else case.get("failure_case")
        else:
            where, value = "rows", case.get("failure_case")
        reason = {
            "weekly bucket starts on a Monday": "weekly bucket does not start on a Monday",
            "bucket inside the window the API applied (meta.start_date..end_date)":
                "bucket lies outside the window the API applied (meta.start_date..end_date)",
        }.get(check, check)
        if "uniqueness" in check or "unique" in check:
            problems.append(f"{where}: duplicate (bucket, model) — a model may appear once per bucket "
                            "and 'other' at most once")
        elif column in ("is_monday", "in_window"):
            problems.append(f"{where} field date: {reason}")
        else:
            problems.append(f"{where} field {column}: {_show(value)} fails {reason}")
    return problems


# Rows validated per pandera call: a call costs ~10 ms whatever its size, so a run's pulls are
# validated together; the cap bounds the text frames a full rebuild (millions of rows) holds at once.
BATCH_ROWS = 1_000_000


@dataclass
class _Pending:
    """A rankings pull between the validation passes: its problems so far and its frames."""

    stored: StoredPull
    raw_path: str | None
    problems: list[str]
    meta: tuple | None
    period: str
    text: pl.DataFrame
    typed: pl.DataFrame | None = None


def parse_rankings(stored: StoredPull, body: bytes, raw_path: str | None = None) -> RankingsPull:
    """Validate a rankings-daily body against its request; raise PayloadError listing every problem."""
    (result,) = parse_rankings_batch([(stored, body, raw_path)])
    if isinstance(result, PayloadError):
        raise result
    return result


def parse_rankings_batch(items: Iterable[tuple[StoredPull, bytes, str | None]]) -> list[RankingsPull | PayloadError]:
    """parse_rankings for many bodies: one pandera call per schema for up to BATCH_ROWS rows of them
    instead of two per pull. Each result is the pull or its PayloadError, with the same problems, in
    the same order, as parse_rankings gives it alone. `items` is read lazily, one body at a time."""
    results: list[RankingsPull | PayloadError | None] = []
    chunk: list[tuple[int, _Pending]] = []
    rows = 0
    for stored, body, raw_path in items:
        try:
            item = _read_rankings(stored, body, raw_path)
        except PayloadError as exc:
            results.append(exc)
            continue
        chunk.append((len(results), item))
        results.append(None)
        rows += item.text.height
        if rows >= BATCH_ROWS:
            _validate_chunk(chunk, results)
            chunk, rows = [], 0
    _validate_chunk(chunk, results)
    return results


def _validate_chunk(chunk: list[tuple[int, _Pending]], results: list) -> None:
    pending = [item for _, item in chunk]
    _validate_together(RankingRowsText, pending, "text", "date")
    for item in pending:
        item.typed = _typed_rows(item.text, item.problems)
        if item.meta is not None and item.meta[1] and item.meta[2]:
            _, start, end = item.meta
            window_start = start - dt.timedelta(days=start.weekday()) if item.period == "week" else start
            item.typed = item.typed.with_columns(
                ((pl.col("bucket_date").dt.weekday() == 1) | pl.lit(item.period != "week")).alias("is_monday"),
                pl.col("bucket_date").is_between(window_start, end).alias("in_window"),
            )
    _validate_together(RankingRows, [item for item in pending if "in_window" in item.typed.columns], "typed",
                       "bucket_date")
    for index, item in chunk:
        results[index] = _finish(item)


def _read_rankings(stored: StoredPull, body: bytes, raw_path: str | None) -> _Pending:
    """The checks that need no pandera: JSON, status, meta, and the rows as a frame of strings."""
    doc = _load_json(stored, body, raw_path)
    if not isinstance(doc, dict):
        raise PayloadError(describe(stored), [f"body is JSON {type(doc).__name__}, not an object with data and "
                                              "meta"], raw_path)
    problems: list[str] = []
    if stored.status != 200:
        problems.append(f"HTTP status {stored.status}, expected 200")
    meta = _check_meta(doc.get("meta"), stored.params, problems)
    data = doc.get("data")
    if not isinstance(data, list):
        problems.append("data: missing or not a list")
        data = []
    elif not data:
        problems.append("data: empty — the API returned no rows for the requested window")
    return _Pending(stored, raw_path, problems, meta, stored.params.get("period", "day"), _text_rows(data, problems))


def _validate_together(schema, chunk: list[_Pending], attr: str, bucket_col: str) -> None:
    """One lazy pandera call over the frames `attr` of `chunk`, told apart by a `pull` column. If it
    fails, the pulls it names are validated again one by one, so each gets exactly the messages it
    would alone (a failure that names no row sends every pull of the chunk round again)."""
    if not chunk:
        return
    frames = [getattr(item, attr).select(pl.lit(i, pl.Int64).alias("pull"), pl.all()) for i, item in enumerate(chunk)]
    together = pl.concat(frames)
    try:
        schema.validate(together, lazy=True)
        return
    except pandera.errors.SchemaErrors as exc:
        index = exc.failure_cases["index"] if "index" in exc.failure_cases.columns else None
        if index is None or index.null_count():
            named = range(len(chunk))
        else:
            named = sorted(set(together["pull"].gather(index.cast(pl.Int64)).to_list()))
    for i in named:
        try:
            schema.validate(frames[i], lazy=True)
        except pandera.errors.SchemaErrors as exc:
            chunk[i].problems += _pandera_problems(exc, frames[i], bucket_col)


def _finish(item: _Pending) -> RankingsPull | PayloadError:
    if item.problems:
        return PayloadError(describe(item.stored), item.problems, item.raw_path)
    segment_type, segment = segment_of(item.stored.params)
    out = item.typed.select("bucket_date", "model_permaslug", "tokens").with_columns(
        pl.int_range(1, pl.len() + 1).over("bucket_date").cast(pl.Int32).alias("position"))
    return RankingsPull(item.stored, item.period, segment_type, segment, item.meta[0], item.meta[1], item.meta[2],
                        out)


def parse_catalogue(stored: StoredPull, body: bytes, raw_path: str | None = None) -> pl.DataFrame:
    """The /models catalogue as a frame keyed by the ranking permaslug (canonical_slug + :variant)."""
    what = describe(stored)
    doc = _load_json(stored, body, raw_path)
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list) or not data:
        raise PayloadError(what, ["data: missing, not a list, or empty"], raw_path)
    problems, records = [], []
    for i, m in enumerate(data, start=1):
        if not isinstance(m, dict) or not isinstance(m.get("id"), str) or not isinstance(m.get("canonical_slug"), str):
            problems.append(f"model {i}: needs string fields id and canonical_slug")
            continue
        variant = m["id"].split(":", 1)[1] if ":" in m["id"] else None
        pricing = m.get("pricing") if isinstance(m.get("pricing"), dict) else {}
        created = m.get("created")
        records.append({
            "model_id": m["id"],
            "canonical_slug": m["canonical_slug"],
            "model_permaslug": m["canonical_slug"] + (f":{variant}" if variant else ""),
            "name": m.get("name") if isinstance(m.get("name"), str) else None,
            "variant": variant,
            "created_at": dt.datetime.fromtimestamp(created, dt.UTC) if isinstance(created, int | float) else None,
            "context_length": m.get("context_length") if isinstance(m.get("context_length"), int) else None,
            "prompt_usd_per_token": str(pricing.get("prompt")) if pricing.get("prompt") is not None else None,
            "completion_usd_per_token": str(pricing.get("completion")) if pricing.get("completion") is not None else None,
        })
    frame = pl.DataFrame(records, schema={
        "model_id": pl.String, "canonical_slug": pl.String, "model_permaslug": pl.String, "name": pl.String,
        "variant": pl.String, "created_at": pl.Datetime("us", "UTC"), "context_length": pl.Int64,
        "prompt_usd_per_token": pl.String, "completion_usd_per_token": pl.String})
    try:
        CatalogueModels.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        for case in exc.failure_cases.iter_rows(named=True):
            problems.append(f"model {case.get('index')} field {case.get('column')}: "
                            f"{_show(case.get('failure_case'))} fails {case.get('check')}")
    if problems:
        raise PayloadError(what, problems, raw_path)
    return frame
