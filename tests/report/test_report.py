"""The weekly brief: every number it prints is a mart value; the files are complete and self-contained."""

import datetime as dt
import math
import re
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from PIL import Image

from assets.brief_asset import brief
from assets.marts import MARTS, MartParams, build_marts
from assets.report import LABEL_WORDS, MARTS_READ, build_brief, fmt, write_report
from assets.settings import LICENCE_NOTE
from assets.sql import SQL_DIR
from assets.warehouse import Warehouse
from orchestration.resources import WarehouseResource
from tests.golden_support import land_rankings

B = 10**9
W1 = dt.date(2025, 6, 2)
N_WEEKS = 20
LAST = W1 + dt.timedelta(weeks=N_WEEKS - 1)
# the marts the brief reads, in build order (and only those whose query exists in this checkout)
BUILT = tuple(n for n in MARTS if n in MARTS_READ and (SQL_DIR / "marts" / f"{n}.sql").exists())


def market() -> pl.DataFrame:
    """20 weeks of a small market with a trend, a spike, a succession, an entrant and an exit."""
    rows = []
    for i in range(N_WEEKS):
        week = W1 + dt.timedelta(weeks=i)
        wobble = 1 + 0.03 * math.sin(i * 1.7)
        tokens = {
            "anthropic/claude-a": 300 * wobble * 1.01**i,
            "openai/gpt-a": 280 * (1 + 0.04 * math.cos(i)),
            "google/gemini-a": 150 * 1.06**i,  # a steady climb
            "acme/old": 200 * 0.93**max(0, i - 8),  # replaced by acme/new from week 9
            "deepseek/chat": 120 * (3.0 if i == 14 else 1.0) * wobble,  # one spike
            "deepseek/chat:free": 90 * wobble,
            "meta/llama": 60 + 2 * i,
            "qwen/coder": 55 * (1 + 0.05 * math.sin(i)),
            "qwen/coder:free": 40 * wobble,
            "mistral/small": 35 * wobble,
        }
        if i >= 8:
            tokens["acme/new"] = 20 * 1.35 ** (i - 8)
        if i < N_WEEKS - 1:
            tokens["old/retiring"] = 30 * wobble  # exits in the last week
        if i == N_WEEKS - 1:
            tokens["new/entrant"] = 45.0
        listed = sorted(((s, int(t * B)) for s, t in tokens.items()), key=lambda p: (-p[1], p[0]))
        rows += [(week, s, t) for s, t in listed] + [(week, "other", int(400 * B * wobble))]
    return pl.DataFrame(rows, schema=["bucket_date", "model_permaslug", "tokens"], orient="row")


