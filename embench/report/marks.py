"""Significance marks of the results table: paired t-tests on per-query values, Bonferroni."""

from __future__ import annotations

import pandas as pd

from embench.stats import per_query_arrays, significance_marks


def default_name(rows: list[dict]) -> str | None:
    """The configuration the others are compared with: 'default', else the first one."""
    names = [r["name"] for r in rows if r["status"] == "ok"]
    if not names:
        return None
    return "default" if "default" in names else names[0]


def compute_marks(
    rows: list[dict],
    per_query: dict[str, pd.DataFrame],
    metrics: list,
    single_objective: list[str],
    alpha: float = 0.01,
) -> dict[str, dict[str, str]]:
    """``{configuration: {value_key: marks}}`` from the per-query tables of each metric.

    ``*``: significantly better than the default; ``†``: better than the best configuration
    of a single-objective study (p < ``alpha``, Bonferroni-corrected over all tests made).
    """
    default = default_name(rows)
    ok = {r["name"] for r in rows if r["status"] == "ok"}
    if default is None or len(ok) < 2:
        return {}

    values: dict[str, dict] = {name: {} for name in ok}
    directions: dict[str, str] = {}
    for name, metric, _ in metrics:
        frame = per_query.get(name)
        columns = {k: v for k, v in metric.values.items() if v.per_query is not None}
        if frame is None or not columns:
            continue
        frame = frame[frame["configuration"].isin(ok)]
        for key, declared in columns.items():
            if declared.per_query not in frame:
                continue
            arrays = per_query_arrays(frame, declared.per_query, list(metric.query_keys))
            for configuration, array in arrays.items():
                values[configuration][key] = array
            directions[key] = declared.direction
    if not directions:
        return {}
    singles = [s for s in single_objective if s in ok]
    table = significance_marks(
        values, directions, default=default, single_objective=singles, alpha=alpha
    )
    marks: dict[str, dict[str, str]] = {}
    for row in table.itertuples():
        if row.marks:
            marks.setdefault(row.configuration, {})[row.metric] = row.marks
    return marks
