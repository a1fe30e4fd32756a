"""The weekly brief: read the marts, turn them into facts, write Markdown, HTML and PNG charts.

Every number in the brief goes through `Ledger.num`, which formats a mart value
and records where it came from (mart, column, row keys); the text around the
numbers is fixed wording chosen by rules on those values (spec §3.4 labels, §4.3
market shape). So the brief states no fact that is not a mart value, and a test
can re-read each cited value and compare it with what the brief prints.
"""

import base64
import datetime as dt
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from assets import report_charts
from assets.settings import CITATION, LICENCE_NOTE, reports_dir_for
from assets.warehouse import Warehouse

# Plain words for the noise-vs-trend labels (spec §3.4).
LABEL_WORDS = {
    "insufficient_history": "too new to judge",
    "spike_reversal": "the fall-back after last week's spike",
    "spike_up": "a one-off jump that did not stick",
    "spike_down": "a one-off drop that did not stick",
    "trend_up": "a steady multi-week climb",
    "trend_down": "a steady multi-week decline",
    "jump_pending": "a big move this week; wait a week to call it",
    "level_shift_up": "a jump to a new level that held",
    "level_shift_down": "a drop to a new level that held",
    "noise": "within its normal weekly wobble",
}
SHAPE_WORDS = {
    "dominant": "dominant: one model clearly leads",
    "neck and neck": "neck and neck: the top two are within 10 % of each other",
    "fragmented": "fragmented: even the lower bound of the effective number of models is 10 or more",
    "concentrated": "concentrated: a few models hold most of the traffic, none dominates",
}
MOVERS = 5  # gains and falls listed
# the marts the brief reads (it needs them built; the others it does not touch)
MARTS_READ = ("entity_week", "growth", "market_week", "noise_vs_trend", "fragmentation", "segment_leaders",
              "succession")


# -- numbers and where they come from ----------------------------------------------------------------
@dataclass(frozen=True)
class Cited:
    """One number printed in the brief: its text and the mart value it shows."""

    text: str
    kind: str
    table: str
    column: str
    keys: tuple[tuple[str, object], ...]
    value: object


def fmt(value, kind: str) -> str:
    """Format a mart value the way the brief prints it (the test reuses this)."""
    if value is None:
        return "n/a"
    if kind == "tokens":  # 3 significant digits with a unit suffix
        for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= scale:
                return f"{value / scale:.3g}{unit}"
        return f"{value:.0f}"
    if kind == "pct":  # small shares keep two decimals so they do not print as 0.0
        return f"{value:.1f}" if abs(value) >= 1 else f"{value:.2f}"
    if kind == "frac_pct":  # a fraction shown in percent
        return f"{100 * value:.1f}"
    if kind == "signed_pct":
        return f"{value:+.1f}"
    if kind == "pp":
        return f"{value:+.2f}"
    if kind == "pp_abs":
        return f"{value:.2f}"
    if kind == "ratio":
        return f"{value:.2f}"
    if kind == "neff":
        return f"{value:.1f}"
    if kind == "z":
        return f"{value:+.1f}"
    if kind == "p":
        return "< 0.001" if value < 0.001 else f"= {value:.3f}"  # printed as "p < 0.001" / "p = 0.042"
    if kind == "int":
        return f"{int(value):d}"
    raise ValueError(f"unknown number kind {kind!r}")


@dataclass
class Ledger:
    cited: list[Cited] = field(default_factory=list)

    def num(self, value, kind: str, table: str, column: str, **keys) -> str:
        text = fmt(value, kind)
        self.cited.append(Cited(text, kind, table, column, tuple(sorted(keys.items())), value))
        return text


