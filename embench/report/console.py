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


APPROXIMATE = "\u2248"  # marks a figure computed through an approximate neighbour index


def sampled_interval(row: dict, key: str) -> dict | None:
    """The ``{n, population, low, high}`` of a *sampled* figure of ``row`` (None: exact)."""
    interval = (row.get("intervals") or {}).get(key)
    if not interval or interval.get("n", 0) >= interval.get("population", 0):
        return None
    return interval


def is_approximate(row: dict, key: str) -> bool:
    """Whether ``row``'s figure ``key`` was computed through an approximate index."""
    index = row.get("index") or {}
    return bool(index.get("approximate")) and key in (index.get("values") or [])


def format_figure(row: dict, key: str) -> str:
    """The figure as the tables show it: ``\u22480.1234 \u00b10.0016`` (approximate, with
    the half-width of the 95% interval of a sampled figure)."""
    text = format_value((row.get("metrics") or {}).get(key))
    interval = sampled_interval(row, key)
    if interval is not None and interval.get("low") is not None and text != "-":
        text += f" \u00b1{format_value((interval['high'] - interval['low']) / 2)}"
    return (APPROXIMATE if is_approximate(row, key) else "") + text


def _count(values: list[int]) -> str:
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def precision_notes(configurations: list[dict], keys: list[str]) -> list[str]:
    """One line per sampled figure among ``keys`` (its sample size of its population) and per
    approximate index (its recall@k against the exact search)."""
    notes = []
    for key in keys:
        intervals = [i for r in configurations if (i := sampled_interval(r, key))]
        if intervals:
            n = _count([i["n"] for i in intervals])
            population = _count([i["population"] for i in intervals])
            notes.append(f"{COLUMNS.get(key, key)}: sampled, n = {n} of {population}")
    recalls: dict[str, list[dict]] = {}
    for row in configurations:
        index = row.get("index") or {}
        if index.get("approximate") and index.get("recall") is not None:
            recalls.setdefault(index["plugin"], []).append(index)
    for plugin, indexes in recalls.items():
        values = [i["recall"] for i in indexes]
        shown = f"{min(values):.3f}" + (f"-{max(values):.3f}" if max(values) > min(values) else "")
        notes.append(
            f"{APPROXIMATE} approximate neighbours (index '{plugin}'): recall@{indexes[0]['k']} "
            f"{shown} against the exact search"
        )
    return notes


STUDY_OUTCOMES = {
    "default": "no trial beat the default on validation: its result is the default",
    "no_feasible_trial": "no feasible trial: its result is the default",
}


def results_table(
    configurations: list[dict], title: str = "Results", studies: dict | None = None
) -> Table:
    """One row per configuration; ``marks`` (per value key) are appended to the figures, a
    sampled figure shows the half-width of its 95% interval, an approximate one a leading
    \u2248 (the caption says how many queries each sampled figure scored, and the index's
    recall). ``studies`` (``summary.json``'s): a study whose search found nothing better than
    the default says so in the caption (its row is the default configuration retrained)."""
    keys: list[str] = []
    for row in configurations:
        for key in row.get("metrics", {}):
            if key not in keys:
                keys.append(key)
    ordered = [k for k in COLUMNS if k in keys]
    notes = precision_notes(configurations, ordered)
    caption = (
        "* better than the default, \u2020 than the best single-objective study "
        "(paired t-test, Bonferroni, p < 0.01); LGC/LAC: local genre/artist coherence"
    )
    if notes:
        caption += "; \u00b1: half-width of the 95% interval of a sampled figure\n" + "\n".join(
            notes
        )
    for name, study in (studies or {}).items():
        said = STUDY_OUTCOMES.get((study or {}).get("outcome") or "")
        if said:
            caption += f"\nstudy {name}: {said}"
    table = Table(title=title, caption=caption)
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
        cells = [format_figure(row, k) + marks.get(k, "") for k in ordered]
        table.add_row(row["name"], row["embedder"], *cells, f"{row.get('train_seconds', 0):.1f}")
    return table