def segment(share_of: dict[str, float]) -> pl.DataFrame:
    main = market().filter(pl.col("model_permaslug").is_in(list(share_of)))
    rows = main.with_columns(
        (pl.col("tokens") * pl.col("model_permaslug").replace_strict(share_of, return_dtype=pl.Float64))
        .cast(pl.Int64).alias("tokens")
    ).sort(["bucket_date", "tokens", "model_permaslug"], descending=[False, True, False])
    other = rows.group_by("bucket_date").agg((pl.col("tokens").sum() // 5).alias("tokens")).with_columns(
        pl.lit("other").alias("model_permaslug"))
    return pl.concat([rows, other.select(rows.columns)]).sort("bucket_date", maintain_order=True)


SEGMENTS = {
    ("category", "programming"): {"anthropic/claude-a": 0.6, "qwen/coder": 0.9, "openai/gpt-a": 0.2},
    ("modality", "tool_calling"): {"openai/gpt-a": 0.5, "google/gemini-a": 0.4, "acme/new": 0.3},
}


def make_warehouse(path, origin: str) -> None:
    with Warehouse(path).writer() as conn:
        land_rankings(conn, market(), pull_id="main")
        for (kind, name), share_of in SEGMENTS.items():
            land_rankings(conn, segment(share_of), pull_id=name, segment_type=kind, segment=name)
        conn.execute("insert or replace into raw.warehouse_info values ('origin', ?)", [origin])
        build_marts(conn, MartParams(top_ns=(10, 20)), names=BUILT)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("synthetic") / "warehouse.duckdb"
    make_warehouse(path, "synthetic")
    return path


@pytest.fixture(scope="module")
def brief_parts(synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("charts")
    with Warehouse(synthetic).reader() as conn:
        doc, ledger = build_brief(conn, LAST, out)
    return doc.markdown(), ledger


def mart_value(conn, cited):
    where = " and ".join(f"{k} = ?" for k, _ in cited.keys)
    rows = conn.execute(f"select {cited.column} from {cited.table} where {where}",
                        [v for _, v in cited.keys]).fetchall()
    assert len(rows) == 1, f"{cited} matches {len(rows)} rows"
    return rows[0][0]


def test_every_cited_number_equals_its_mart_value(synthetic, brief_parts):
    markdown, ledger = brief_parts
    assert len(ledger.cited) > 40
    with Warehouse(synthetic).reader() as conn:
        for cited in ledger.cited:
            assert fmt(mart_value(conn, cited), cited.kind) == cited.text, cited
            assert cited.text in markdown


# numbers that are part of the fixed wording (definitions, not facts)
WORDING = [
    r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2} UTC)?", r"`[^`]*`", r"!\[[^\]]*\]\([^)]*\)", r"\(https?://[^)]*\)",
    r"CC BY 4\.0", r"DOJ 2023", r"§\d+(\.\d+)?", r"\btop (3|5|10)\b", r"\blast (4|8|12|26) weeks\b",
    r"\b(4|12) weeks ago\b", r"\bover the last 4 weeks\b", r"\bwithin 4 weeks\b", r"\bof 4\b", r"\bof 2 or more\b",
    r"\bover 8 weeks\b", r"\bwithin 10 %", r"\b10 or more\b", r"\bCR[35]\b", r"\(last 4\)", r"\blast 4\b",
    r"\bprompt plus\b", r"\b12 weeks\b", r"\b8 weeks\b",
]


def test_no_number_in_the_brief_is_left_unsourced(brief_parts):
    markdown, ledger = brief_parts
    text = markdown
    for pattern in WORDING:
        text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
    for cited in sorted({c.text for c in ledger.cited}, key=len, reverse=True):
        text = re.sub(rf"(?<![\d.]){re.escape(cited)}(?![\d.])", " ", text)
    leftover = re.findall(r"[-+]?\d+(?:\.\d+)?", text)
    assert leftover == [], f"numbers without a mart source: {leftover}\n{text}"


def shows(text: str, value: float) -> bool:
    """`text` is `value` rounded to the digits it prints."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(float(text) - value) <= 0.5 * 10**-decimals + 1e-9


def test_tables_parsed_from_markdown_match_the_marts(synthetic, brief_parts):
    markdown, _ = brief_parts
    with Warehouse(synthetic).reader() as conn:
        frag = conn.execute("select cr1, leader_ratio, neff_lower, neff_upper from mart.fragmentation "
                            "where level = 'model' and week_start = ?", [LAST]).fetchall()[0]
        share = re.search(r"^\| leader share \(%\) \| ([\d.]+) \|", markdown, re.M).group(1)
        assert shows(share, 100 * frag[0])
        ratio = re.search(r"^\| leader / runner-up \(×\) \| ([\d.]+) \|", markdown, re.M).group(1)
        assert shows(ratio, frag[1])
        # movers: every model row's share and pp change are the growth mart's
        rows = re.findall(r"^\| `([^`]+)` \| ([\d.]+) \| ([-+][\d.]+) \| ([-+][\d.]+) \|", markdown, re.M)
        assert rows
        for model, share_pct, change_pp, wow in rows:
            got = conn.execute("select share_pct, share_change_pp, wow_pct from mart.growth where level = 'model' "
                               "and week_start = ? and entity_id = ?", [LAST, model]).fetchall()[0]
            assert shows(share_pct, got[0]) and shows(change_pp, got[1]) and shows(wow, got[2])
        # use cases: the leader and its share per segment
        for seg, leader, share_pct in re.findall(r"^\| (\w+) \((?:category|modality)[^|]*\| `([^`]+)` \| ([\d.]+) \|",
                                                 markdown, re.M):
            got = conn.execute("select leader_id, leader_share_pct from mart.segment_leaders "
                               "where week_start = ? and segment = ?", [LAST, seg]).fetchall()[0]
            assert leader == got[0] and shows(share_pct, got[1])


def test_brief_names_what_the_market_shows(synthetic, brief_parts):
    markdown, _ = brief_parts
    assert "`new/entrant`" in markdown.split("**Entered the list:**")[1].split("\n")[0]
    assert "`old/retiring`" in markdown.split("**Left the list:**")[1].split("\n")[0]
    succession = markdown.split("## Successions")[1].split("##")[0]
    assert "`acme/new`" in succession and "`acme/old`" in succession
    use_cases = markdown.split("## Who wins each use case")[1].split("\n## ")[0]
    for (kind, name), share_of in SEGMENTS.items():
        last = segment(share_of).filter((pl.col("bucket_date") == LAST) & (pl.col("model_permaslug") != "other"))
        leader = last.sort("tokens", descending=True)["model_permaslug"][0]
        assert re.search(rf"^\| {name} \({kind}[^|]*\| `{re.escape(leader)}` \|", use_cases, re.M)
    with Warehouse(synthetic).reader() as conn:
        shape = conn.execute("select market_shape from mart.fragmentation where level = 'model' and week_start = ?",
                             [LAST]).fetchall()[0][0]
        labels = {r[0] for r in conn.execute("select label from mart.noise_vs_trend where level = 'model' "
                                              "and week_start = ?", [LAST]).fetchall()}
    assert f"**{shape}" in markdown
    assert any(f"{label} ({LABEL_WORDS[label]})" in markdown for label in labels)


@pytest.fixture(scope="module")
def materialized(synthetic):
    """The Dagster asset run for the last week: it writes the files and returns its metadata."""
    result = dg.materialize([brief], partition_key=LAST.isoformat(),
                            resources={"warehouse": WarehouseResource(path=str(synthetic))},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    return result.asset_materializations_for_node("brief")[0].metadata


def test_files_banner_citation_and_self_contained_html(materialized):
    md = materialized["markdown_path"].value
    folder = md.rsplit("/", 1)[0]
    assert folder.endswith(f"/reports/{LAST.isoformat()}")
    markdown = open(md).read()
    assert "SYNTHETIC DATA" in markdown.split("\n## ")[0]
    assert re.search(r"Source: OpenRouter \(openrouter\.ai/rankings\), as of 2026-01-05 02:00 UTC", markdown)
    assert LICENCE_NOTE in markdown
    pngs = sorted(Path(folder).glob("*.png"))
    assert len(pngs) >= 4
    for png in pngs:
        assert f"]({png.name})" in markdown
        with Image.open(png) as image:
            assert image.format == "PNG" and round(image.info["dpi"][0]) == 150 and image.size[0] >= 1200
    page = open(materialized["html_path"].value).read()
    assert page.count('src="data:image/png;base64,') == len(pngs)
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing fetched from elsewhere
    assert "<style>" in page and "SYNTHETIC DATA" in page and "CC BY 4.0" in page


def test_brief_asset_puts_the_markdown_in_its_metadata(materialized):
    assert isinstance(materialized["brief"], dg.MarkdownMetadataValue)
    assert materialized["brief"].value == open(materialized["markdown_path"].value).read()
    assert materialized["brief"].value.startswith(f"# tokentide weekly brief: week of {LAST}")
    assert materialized["charts"].value >= 4


def test_live_warehouse_has_no_synthetic_banner_and_weeks_are_checked(synthetic, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(synthetic, path)
    with Warehouse(path).writer() as conn:
        conn.execute("update raw.warehouse_info set value = 'live' where key = 'origin'")
    paths = write_report(path, None)  # default: the last complete week
    assert paths["md"] == tmp_path / "reports" / LAST.isoformat() / "brief.md"
    assert "SYNTHETIC" not in paths["md"].read_text() and "SYNTHETIC" not in paths["html"].read_text()
    with pytest.raises(ValueError, match="not a complete week"):
        write_report(path, (LAST + dt.timedelta(weeks=1)).isoformat())
