"""Runs the metrics on one embedding, sharing one exact neighbour index between them."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embench.api import Embedding, Metric, MetricResult
from embench.data.dataset import Dataset, Sequences
from embench.data.split import Split
from embench.errors import DataError, PluginError
from embench.neighbours import Neighbours, exact_top_k


@dataclass(eq=False)
class EvalContext:
    """Everything a metric may read. ``part`` is the held-out part scored ("validation"/"test")."""

    dataset: Dataset
    split: Split
    embedding: Embedding
    part: str = "test"
    seed: int = 0
    threads: int = 1
    k_max: int = 100
    _neighbours: Neighbours | None = field(default=None, repr=False)
    _rows: np.ndarray | None = field(default=None, repr=False)

    @property
    def held_out(self) -> Sequences:
        return self.split.held_out(self.part)

    @property
    def rows(self) -> np.ndarray:
        """Dataset song index -> embedding row (-1 where the song has no vector)."""
        if self._rows is None:
            self._rows = self.embedding.rows_of(self.dataset.n_songs)
        return self._rows

    @property
    def popularity(self) -> np.ndarray:
        """Plays of each song in the training corpus."""
        return self.split.train.counts(self.dataset.n_songs)

    def neighbours(self, k: int) -> Neighbours:
        """The shared exact top-``k`` index over embedding rows (computed once, at ``k_max``)."""
        if self._neighbours is None or self._neighbours.k < k:
            self._neighbours = exact_top_k(
                self.embedding.vectors, max(k, self.k_max), threads=self.threads
            )
        return self._neighbours

    def song_neighbours(self, songs: np.ndarray, k: int) -> np.ndarray:
        """Top-``k`` neighbours of each song as dataset song indices; -1 for unknown/padding."""
        songs = np.asarray(songs, dtype=np.int64)
        out = np.full((len(songs), k), -1, dtype=np.int64)
        rows = self.rows[songs]
        known = rows >= 0
        if known.any():
            neighbour_rows = self.neighbours(k).rows[rows[known], :k]
            mapped = np.where(neighbour_rows >= 0, self.embedding.song_index[neighbour_rows], -1)
            out[known] = mapped
        return out

    def rng(self, name: str) -> np.random.Generator:
        """A generator seeded by the benchmark seed and ``name`` (stable across runs)."""
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])


@dataclass
class Evaluation:
    """Every metric's result on one embedding, with the time each took."""

    results: dict[str, MetricResult]
    seconds: dict[str, float]

    @property
    def values(self) -> dict[str, float]:
        merged: dict[str, float] = {}
        for result in self.results.values():
            merged.update(result.values)
        return merged


def evaluate(
    ctx: EvalContext,
    metrics: list[tuple[str, Metric, Any]],
    on_metric: Callable[[str], None] | None = None,
) -> Evaluation:
    """Compute each ``(name, metric, options)`` on ``ctx``; a metric that raises names itself."""
    ctx.k_max = max([ctx.k_max] + [m.neighbours_needed(o) for _, m, o in metrics])
    results: dict[str, MetricResult] = {}
    seconds: dict[str, float] = {}
    seen_keys: dict[str, str] = {}
    start = time.perf_counter()
    if any(m.neighbours_needed(o) for _, m, o in metrics):
        ctx.neighbours(ctx.k_max)
    seconds["neighbours"] = time.perf_counter() - start
    for name, metric, options in metrics:
        for column in metric.requires:
            if not ctx.dataset.has_labels(column):
                raise DataError(
                    f"metric '{name}' needs a '{column}' label on songs, "
                    f"but dataset '{ctx.dataset.name}' has none"
                )
        if on_metric:
            on_metric(name)
        start = time.perf_counter()
        try:
            result = metric.compute(ctx, options)
        except (DataError, PluginError):
            raise
        except Exception as exc:
            raise PluginError(f"metric '{name}' raised: {type(exc).__name__}: {exc}") from exc
        seconds[name] = time.perf_counter() - start
        if not isinstance(result, MetricResult):
            raise PluginError(
                f"metric '{name}' returned {type(result).__name__}, not a MetricResult"
            )
        for key, value in result.values.items():
            if key not in metric.directions:
                raise PluginError(
                    f"metric '{name}' reported '{key}', which its `directions` does not declare"
                )
            if key in seen_keys:
                raise PluginError(f"metrics '{seen_keys[key]}' and '{name}' both report '{key}'")
            seen_keys[key] = name
            if not isinstance(value, (int, float, np.floating, np.integer)):
                raise PluginError(f"metric '{name}' reported a non-number for '{key}': {value!r}")
        results[name] = result
    return Evaluation(results, seconds)
