"""The results table printed at the end of a run (rich)."""

from __future__ import annotations

import math

from rich.table import Table

# Columns shown by default, in the paper's order; other values follow.
PREFERRED = [
    "hitrate",
    "ndcg",
    "hitrate_in",
    "hitrate_out",
    "hardneg",
    "vrc_genre",
    "vrc_artist",
    "coherence_genre",
    "coherence_artist",
]


def format_value(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4f}"


def results_table(configurations: list[dict], title: str = "Results") -> Table:
    """One row per configuration; ``marks`` (per value key) are appended to the figures."""
    keys: list[str] = []
    for row in configurations:
        for key in row.get("metrics", {}):
            if key not in keys:
                keys.append(key)
    ordered = [k for k in PREFERRED if k in keys]
    ordered += [k for k in keys if k not in ordered and not k.endswith(("_in", "_out"))]
    table = Table(title=title)
    table.add_column("configuration", style="bold")
    table.add_column("embedder")
    for key in ordered:
        table.add_column(key, justify="right")
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
