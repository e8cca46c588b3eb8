"""``embench compare RUN_A RUN_B``: both runs' metric values side by side, with paired tests.

Configurations are matched by name. A value key gets a paired two-sided t-test (B vs A) when
its metric declares per-query values (``Value.per_query`` and ``Metric.query_keys``), both runs
wrote them, and the runs scored the same queries: the same dataset, split, seed and evaluated
part. The p-values are Bonferroni-corrected over all tests of the comparison; a difference is
marked significant at ``p < alpha`` (default 0.01) in the metric's direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from rich.console import JustifyMethod
from rich.table import Table

from embench.errors import ConfigError, EmbenchError, did_you_mean
from embench.plugins import get_plugin_manager
from embench.report.console import format_value
from embench.report.load import Run, value
from embench.report.sections import table_keys
from embench.stats import bonferroni, paired_t_test, per_query_arrays

PAIRING = ("dataset", "split")  # config.json sections that fix the queries


@dataclass
class MetricInfo:
    """What the metric plugin declares about a value key."""

    metric: str
    direction: str | None
    column: str | None  # its per-query column
    keys: tuple[str, ...]


@dataclass
class Comparison:
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    alpha: float = 0.01


def metric_info(runs: list[Run]) -> tuple[dict[str, MetricInfo], list[str]]:
    """Per value key, the declaring metric (looked up in the installed plugins)."""
    names: list[str] = []
    for run in runs:
        for name in run.config.get("metrics") or {}:
            if name not in names:
                names.append(name)
    notes: list[str] = []
    info: dict[str, MetricInfo] = {}
    try:
        registry = get_plugin_manager().metrics
    except EmbenchError as exc:
        return {}, [f"plugins could not be loaded ({exc}): no directions, no paired tests"]
    for name in names:
        if name not in registry:
            notes.append(f"metric '{name}' is not installed: no direction or paired test")
            continue
        cls = registry.get(name).cls
        for key, declared in cls.values.items():
            info[key] = MetricInfo(
                name, declared.direction, declared.per_query, tuple(cls.query_keys)
            )
    return info, notes


def pairing_problem(a: Run, b: Run) -> str | None:
    """Why the two runs' per-query values do not pair up (None when they do)."""
    differs = [s for s in PAIRING if a.config.get(s) != b.config.get(s)]
    if a.summary.get("seed") != b.summary.get("seed"):
        differs.append("seed")
    if a.summary.get("evaluated_on") != b.summary.get("evaluated_on"):
        differs.append("evaluated part")
    if differs:
        return (
            f"the runs differ in {', '.join(differs)}: they scored different queries, "
            "so no paired tests"
        )
    return None


def paired_values(a: Run, b: Run, configuration: str, info: MetricInfo):
    """Aligned per-query arrays of ``configuration`` in A and in B, or a reason why not."""
    column = info.column
    if column is None:
        return None, "no per-query values"
    frames = []
    for label, run in (("A", a), ("B", b)):
        frame = run.per_query(info.metric)
        if frame is None:
            return None, f"{run.path}/per_query/{info.metric}.parquet is missing"
        missing = [c for c in (column, *info.keys) if c not in frame]
        if missing:
            return None, f"{run.path}/per_query/{info.metric}.parquet lacks {missing}"
        rows = frame[frame["configuration"] == configuration]
        if not len(rows):
            return None, f"no per-query values of '{configuration}' in {run.path}"
        rows = rows.assign(configuration=label)
        frames.append(rows[["configuration", *info.keys, column]])
    arrays = per_query_arrays(pd.concat(frames, ignore_index=True), column, info.keys)
    if set(arrays) != {"A", "B"}:
        return None, "no common queries"
    return arrays, None


