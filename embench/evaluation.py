"""Runs the metrics on one embedding, computing the neighbours they declare once, for all.

:func:`evaluate` first checks every metric's song labels, then asks each metric which songs need
neighbours (``Metric.neighbours``), computes the top-k of the union of those songs at the
largest ``k`` in one search, and runs the metrics; each metric may read the neighbours of the
songs it requested only (see :mod:`embench.context`).

The search is the exact kernel, or the benchmark's ``[index]`` (:class:`IndexSearch`: the
index is built once per embedding). An approximate index's recall@k against the exact search
is measured on a seeded sample of the requested songs (:func:`measure_recall`) and reported with
the figures it served (:class:`IndexReport`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from embench import contract
from embench.api import Metric, MetricResult, NeighbourRequest
from embench.context import EvalContext, NeighboursNotRequested
from embench.embedding import ContractError
from embench.errors import DataError, PluginError
from embench.index import IndexChoice, Searcher, recall_at_k
from embench.neighbours import Neighbours, exact_top_k, normalise
from embench.sampling import Estimate, Interval, mean

__all__ = [
    "EvalContext",
    "Evaluation",
    "IndexReport",
    "IndexSearch",
    "evaluate",
    "measure_recall",
]

SCORE_CHUNK = 2048  # query rows whose neighbour scores are computed at once


@dataclass
class IndexReport:
    """How one evaluation's neighbours were searched: the ``[index]`` plugin and options, its
    build and search seconds and, for an approximate index, its recall@``k`` against the exact
    search (with the sample's :class:`~embench.sampling.Interval`) and the value keys computed
    through it (``values``: the figures to read as approximate)."""

    plugin: str
    options: dict[str, Any]
    approximate: bool
    build_seconds: float = 0.0
    search_seconds: float = 0.0
    k: int = 0
    recall: float | None = None
    recall_interval: Interval | None = None
    values: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "plugin": self.plugin,
            "options": self.options,
            "approximate": self.approximate,
            "build_seconds": round(self.build_seconds, 3),
            "search_seconds": round(self.search_seconds, 3),
        }
        if self.recall is not None:
            out["k"] = self.k
            out["recall"] = None if math.isnan(self.recall) else self.recall
            if self.recall_interval is not None:
                out["recall_interval"] = self.recall_interval.to_json()
        if self.approximate:
            out["values"] = list(self.values)
        return out


@dataclass
class Evaluation:
    """Every metric's result on one embedding, with the time each took.

    ``seconds["neighbours"]`` is the shared neighbour search (index build included); a metric's
    seconds include its ``neighbours`` declaration and its ``compute``; ``seconds["recall"]``
    the recall measurement of an approximate index. ``index`` says how neighbours were searched
    (None: the exact kernel, no ``[index]`` given).
    """

    results: dict[str, MetricResult]
    seconds: dict[str, float]
    index: IndexReport | None = None

    @property
    def values(self) -> dict[str, float]:
        merged: dict[str, float] = {}
        for result in self.results.values():
            merged.update(result.values)
        return merged

    @property
    def intervals(self) -> dict[str, Interval]:
        """Every value's :class:`~embench.sampling.Interval` (values without one left out)."""
        merged: dict[str, Interval] = {}
        for result in self.results.values():
            merged.update(result.intervals)
        return merged

    @property
    def approximate(self) -> list[str]:
        """The value keys computed through an approximate neighbour index."""
        return list(self.index.values) if self.index and self.index.approximate else []


class IndexSearch:
    """The neighbour search of one embedding through an ``[index]`` plugin: a
    :data:`~embench.context.TopK` for :class:`EvalContext`. The index is built at the first
    search (on the unit-length vectors) and reused by every later one of the same vectors; its
    answers are checked (:func:`embench.contract.validate_index_rows`)."""

    def __init__(self, choice: IndexChoice, *, seed: int) -> None:
        self.choice = choice
        self.seed = seed
        self.who = f"index '{choice.name}'"
        self.build_seconds = 0.0
        self.search_seconds = 0.0
        self._vectors: np.ndarray | None = None
        self._unit: np.ndarray | None = None
        self._searcher: Searcher | None = None

    def __call__(
        self, vectors: np.ndarray, k: int, *, queries: np.ndarray | None = None, threads: int = 1
    ) -> Neighbours:
        if self._searcher is None or self._vectors is not vectors:
            start = time.perf_counter()
            unit = normalise(vectors)
            instance = self.choice.cls()
            self._searcher = self._plugin(
                "build",
                partial(instance.build, unit, self.choice.options, seed=self.seed, threads=threads),
            )
            self._vectors, self._unit = vectors, unit
            self.build_seconds += time.perf_counter() - start
        assert self._unit is not None and self._searcher is not None
        n = len(self._unit)
        rows = np.arange(n, dtype=np.int64) if queries is None else np.asarray(queries, np.int64)
        start = time.perf_counter()
        found = self._plugin("search", partial(self._searcher.search, rows, k, threads=threads))
        self.search_seconds += time.perf_counter() - start
        try:
            found = contract.validate_index_rows(found, rows, n, k)
        except ContractError as exc:
            raise PluginError(f"{self.who} returned invalid neighbours: {exc}") from exc
        return Neighbours(found, _scores(self._unit, rows, found))

    def _plugin(self, what: str, function: Callable[[], Any]) -> Any:
        try:
            return function()
        except (DataError, PluginError):
            raise
        except Exception as exc:
            raise PluginError(f"{self.who} raised in {what}: {type(exc).__name__}: {exc}") from exc


def _scores(unit: np.ndarray, queries: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Cosine of each query row with each found row (float32; -inf for padding)."""
    scores = np.full(found.shape, -np.inf, dtype=np.float32)
    for start in range(0, len(queries), SCORE_CHUNK):
        block = found[start : start + SCORE_CHUNK]
        q = unit[queries[start : start + SCORE_CHUNK]]
        s = np.einsum("qd,qkd->qk", q, unit[np.maximum(block, 0)])
        scores[start : start + SCORE_CHUNK] = np.where(block >= 0, s, -np.inf)
    return scores


def measure_recall(ctx: EvalContext, request: NeighbourRequest, sample: int) -> Estimate:
    """The recall@k of the neighbours kept in ``ctx`` against the exact search, over a seeded
    sample of at most ``sample`` of the ``request``'s songs (drawn from the songs, so the same
    for every configuration; songs without a vector are left out): per song, the share of its
    exact top-``k`` that the kept neighbours hold; their mean, with its interval."""
    songs = (
        np.arange(ctx.dataset.n_songs, dtype=np.int64) if request.songs is None else request.songs
    )
    chosen = songs[ctx.sample("index.recall", len(songs), sample)]
    chosen = chosen[ctx.rows[chosen] >= 0]
    population = int((ctx.rows[songs] >= 0).sum())
    found = ctx.song_neighbours(chosen, request.k)
    exact_rows = exact_top_k(
        ctx.embedding.vectors, request.k, queries=ctx.rows[chosen], threads=ctx.threads
    ).rows
    exact = np.where(exact_rows >= 0, ctx.embedding.song_index[np.maximum(exact_rows, 0)], -1)
    recall = recall_at_k(found, exact)
    return mean(recall[~np.isnan(recall)], population)


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
    index: IndexChoice | None = None,
) -> Evaluation:
    """Compute each ``(name, metric, options)`` on ``ctx``; a metric that raises names itself.

    ``index``: the benchmark's ``[index]``; neighbours are then searched through it (built once
    for ``ctx``'s embedding), and an approximate index's recall is measured. None keeps
    ``ctx.top_k`` (the exact kernel by default).
    """
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
    search = None
    if index is not None:
        search = IndexSearch(index, seed=ctx.seed)
        ctx.top_k = search
    start = time.perf_counter()
    union = NeighbourRequest.union(requests.values())
    if union is not None:
        ctx.compute_neighbours(union.songs, union.k)
    seconds = {"neighbours": time.perf_counter() - start}
    report = None
    if index is not None and search is not None:
        report = IndexReport(
            index.name,
            index.to_json()["options"],
            index.approximate,
            build_seconds=search.build_seconds,
            search_seconds=search.search_seconds,
        )
        if index.approximate and union is not None:
            start = time.perf_counter()
            recall = measure_recall(ctx, union, index.recall_queries)
            seconds["recall"] = time.perf_counter() - start
            report.k, report.recall = union.k, recall.value
            report.recall_interval = recall.interval()
        report.values = [
            key
            for name, metric, _ in metrics
            if requests[name] is not None
            for key in metric.values
        ]

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
    if report is not None:
        reported = {key for result in results.values() for key in result.values}
        report.values = [key for key in report.values if key in reported]
    return Evaluation(results, seconds, report)
