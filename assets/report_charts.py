"""The brief's charts: matplotlib on the headless Agg backend, 150 dpi PNGs.

Each function takes the frame the report already read from the marts and writes
one PNG; nothing here queries the warehouse or computes a metric.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display needed on a server or in CI

import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

DPI = 150
# tab10 without its grey, which is kept for the rest and other
PALETTE = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 7] + ["#393b79"]
REST_COLOURS = {"rest of the listed models": "#c7c7c7", "other (unlisted)": "#8c8c8c"}
LABEL_COLOURS = {
    "noise": "#9e9e9e", "insufficient_history": "#d0d0d0",
    "trend_up": "#1a9850", "level_shift_up": "#66bd63", "spike_up": "#a6d96a", "jump_pending": "#fdae61",
    "trend_down": "#d73027", "level_shift_down": "#f46d43", "spike_down": "#fdae61", "spike_reversal": "#7b3294",
}


def _style(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=12, fontweight="bold", loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, facecolor="white")
    plt.close(fig)
    return path


def share_area(shares: pl.DataFrame, path: Path, subtitle: str) -> Path:
    """Stacked area of market share: columns week_start, series, share_pct (series in stack order)."""
    order = list(dict.fromkeys(shares["series"].to_list()))
    wide = shares.pivot(on="series", index="week_start", values="share_pct").sort("week_start").fill_null(0)
    fig, ax = plt.subplots(figsize=(11, 6))
    colours = [REST_COLOURS.get(s, PALETTE[i % len(PALETTE)]) for i, s in enumerate(order)]
    ax.stackplot(wide["week_start"].to_list(), *[wide[s].to_list() for s in order], labels=order,
                 colors=colours, alpha=0.9, linewidth=0.3, edgecolor="white")
    ax.set_ylim(0, 100)
    ax.set_xlim(wide["week_start"].min(), wide["week_start"].max())
    _style(ax, f"Share of weekly tokens: this week's top 10 and the rest\n{subtitle}", "week (Monday start, UTC)",
           "share of all tokens routed (%)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False, reverse=True)
    fig.autofmt_xdate()
    return _save(fig, path)


def effective_number(neff: pl.DataFrame, path: Path, week) -> Path:
    """Effective number of models with its bound band: columns week_start, neff_lower, neff_upper."""
    neff = neff.sort("week_start")
    x = neff["week_start"].to_list()
    fig, ax = plt.subplots(figsize=(11, 5.5))
    ax.fill_between(x, neff["neff_lower"].to_list(), neff["neff_upper"].to_list(), color="#4c72b0", alpha=0.3,
                    label="bounds (the unlisted tail's split is unknown)")
    ax.plot(x, neff["neff_lower"].to_list(), color="#4c72b0", linewidth=1.2, label="lower bound (1 / HHI upper)")
    ax.plot(x, neff["neff_upper"].to_list(), color="#4c72b0", linewidth=1.2, linestyle="--",
            label="upper bound (1 / HHI lower)")
    ax.axvline(week, color="#333333", linewidth=0.8, linestyle=":", label="this week")
    ax.axhline(10, color="#999999", linewidth=0.8, linestyle="-.", label="10 = 'fragmented' threshold (spec §4.3)")
    ax.set_ylim(bottom=0)
    _style(ax, "Effective number of models (1 / HHI), all weeks", "week (Monday start, UTC)",
           "effective number of equal-sized models")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=8, frameon=False)
    fig.autofmt_xdate()
    return _save(fig, path)


def bump(ranks: pl.DataFrame, path: Path, max_rank: int) -> Path:
    """Bump chart: columns week_start, entity_id, rank (this week's top 10, recent weeks)."""
    fig, ax = plt.subplots(figsize=(11, 6))
    last = ranks["week_start"].max()
    finals = ranks.filter(pl.col("week_start") == last).sort("rank")
    for i, entity in enumerate(finals["entity_id"].to_list()):
        one = ranks.filter(pl.col("entity_id") == entity).sort("week_start")
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(one["week_start"].to_list(), one["rank"].to_list(), marker="o", markersize=4, linewidth=2,
                color=colour)
        ax.annotate(f"{finals['rank'][i]}. {entity}", (last, finals["rank"][i]), xytext=(8, 0),
                    textcoords="offset points", va="center", fontsize=8, color=colour)
    ax.set_ylim(max_rank + 0.5, 0.5)
    if max_rank <= 20:
        ax.set_yticks(range(1, max_rank + 1))
    else:  # a top-10 model came from far down the list: fewer, integer ticks
        ax.yaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    _style(ax, "Rank of this week's top 10 over the recent weeks (1 = most tokens)", "week (Monday start, UTC)",
           "rank by weekly tokens")
    ax.margins(x=0.02)
    fig.autofmt_xdate()
    return _save(fig, path)  # tight_layout makes room for the end labels


def growth_vs_z(points: pl.DataFrame, path: Path, label_words: dict[str, str]) -> Path:
    """This week's growth against its z-score: columns entity_id, wow_pct, z, label, share_pct."""
    fig, ax = plt.subplots(figsize=(10, 6))
    for label in sorted(set(points["label"].to_list())):
        one = points.filter(pl.col("label") == label)
        sizes = (one["share_pct"].fill_null(0) * 25 + 15).to_list()
        ax.scatter(one["z"].to_list(), one["wow_pct"].to_list(), s=sizes, alpha=0.8,
                   color=LABEL_COLOURS.get(label, "#555555"), edgecolor="white", linewidth=0.5,
                   label=f"{label} — {label_words.get(label, '')}")
    for z in (-2, 2):
        ax.axvline(z, color="#999999", linewidth=0.8, linestyle="--")
    ax.axhline(0, color="#666666", linewidth=0.6)
    # name the most unusual moves; alternate label offsets so neighbours do not overprint
    top = points.with_columns(pl.col("z").abs().alias("_az")).sort("_az", descending=True).head(5)
    for i, row in enumerate(top.sort("wow_pct").iter_rows(named=True)):
        ax.annotate(row["entity_id"], (row["z"], row["wow_pct"]), xytext=(6, 8 if i % 2 else -12),
                    textcoords="offset points", fontsize=7,
                    arrowprops={"arrowstyle": "-", "color": "#999999", "linewidth": 0.5})
    _style(ax, "This week's growth against how unusual it is for each model\n"
               "(dashed lines: |z| = 2; dot size: market share)",
           "z-score of this week's log growth vs the model's last 8 weeks", "week-over-week change (%)")
    legend = ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False, title="label")
    for handle in legend.legend_handles:
        handle.set_sizes([40])
    return _save(fig, path)
