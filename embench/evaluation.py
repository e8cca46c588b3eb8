"""Runs the metrics on one embedding, computing the neighbours they declare once, for all.

:func:`evaluate` first checks every metric's song labels, then asks each metric which songs need
neighbours (``Metric.neighbours``), computes the exact top-k of the union of those songs at the
largest ``k`` in one search, and runs the metrics; each metric may read the neighbours of the
songs it requested only (see :mod:`embench.context`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from embench.api import Metric, MetricResult, NeighbourRequest
from embench.context import EvalContext, NeighboursNotRequested
from embench.errors import DataError, PluginError

__all__ = ["EvalContext", "Evaluation", "evaluate"]


@dataclass
class Evaluation:
    """Every metric's result on one embedding, with the time each took.

    ``seconds["neighbours"]`` is the shared neighbour search; a metric's seconds include its
    ``neighbours`` declaration and its ``compute``.
    """

    results: dict[str, MetricResult]
    seconds: dict[str, float]

    @property
    def values(self) -> dict[str, float]:
        merged: dict[str, float] = {}
        for result in self.results.values():
            merged.update(result.values)
        return merged


def _call(name: str, what: str, function: Callable[[], Any]) -> Any:
    """Run a metric's method; an unexpected exception becomes a PluginError naming the metric."""
    try:
        return function()
    except (DataError, PluginError):
        raise
    except NeighboursNotRequested as exc:  # names the metric already
        raise PluginError(str(exc)) from exc
    except Exception as exc:
        raise PluginError(f"metric '{name}' raised{what}: {type(exc).__name__}: {exc}") from exc


def neighbour_request(
    name: str, metric: Metric, options: Any, ctx: EvalContext
) -> NeighbourRequest | None:
    """The metric's declared neighbour request, checked against the catalogue."""
    request = _call(name, " in neighbours()", lambda: metric.neighbours(ctx, options))
    if request is None:
        return None
    if not isinstance(request, NeighbourRequest):
        raise PluginError(
            f"metric '{name}': neighbours() returned {type(request).__name__}, "
            "not a NeighbourRequest or None"
        )
    songs, n = request.songs, ctx.dataset.n_songs
    if songs is not None and len(songs) and (songs[0] < 0 or songs[-1] >= n):
        bad = songs[0] if songs[0] < 0 else songs[-1]
        raise PluginError(
            f"metric '{name}': neighbours() requested song index {bad}, outside the catalogue "
            f"of {n} songs"
        )
    return request


def check_values(name: str, metric: Metric, result: Any, seen_keys: dict[str, str]) -> None:
    """A metric's result against its declaration (value keys, numbers, unique keys)."""
    if not isinstance(result, MetricResult):
        raise PluginError(f"metric '{name}' returned {type(result).__name__}, not a MetricResult")
    for key, value in result.values.items():
        if key not in metric.values:
            raise PluginError(
                f"metric '{name}' reported '{key}', which its `values` does not declare"
            )
        if key in seen_keys:
            raise PluginError(f"metrics '{seen_keys[key]}' and '{name}' both report '{key}'")
        seen_keys[key] = name
        if not isinstance(value, (int, float, np.floating, np.integer)):
            raise PluginError(f"metric '{name}' reported a non-number for '{key}': {value!r}")


def evaluate(
    ctx: EvalContext,
    metrics: list[tuple[str, Metric, Any]],
    on_metric: Callable[[str], None] | None = None,
) -> Evaluation:
    """Compute each ``(name, metric, options)`` on ``ctx``; a metric that raises names itself."""
    for name, metric, _ in metrics:
        for column in metric.requires:
            if not ctx.dataset.has_labels(column):
                raise DataError(
                    f"metric '{name}' needs a '{column}' label on songs, "
                    f"but dataset '{ctx.dataset.name}' has none"
                )
    requests: dict[str, NeighbourRequest | None] = {}
    declaring: dict[str, float] = {}
    for name, metric, options in metrics:
        start = time.perf_counter()
        requests[name] = neighbour_request(name, metric, options, ctx)
        declaring[name] = time.perf_counter() - start
    start = time.perf_counter()
    union = NeighbourRequest.union(requests.values())
    if union is not None:
        ctx.compute_neighbours(union.songs, union.k)
    seconds = {"neighbours": time.perf_counter() - start}

    results: dict[str, MetricResult] = {}
    seen_keys: dict[str, str] = {}
    for name, metric, options in metrics:
        if on_metric:
            on_metric(name)
        request = requests[name]
        songs, k = (None, 0) if request is None else (request.songs, request.k)
        start = time.perf_counter()
        with ctx.declared_neighbours(name, songs, k):
            result = _call(name, "", lambda m=metric, o=options: m.compute(ctx, o))
        seconds[name] = declaring[name] + time.perf_counter() - start
        check_values(name, metric, result, seen_keys)
        results[name] = result
    return Evaluation(results, seconds)
