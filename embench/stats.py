"""Significance of differences between configurations: paired t-tests, Bonferroni correction.

Configurations scored on the same split and the same sampled songs yield per-query values that
pair up (next-song hits and NDCG gains, HardNeg shares, coherence shares). A configuration is
*significantly better* than another on a metric when the paired two-sided t-test of the
per-query values, Bonferroni-corrected for the number of tests, gives ``p < alpha`` (default
0.01) and the mean difference points in the metric's direction (``"max"``: higher is better).

The runner writes per-query tables with a ``configuration`` column;
:func:`per_query_arrays` turns one into aligned arrays, :func:`significance_marks` computes the
marks "better than the default" (``*``) and "better than the best single-objective
configuration" (``†``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

BETTER_THAN_DEFAULT = "*"
BETTER_THAN_BEST_SINGLE = "\u2020"


@dataclass(frozen=True)
class TTest:
    """A paired t-test of ``a - b``: statistic, two-sided p, mean difference, pairs used."""

    statistic: float
    p_value: float
    mean_difference: float
    n: int


def paired_t_test(a: np.ndarray, b: np.ndarray) -> TTest:
    """Paired two-sided t-test (``scipy.stats.ttest_rel``) of per-query values ``a`` vs ``b``.

    The arrays must be aligned (same queries in the same order); positions where either is NaN
    are dropped. Identical values (no difference at all) give ``t = 0, p = 1``; a constant
    non-zero difference (up to rounding) gives ``p = 0``. Fewer than two pairs give ``p = NaN``.
    """
    from scipy.stats import ttest_rel

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be aligned 1-D arrays, got {a.shape} and {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    n = int(len(a))
    if n < 2:
        return TTest(float("nan"), float("nan"), float(np.mean(a - b)) if n else float("nan"), n)
    difference = a - b
    mean = float(difference.mean())
    if np.all(difference == 0):
        return TTest(0.0, 1.0, 0.0, n)
    if np.ptp(difference) <= 1e-12 * abs(mean):  # constant up to rounding: no variance
        return TTest(float(np.sign(mean) * np.inf), 0.0, mean, n)
    result = ttest_rel(a, b)
    return TTest(float(result.statistic), float(result.pvalue), mean, n)


def bonferroni(p_values: Sequence[float] | np.ndarray, n_tests: int | None = None) -> np.ndarray:
    """Bonferroni-corrected p-values: ``min(1, p x n_tests)`` (``n_tests`` defaults to the count
    of p-values given; NaN stays NaN)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size if n_tests is None else int(n_tests)
    if m < 1:
        raise ValueError("Bonferroni correction needs at least one test")
    return np.minimum(1.0, p * m)


def is_better(test: TTest, direction: str, p_corrected: float, alpha: float) -> bool:
    """Whether the first configuration is significantly better in ``direction`` (max/min)."""
    if direction not in ("max", "min"):
        raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")
    if not np.isfinite(p_corrected) or p_corrected >= alpha:
        return False
    return test.mean_difference > 0 if direction == "max" else test.mean_difference < 0


def per_query_arrays(
    frame: pd.DataFrame,
    value: str,
    keys: Sequence[str],
    configuration: str = "configuration",
) -> dict[str, np.ndarray]:
    """Aligned per-query arrays of ``value``, one per configuration, from a long table.

    Rows are matched on ``keys`` (e.g. ``["set", "query_song", "target_song"]``); a key that
    repeats is matched by order of occurrence. Only keys present for every configuration are
    kept, in a stable order.
    """
    keys = list(keys)
    data = frame[[configuration, *keys, value]].copy()
    data["_occurrence"] = data.groupby([configuration, *keys], sort=False).cumcount()
    wide = data.pivot_table(
        index=[*keys, "_occurrence"], columns=configuration, values=value, aggfunc="first"
    )
    wide = wide.dropna(how="any") if len(wide.columns) else wide
    return {str(c): wide[c].to_numpy(dtype=np.float64) for c in wide.columns}


def significance_marks(
    per_query: Mapping[str, Mapping[str, np.ndarray]],
    directions: Mapping[str, str],
    *,
    default: str,
    single_objective: Sequence[str] = (),
    alpha: float = 0.01,
    n_tests: int | None = None,
) -> pd.DataFrame:
    """Marks per configuration and metric: better than ``default``, better than the best
    single-objective configuration.

    ``per_query[configuration][metric]`` holds the aligned per-query values of each metric
    (metrics named in ``directions`` with ``"max"``/``"min"``). For every metric, the best
    single-objective configuration is the one of ``single_objective`` with the best mean; every
    other configuration is tested against it and against ``default``. All p-values are
    Bonferroni-corrected by ``n_tests`` (default: the number of tests made in this call).

    Returns one row per (configuration, metric): ``mean``, ``p_default``,
    ``better_than_default``, ``best_single``, ``p_best_single``, ``better_than_best_single``
    (corrected p-values; NaN where no test was made) and ``marks`` (``"*"``, ``"\u2020"``).
    """
    if default not in per_query:
        raise ValueError(f"default configuration '{default}' has no per-query values")
    unknown = [c for c in single_objective if c not in per_query]
    if unknown:
        raise ValueError(f"single-objective configuration(s) {unknown} have no per-query values")
    rows: list[dict[str, Any]] = []
    tests: list[tuple[int, str, TTest]] = []  # (row, kind, test)
    for metric, direction in directions.items():
        if direction not in ("max", "min"):
            raise ValueError(f"metric '{metric}': direction must be 'max' or 'min'")
        if metric not in per_query[default]:
            continue
        means = {
            c: float(np.nanmean(np.asarray(v[metric], dtype=np.float64)))
            for c, v in per_query.items()
            if metric in v and len(v[metric])
        }
        candidates = [c for c in single_objective if c in means and not np.isnan(means[c])]
        best = None
        if candidates:
            best = (max if direction == "max" else min)(candidates, key=lambda c: means[c])
        for configuration, values in per_query.items():
            if metric not in values:
                continue
            row: dict[str, Any] = {
                "configuration": configuration,
                "metric": metric,
                "mean": means.get(configuration, float("nan")),
                "best_single": best,
            }
            rows.append(row)
            if configuration != default:
                test = paired_t_test(values[metric], per_query[default][metric])
                tests.append((len(rows) - 1, "default", test))
            if best is not None and configuration not in (best, default):
                test = paired_t_test(values[metric], per_query[best][metric])
                tests.append((len(rows) - 1, "best_single", test))
    corrected = bonferroni([t.p_value for _, _, t in tests], n_tests) if tests else np.zeros(0)
    for row in rows:
        for kind in ("default", "best_single"):
            row[f"p_{kind}"] = float("nan")
            row[f"better_than_{kind}"] = False
    for (index, kind, test), p in zip(tests, corrected, strict=True):
        row = rows[index]
        row[f"p_{kind}"] = float(p)
        row[f"better_than_{kind}"] = is_better(test, directions[row["metric"]], p, alpha)
    for row in rows:
        row["marks"] = (BETTER_THAN_DEFAULT if row["better_than_default"] else "") + (
            BETTER_THAN_BEST_SINGLE if row["better_than_best_single"] else ""
        )
    columns = [
        "configuration",
        "metric",
        "mean",
        "p_default",
        "better_than_default",
        "best_single",
        "p_best_single",
        "better_than_best_single",
        "marks",
    ]
    return pd.DataFrame(rows, columns=columns)
