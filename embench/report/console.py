"""The results table printed at the end of a run, and printing tables whole (rich)."""

from __future__ import annotations

import math

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table

# Widest a table is measured at when it goes to a pipe or a log (no terminal to fit).
UNLIMITED = 100_000


def print_full(renderable: RenderableType, console: Console | None = None) -> None:
    """Print ``renderable`` without cutting a cell: in a terminal at the terminal's width (text
    columns wrap first), and to a pipe or a CI log, which have no width, as wide as it needs."""
    console = console if console is not None else Console(highlight=False)
    if console.is_terminal:
        console.print(renderable)
        return
    width = console.width
    needed = Measurement.get(console, console.options.update_width(UNLIMITED), renderable).maximum
    console.width = max(width, needed)
    try:
        console.print(renderable)
    finally:
        console.width = width


# The columns of the paper's Table 4 plus coherence (every value is in summary.json).
COLUMNS = {
    "hitrate": "HitRate",
    "ndcg": "NDCG",
    "hardneg": "HardNeg",
    "vrc_genre": "VRC genre",
    "vrc_artist": "VRC artist",
    "coherence_genre": "LGC",
    "coherence_artist": "LAC",
}


def format_value(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.4f}"


def results_table(configurations: list[dict], title: str = "Results") -> Table:
    """One row per configuration; ``marks`` (per value key) are appended to the figures."""
    keys: list[str] = []
    for row in configurations:
        for key in row.get("metrics", {}):
            if key not in keys:
                keys.append(key)
    ordered = [k for k in COLUMNS if k in keys]
    table = Table(
        title=title,
        caption="* better than the default, \u2020 than the best single-objective study "
        "(paired t-test, Bonferroni, p < 0.01); LGC/LAC: local genre/artist coherence",
    )
    table.add_column("configuration", style="bold", overflow="fold")
    table.add_column("embedder", overflow="fold")
    for key in ordered:
        table.add_column(COLUMNS[key], justify="right", no_wrap=True)
    table.add_column("train s", justify="right")
    for row in configurations:
        if row.get("status") != "ok":
            error = row.get("error") or row.get("status")
            table.add_row(row["name"], row.get("embedder", ""), f"[red]{error}[/red]")
            continue
        marks = row.get("marks", {})
        cells = [format_value(row["metrics"].get(k)) + marks.get(k, "") for k in ordered]
        table.add_row(row["name"], row["embedder"], *cells, f"{row.get('train_seconds', 0):.1f}")
    return table
