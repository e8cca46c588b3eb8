"""The results table printed at the end of a run (rich)."""

from __future__ import annotations

import math

from rich.table import Table

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
    table.add_column("configuration", style="bold", no_wrap=True)
    table.add_column("embedder")
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
