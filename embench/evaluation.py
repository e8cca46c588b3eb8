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
from functools import partial
from typing import Any

from embench import contract
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
    request = _call(name, " in neighbours()", partial(metric.neighbours, ctx, options))
    return contract.accept_neighbour_request(request, ctx.dataset.n_songs, f"metric '{name}'")


def evaluate(
    ctx: EvalContext,
    metrics: list[tuple[str, Metric, Any]],
    on_metric: Callable[[str], None] | None = None,
) -> Evaluation:
    """Compute each ``(name, metric, options)`` on ``ctx``; a metric that raises names itself."""
    contract.validate_unique_values((name, metric) for name, metric, _ in metrics)
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
    for name, metric, options in metrics:
        if on_metric:
            on_metric(name)
        request = requests[name]
        songs, k = (None, 0) if request is None else (request.songs, request.k)
        start = time.perf_counter()
        with ctx.declared_neighbours(name, songs, k):
            result = _call(name, "", partial(metric.compute, ctx, options))
        seconds[name] = declaring[name] + time.perf_counter() - start
        results[name] = contract.accept_metric_result(result, metric, f"metric '{name}'")
    return Evaluation(results, seconds)