def compare_runs(
    a: Run,
    b: Run,
    configurations: list[str] | None = None,
    *,
    alpha: float = 0.01,
    all_keys: bool = False,
) -> Comparison:
    """One row per (configuration, value key) of the configurations both runs have."""
    names_a = [c["name"] for c in a.configurations]
    names_b = [c["name"] for c in b.configurations]
    if configurations:
        for name in configurations:
            for run, names in ((a, names_a), (b, names_b)):
                if name not in names:
                    raise ConfigError(
                        f"{run.path} has no configuration '{name}'{did_you_mean(name, names)}"
                    )
        common = list(configurations)
    else:
        common = [n for n in names_a if n in names_b]
        if not common:
            raise ConfigError(
                f"the runs have no configuration in common: {a.path} has {', '.join(names_a)}; "
                f"{b.path} has {', '.join(names_b)}"
            )
    info, notes = metric_info([a, b])
    problem = pairing_problem(a, b)
    if problem:
        notes.append(problem)
    rows: list[dict[str, Any]] = []
    tests: list[tuple[int, Any]] = []
    for name in common:
        row_a, row_b = a.configuration(name), b.configuration(name)
        present = [r for r in (row_a, row_b) if r.get("status") == "ok"]
        if len(present) < 2:
            bad = [f"{r.get('status')} in {run.path}" for r, run in ((row_a, a), (row_b, b))]
            notes.append(f"configuration '{name}' is not ok in both runs ({'; '.join(bad)})")
        keys = (
            list(dict.fromkeys([*a.value_keys(), *b.value_keys()]))
            if all_keys
            else table_keys([row_a, row_b])
        )
        for key in keys:
            details = info.get(key)
            x_a, x_b = value(row_a, key), value(row_b, key)
            row: dict[str, Any] = {
                "configuration": name,
                "metric": key,
                "direction": details.direction if details else None,
                "a": x_a,
                "b": x_b,
                "difference": x_b - x_a,
                "mean_difference": math.nan,
                "n": 0,
                "p": math.nan,
                "better": "",
                "note": "",
            }
            if details is None or details.column is None:
                row["note"] = "no per-query values"
            elif problem:
                row["note"] = "not paired"
            elif len(present) < 2:
                row["note"] = "not ok in both runs"
            else:
                arrays, why = paired_values(a, b, name, details)
                if arrays is None:
                    row["note"] = why
                else:
                    test = paired_t_test(arrays["B"], arrays["A"])
                    row["n"], row["mean_difference"] = test.n, test.mean_difference
                    tests.append((len(rows), test))
            rows.append(row)
    corrected: list[float] = list(bonferroni([t.p_value for _, t in tests])) if tests else []
    for (index, test), p in zip(tests, corrected, strict=True):
        row = rows[index]
        row["p"] = float(p)
        if math.isfinite(p) and p < alpha and row["direction"] in ("max", "min"):
            b_higher = test.mean_difference > 0
            row["better"] = "B" if b_higher == (row["direction"] == "max") else "A"
    columns = [
        "configuration",
        "metric",
        "direction",
        "a",
        "b",
        "difference",
        "mean_difference",
        "n",
        "p",
        "better",
        "note",
    ]
    if tests:
        notes.append(
            f"{len(tests)} paired t-test(s) of B vs A on per-query values, Bonferroni-corrected; "
            f"'better' at p < {alpha:g}"
        )
    return Comparison(pd.DataFrame(rows, columns=columns), notes, alpha)


def comparison_table(comparison: Comparison, a: Run, b: Run) -> Table:
    table = Table(title=f"A: {a.path}  vs  B: {b.path}")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("configuration", "left"),
        ("metric", "left"),
        ("A", "right"),
        ("B", "right"),
        ("B - A", "right"),
        ("n", "right"),
        ("p (Bonferroni)", "right"),
        ("better", "center"),
        ("note", "left"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for row in comparison.table.itertuples():
        arrow = {"max": " \u2191", "min": " \u2193"}.get(row.direction or "", "")
        p = "-" if math.isnan(row.p) else ("<1e-4" if row.p < 1e-4 else f"{row.p:.4f}")
        difference = "-" if math.isnan(row.difference) else f"{row.difference:+.4g}"
        table.add_row(
            row.configuration,
            row.metric + arrow,
            format_value(row.a),
            format_value(row.b),
            difference,
            str(row.n) if row.n else "-",
            p,
            row.better,
            row.note,
        )
    return table