# -- document blocks, rendered to Markdown and HTML ------------------------------------------------------
@dataclass
class Doc:
    blocks: list[tuple] = field(default_factory=list)

    def h(self, level: int, text: str):
        self.blocks.append(("h", level, text))

    def p(self, text: str):
        self.blocks.append(("p", text))

    def note(self, text: str):
        self.blocks.append(("note", text))

    def ul(self, items: list[str]):
        if items:
            self.blocks.append(("ul", items))

    def table(self, header: list[str], rows: list[list[str]]):
        if rows:
            self.blocks.append(("table", header, rows))

    def img(self, alt: str, path: Path):
        self.blocks.append(("img", alt, path))

    def markdown(self) -> str:
        out = []
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                out.append("#" * block[1] + " " + block[2])
            elif kind == "p":
                out.append(block[1])
            elif kind == "note":
                out.append("> " + block[1])
            elif kind == "ul":
                out.append("\n".join(f"- {item}" for item in block[1]))
            elif kind == "table":
                header, rows = block[1], block[2]
                lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(row) + " |" for row in rows]
                out.append("\n".join(lines))
            elif kind == "img":
                out.append(f"![{block[1]}]({block[2].name})")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        body = []
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                body.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
            elif kind == "p":
                body.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "note":
                body.append(f'<div class="note">{_inline(block[1])}</div>')
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{_inline(h)}</th>" for h in block[1])
                rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                               for row in block[2])
                body.append(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>'
                            "</table></div>")
            elif kind == "img":
                data = base64.b64encode(block[2].read_bytes()).decode()
                body.append(f'<figure><img alt="{html.escape(block[1])}" src="data:image/png;base64,{data}">'
                            f"<figcaption>{html.escape(block[1])}</figcaption></figure>")
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
                f"<body><main>{''.join(body)}</main></body></html>\n")


CSS = """
body{margin:0;background:#f6f7f9;color:#1d2430;font:16px/1.55 -apple-system,BlinkMacSystemFont,"Segoe UI",
Roboto,Helvetica,Arial,sans-serif}
main{max-width:980px;margin:0 auto;padding:24px 32px 48px;background:#fff;box-shadow:0 0 12px rgba(0,0,0,.06)}
h1{font-size:1.7em;margin:.4em 0 .2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #e3e6ea;
padding-bottom:.2em}
code{font:.88em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f0f2f5;padding:1px 4px;
border-radius:3px}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em;width:100%}
th,td{border-bottom:1px solid #e3e6ea;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5}tbody tr:nth-child(even){background:#fafbfc}
.note{border-left:4px solid #c8a400;background:#fff8d6;padding:8px 12px;margin:1em 0}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #e3e6ea}
figcaption{font-size:.85em;color:#5a6472}
.scroll{overflow-x:auto}td code{overflow-wrap:anywhere}
"""


def _inline(text: str) -> str:
    """Markdown's inline `code` and **bold** as HTML (everything else escaped)."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) >= 2:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(part)))
    return "".join(out)


# -- reading the marts ---------------------------------------------------------------------------------
def _frame(conn, sql: str, params: list | None = None) -> pl.DataFrame:
    cur = conn.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return pl.DataFrame(cur.fetchall(), schema=names, orient="row", infer_schema_length=None)


def _one(conn, sql: str, params: list | None = None) -> dict | None:
    rows = _frame(conn, sql, params)
    return rows.row(0, named=True) if rows.height else None


def _columns(conn, table: str) -> set[str]:
    schema, name = table.split(".")
    return {r[0] for r in conn.execute(
        "select column_name from duckdb_columns() where schema_name = ? and table_name = ?", [schema, name]
    ).fetchall()}


def default_week(conn) -> dt.date:
    """The last complete week the marts hold."""
    week = conn.execute("select max(week_start) from mart.entity_week").fetchall()[0][0]
    if week is None:
        raise ValueError("the warehouse has no complete week yet; run `tokentide backfill` or `tokentide demo`")
    return week


def _wk(conn, week: dt.date) -> int:
    return conn.execute("select any_value(wk) from mart.entity_week where week_start = ?", [week]).fetchall()[0][0]


# -- the brief -------------------------------------------------------------------------------------------
def build_brief(conn: duckdb.DuckDBPyConnection, week: dt.date, out_dir: Path) -> tuple[Doc, Ledger]:
    """Facts of `week` from the marts as a document (charts written to `out_dir`) and its ledger."""
    led = Ledger()
    doc = Doc()
    wk = _wk(conn, week)
    if wk is None:
        weeks = conn.execute("select min(week_start), max(week_start) from mart.entity_week").fetchall()[0]
        raise ValueError(f"week {week} is not a complete week in the warehouse (complete weeks: {weeks[0]} .. "
                         f"{weeks[1]})")
    as_of = conn.execute("select max(as_of) from core.market_week where week_start = ?", [week]).fetchall()[0][0]
    origin = conn.execute("select max(value) from raw.warehouse_info where key = 'origin'").fetchall()[0][0]
    as_of_text = as_of.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if as_of else "unknown"
    citation = CITATION.format(as_of=as_of_text) + ". " + LICENCE_NOTE

    doc.h(1, f"tokentide weekly brief: week of {week:%Y-%m-%d}")
    if origin == "synthetic":
        doc.note("**SYNTHETIC DATA.** This warehouse was filled by `tokentide demo` from a simulated market. "
                 "Every model, number and trend below is made up; nothing here describes OpenRouter's real traffic.")
    doc.p(f"Week {week:%Y-%m-%d} to {week + dt.timedelta(days=6):%Y-%m-%d} (Monday to Sunday, UTC). {citation}")

    _market_section(conn, doc, led, week, wk)
    _concentration_section(conn, doc, led, week, wk)
    _movers_section(conn, doc, led, week)
    _segments_section(conn, doc, led, week)
    _succession_section(conn, doc, led, week)
    _charts_section(conn, doc, week, wk, out_dir)

    doc.h(2, "Source and licence")
    doc.p(citation)
    doc.p("Written by tokentide from its marts (`mart.*` tables of the DuckDB warehouse); every number above is a "
          "value of those tables. Token counts use each provider's own tokenizer and count public traffic only.")
    return doc, led


def _market_section(conn, doc: Doc, led: Ledger, week, wk) -> None:
    doc.h(2, "What this measures")
    mw_cols = _columns(conn, "mart.market_week")
    # market columns repeat on every entity row; the leader's row (rank 1) is the one cited
    key = {"week_start": week, "level": "model", "rank": 1}
    ew = _one(conn, "select total_tokens, other_tokens, listed_models from mart.entity_week "
                    "where week_start = ? and level = 'model' and rank = 1", [week])
    total = led.num(ew["total_tokens"], "tokens", "mart.entity_week", "total_tokens", **key)
    listed = led.num(ew["listed_models"], "int", "mart.entity_week", "listed_models", **key)
    other = led.num(ew["other_tokens"], "tokens", "mart.entity_week", "other_tokens", **key)
    text = (f"The figures count tokens (prompt plus completion) that public traffic routed through OpenRouter: "
            f"routing volume on one router, not model quality and not the AI market as a whole. "
            f"This week **{total} tokens** were routed; the {listed} listed models are named and "
            f"{other} went to models outside the list (`other`).")
    if {"wow_pct", "week_start"} <= mw_cols:
        mw = _one(conn, "select * from mart.market_week where week_start = ?", [week])
        if mw and mw.get("wow_pct") is not None:
            text += (f" The total changed by {led.num(mw['wow_pct'], 'signed_pct', 'mart.market_week', 'wow_pct', week_start=week)} % "
                     "on the week before.")
        trend = _market_trend(led, mw, week) if mw else None
        if trend:
            text += " " + trend
    doc.p(text)


def _market_trend(led: Ledger, mw: dict, week) -> str | None:
    p, sen = mw.get("mk_p_12w"), mw.get("sen_weekly_pct_12w")
    if p is None or sen is None:
        return None
    p_text = led.num(p, "p", "mart.market_week", "mk_p_12w", week_start=week)
    sen_text = led.num(sen, "signed_pct", "mart.market_week", "sen_weekly_pct_12w", week_start=week)
    # the mart's own verdict when it has one (MK p < 0.05 with the sign of Sen's slope)
    verdict = mw.get("trend_verdict_12w") or (
        ("growing" if sen > 0 else "shrinking") if p < 0.05 else "no clear trend")
    words = {"growing": "is **growing**", "shrinking": "is **shrinking**"}.get(
        verdict, f"shows **{verdict}**")
    text = (f"Over the last 12 weeks the total {words} (Mann-Kendall p {p_text}; Sen's slope "
            f"{sen_text} % a week")
    if mw.get("hamed_rao_p_12w") is not None:
        text += (f"; p {led.num(mw['hamed_rao_p_12w'], 'p', 'mart.market_week', 'hamed_rao_p_12w', week_start=week)}"
                 " after correcting for week-to-week autocorrelation")
    return text + ")."


def _concentration_section(conn, doc: Doc, led: Ledger, week, wk) -> None:
    doc.h(2, "How close is the top?")
    rows = _frame(conn, "select * from mart.fragmentation where level = 'model' and wk in (?, ?, ?)",
                  [wk, wk - 4, wk - 12])
    by_wk = {r["wk"]: r for r in rows.iter_rows(named=True)}
    now = by_wk.get(wk)
    if now is None:
        doc.p("No concentration figures for this week.")
        return

    def cite(row, column, kind):
        if row is None:
            return "n/a"
        return led.num(row[column], kind, "mart.fragmentation", column, week_start=row["week_start"], level="model")

    shape = now["market_shape"]
    leader = now["leader_id"]
    doc.p(f"The market is **{SHAPE_WORDS.get(shape, shape)}**. The leader `{leader}` has "
          f"{cite(now, 'cr1', 'frac_pct')} % of all tokens, {cite(now, 'leader_ratio', 'ratio')} times the "
          f"runner-up ({cite(now, 'leader_gap_pp', 'pp_abs')} pp ahead); the top 3 hold "
          f"{cite(now, 'cr3', 'frac_pct')} % and the top 5 {cite(now, 'cr5', 'frac_pct')} %. The traffic is spread "
          f"like {cite(now, 'neff_lower', 'neff')} to {cite(now, 'neff_upper', 'neff')} equal-sized models "
          f"(the effective number; a range because the split of `other` is unknown).")
    header = ["", "this week", "4 weeks ago", "12 weeks ago"]
    then = [now, by_wk.get(wk - 4), by_wk.get(wk - 12)]
    table = [
        ["week"] + [str(r["week_start"]) if r else "no data" for r in then],
        ["leader"] + [f"`{r['leader_id']}`" if r else "n/a" for r in then],
        ["leader share (%)"] + [cite(r, "cr1", "frac_pct") for r in then],
        ["leader / runner-up (×)"] + [cite(r, "leader_ratio", "ratio") for r in then],
        ["gap to runner-up (pp)"] + [cite(r, "leader_gap_pp", "pp_abs") for r in then],
        ["top 3 share, CR3 (%)"] + [cite(r, "cr3", "frac_pct") for r in then],
        ["top 5 share, CR5 (%)"] + [cite(r, "cr5", "frac_pct") for r in then],
        ["effective number of models (bounds)"] + [
            f"{cite(r, 'neff_lower', 'neff')} to {cite(r, 'neff_upper', 'neff')}" if r else "n/a" for r in then],
        ["HHI band, DOJ 2023 (lower / upper bound)"] + [
            f"{r['doj2023_band_lower'].replace('_', ' ')} / {r['doj2023_band_upper'].replace('_', ' ')}"
            if r else "n/a" for r in then],
        ["shape (spec §4.3)"] + [r["market_shape"] if r else "n/a" for r in then],
    ]
    doc.table(header, table)
    doc.p("Shares are of all tokens routed, `other` included. The HHI bands are the DOJ merger-screening thresholds, "
          "used as a descriptive yardstick only: one router's traffic is not an antitrust market.")


def _label(label: str | None) -> str:
    return f"{label} ({LABEL_WORDS[label]})" if label in LABEL_WORDS else (label or "no label")


def _movers_section(conn, doc: Doc, led: Ledger, week) -> None:
    doc.h(2, "Movers")
    moves = _frame(conn, """
        select g.entity_id, g.status, g.rank, g.share_pct, g.wow_pct, g.share_change_pp,
               g.wow_lower_bound_pct, g.wow_upper_bound_pct, n.z, n.label
        from mart.growth as g
        left join mart.noise_vs_trend as n using (week_start, level, entity_id)
        where g.level = 'model' and g.week_start = ?""", [week])

    def cite_g(row, column, kind):
        return led.num(row[column], kind, "mart.growth", column, week_start=week, level="model",
                       entity_id=row["entity_id"])

    def cite_n(row, column, kind):
        return led.num(row[column], kind, "mart.noise_vs_trend", column, week_start=week, level="model",
                       entity_id=row["entity_id"])

    continuing = moves.filter((pl.col("status") == "continuing") & pl.col("share_change_pp").is_not_null())
    for title, frame in (
        ("Largest gains in market share", continuing.filter(pl.col("share_change_pp") > 0)
         .sort("share_change_pp", descending=True).head(MOVERS)),
        ("Largest falls in market share", continuing.filter(pl.col("share_change_pp") < 0)
         .sort("share_change_pp").head(MOVERS)),
    ):
        rows = [[f"`{r['entity_id']}`", cite_g(r, "share_pct", "pct"), cite_g(r, "share_change_pp", "pp"),
                 cite_g(r, "wow_pct", "signed_pct"),
                 cite_n(r, "z", "z") if r["z"] is not None else "n/a", _label(r["label"])]
                for r in frame.iter_rows(named=True)]
        if rows:
            doc.h(3, title)
            doc.table(["model", "share (%)", "change (pp)", "tokens WoW (%)", "z", "trend or noise?"], rows)

    entrants = moves.filter(pl.col("status").is_in(["new_entry", "re_entry"])).sort("rank")
    exits = moves.filter(pl.col("status") == "exited").sort("entity_id")
    items = []
    if entrants.height:
        items.append("**Entered the list:** " + ", ".join(
            f"`{r['entity_id']}` (rank {cite_g(r, 'rank', 'int')}, {cite_g(r, 'share_pct', 'pct')} %"
            + (", back after a gap" if r["status"] == "re_entry" else "") + ")"
            for r in entrants.iter_rows(named=True)) + ".")
    else:
        items.append("**Entered the list:** none.")
    if exits.height:
        items.append("**Left the list:** " + ", ".join(f"`{r['entity_id']}`" for r in exits.iter_rows(named=True))
                     + "; a model that leaves the list fell below the last listed one, it did not necessarily stop.")
    else:
        items.append("**Left the list:** none.")
    # flat: the label says normal wobble and the move is small (under 5 % either way)
    flat = moves.filter((pl.col("rank") <= 10) & (pl.col("label") == "noise") & (pl.col("wow_pct").abs() < 5)
                        ).sort("rank")
    if flat.height:
        items.append("**Flat in the top 10** (within the model's normal weekly wobble, under five percent either way): "
                     + ", ".join(f"`{r['entity_id']}` ({cite_g(r, 'wow_pct', 'signed_pct')} %)"
                                 for r in flat.iter_rows(named=True)) + ".")
    doc.ul(items)
    doc.p("Trend or noise: z compares this week's growth with the model's own last 8 weeks; |z| of 2 or more is a "
          "real jump, a trend needs a significant Mann-Kendall test over 8 weeks that is not one jump (spec §3).")


def _segments_section(conn, doc: Doc, led: Ledger, week) -> None:
    doc.h(2, "Who wins each use case")
    segs = _frame(conn, "select * from mart.segment_leaders where week_start = ? "
                        "order by case segment_type when 'category' then 1 when 'modality' then 2 else 3 end, "
                        "total_tokens desc", [week])
    if not segs.height:
        doc.p("No use-case segment data for this week.")
        return

    def cite(r, column, kind):
        return led.num(r[column], kind, "mart.segment_leaders", column, week_start=week,
                       segment_type=r["segment_type"], segment=r["segment"])

    rows = []
    for r in segs.iter_rows(named=True):
        name = "free tier (`:free` models)" if r["segment_type"] == "price_tier" else (
            f"{r['segment']} ({r['segment_type']}" + (", estimate)" if r["is_estimate"] else ")"))
        ratio = cite(r, "leader_ratio", "ratio") if r["runner_up_id"] else "n/a"
        neff = f"{cite(r, 'neff_lower', 'neff')} to {cite(r, 'neff_upper', 'neff')}"
        rows.append([name, f"`{r['leader_id']}`", cite(r, "leader_share_pct", "pct"),
                     f"`{r['runner_up_id']}`" if r["runner_up_id"] else "none", ratio, neff,
                     f"{cite(r, 'leader_weeks_4w', 'int')} of 4"])
    doc.table(["segment", "leader", "leader share (%)", "runner-up", "leader / runner-up (×)",
               "effective number of models", "weeks led (last 4)"], rows)
    doc.p("Categories come from a classified sample of requests that OpenRouter scales up, so they are estimates; "
          "modalities are exact. The free tier's shares are of the listed `:free` models only (free models in "
          "`other` are unknown).")


def _succession_section(conn, doc: Doc, led: Ledger, week) -> None:
    doc.h(2, "Successions")
    rows = _frame(conn, "select * from mart.succession where week_start = ? "
                        "order by newer_share_change_4w_pp desc", [week])
    if not rows.height:
        doc.p("No author's newer model is taking over an older one's traffic this week (rule in the README, "
              "\"Succession rule\").")
        return

    def cite(r, column, kind):
        return led.num(r[column], kind, "mart.succession", column, week_start=week, author=r["author"])

    items = []
    for r in rows.iter_rows(named=True):
        if r["newer_entered_since"]:
            newer = (f"entered the list within 4 weeks and now has {cite(r, 'newer_share_pct', 'pct')} % "
                     f"(at least {cite(r, 'newer_share_change_4w_pp', 'pp')} pp)")
        else:
            newer = (f"went from {cite(r, 'newer_share_pct_4w_ago', 'pct')} % to {cite(r, 'newer_share_pct', 'pct')} % "
                     f"({cite(r, 'newer_share_change_4w_pp', 'pp')} pp)")
        items.append(f"**{r['author']}**: `{r['newer_model']}` {newer}, while `{r['older_model']}` changed "
                     f"{cite(r, 'older_growth_4w_pct', 'signed_pct')} % in tokens (share "
                     f"{cite(r, 'older_share_pct_4w_ago', 'pct')} % to {cite(r, 'older_share_pct', 'pct')} %).")
    doc.ul(items)
    doc.p("Over the last 4 weeks; \"newer\" by the catalogue's creation date, else by the first week listed.")


def _charts_section(conn, doc: Doc, week, wk, out_dir: Path) -> None:
    doc.h(2, "Charts")
    recent = _frame(conn, """
        with top as (select entity_id from mart.entity_week
                     where level = 'model' and week_start = ? and rank <= 10)
        select e.week_start, e.entity_id, e.rank, e.share_pct
        from mart.entity_week as e join top using (entity_id)
        where e.level = 'model' and e.wk between ? and ?""", [week, wk - 25, wk])
    market = _frame(conn, """
        select week_start, any_value(100.0 * other_tokens / total_tokens) as other_pct, sum(share_pct) as listed_pct
        from mart.entity_week where level = 'model' and wk between ? and ? group by week_start""", [wk - 25, wk])
    top_order = recent.filter(pl.col("week_start") == week).sort("rank")["entity_id"].to_list()
    top_sum = recent.group_by("week_start").agg(pl.col("share_pct").sum().alias("top_pct"))
    rest = market.join(top_sum, on="week_start", how="left").with_columns(pl.col("top_pct").fill_null(0))
    shares = pl.concat([
        rest.select("week_start", pl.lit("other (unlisted)").alias("series"), pl.col("other_pct").alias("share_pct")),
        rest.select("week_start", pl.lit("rest of the listed models").alias("series"),
                    (pl.col("listed_pct") - pl.col("top_pct")).alias("share_pct")),
        *[recent.filter(pl.col("entity_id") == m).select("week_start", pl.lit(m).alias("series"), "share_pct")
          for m in reversed(top_order)],
    ])
    paths = {}
    paths["share_area"] = report_charts.share_area(
        shares, out_dir / "share_top10_26w.png", "last 26 weeks; models = this week's top 10")
    neff = _frame(conn, "select week_start, neff_lower, neff_upper from mart.fragmentation where level = 'model'")
    paths["neff"] = report_charts.effective_number(neff, out_dir / "effective_models.png", week)
    bump = recent.filter(pl.col("week_start") >= week - dt.timedelta(weeks=11))
    paths["bump"] = report_charts.bump(bump, out_dir / "bump_top10.png", max(10, int(bump["rank"].max() or 10)))
    points = _frame(conn, """
        select g.entity_id, g.wow_pct, n.z, n.label, g.share_pct
        from mart.growth as g join mart.noise_vs_trend as n using (week_start, level, entity_id)
        where g.level = 'model' and g.week_start = ? and n.z is not null and g.wow_pct is not null""", [week])
    if points.height:
        paths["growth_z"] = report_charts.growth_vs_z(points, out_dir / "growth_vs_z.png", LABEL_WORDS)
    captions = {
        "share_area": "Share of all tokens: this week's top 10 models, the rest of the list and `other`, last 26 weeks",
        "neff": "Effective number of models with its bounds, every week in the warehouse",
        "bump": "Ranks of this week's top 10 over the last 12 weeks",
        "growth_z": "This week's growth against its z-score, coloured by the trend-or-noise label",
    }
    for key, path in paths.items():
        doc.img(captions[key], path)


# -- entry point -------------------------------------------------------------------------------------------
def write_report(db: Path, week: str | None = None) -> dict[str, Path]:
    """Write `<db dir>/reports/<week_start>/brief.md`, a self-contained `brief.html` and the chart PNGs.

    `week` is a Monday (YYYY-MM-DD); default: the last complete week in the marts.
    Returns {"md", "html", "dir", <chart name>: path}.
    """
    with Warehouse(db).reader() as conn:
        day = dt.date.fromisoformat(week) if week else default_week(conn)
        out_dir = reports_dir_for(db) / day.isoformat()
        out_dir.mkdir(parents=True, exist_ok=True)
        doc, ledger = build_brief(conn, day, out_dir)
    md_path, html_path = out_dir / "brief.md", out_dir / "brief.html"
    md_path.write_text(doc.markdown())
    html_path.write_text(doc.html(f"tokentide weekly brief: week of {day}"))
    paths = {"md": md_path, "html": html_path, "dir": out_dir}
    paths.update({b[2].stem: b[2] for b in doc.blocks if b[0] == "img"})
    return paths

