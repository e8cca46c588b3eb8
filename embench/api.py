"""The plugin contract: what embedders, metrics, optimisers and datasets declare and return.

Plugins only compute; the harness owns the loop, persistence and errors. Each plugin is a class
with a unique ``name``, a pydantic ``Options`` model that validates its TOML section, and one
method doing its job. Instances are created by the harness with no arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from embench.data.dataset import Dataset, Sequences
    from embench.evaluation import EvalContext

Direction = Literal["max", "min"]


class Options(BaseModel):
    """Base of every plugin's options model: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BudgetExceeded(Exception):
    """Raised by an embedder that stops early because ``monitor.should_stop()`` turned true."""


class ContractError(ValueError):
    """A plugin returned something that breaks the contract (wrong shape, NaN, unknown songs)."""


@dataclass(frozen=True)
class Dimension:
    """One searchable hyper-parameter: a closed range, optionally integer and/or log-scaled."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"empty range [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ValueError("a log-scaled range must be positive")

    def clip(self, value: float) -> float | int:
        """Clamp ``value`` into the range (rounded when the dimension is integer)."""
        value = min(max(float(value), self.low), self.high)
        return int(round(value)) if self.integer else value


@dataclass(frozen=True, eq=False)
class Embedding:
    """Song vectors: row ``i`` of ``vectors`` belongs to dataset song index ``song_index[i]``.

    Songs the model never saw are simply absent; metrics count them as misses.
    """

    song_index: np.ndarray
    vectors: np.ndarray

    def __post_init__(self) -> None:
        songs = np.asarray(self.song_index)
        vectors = np.asarray(self.vectors)
        if songs.ndim != 1 or not np.issubdtype(songs.dtype, np.integer):
            raise ContractError(
                f"song_index must be a 1-D integer array, got {songs.dtype} {songs.shape}"
            )
        if vectors.ndim != 2:
            raise ContractError(f"vectors must be a 2-D array, got shape {vectors.shape}")
        if vectors.shape[0] != songs.shape[0]:
            raise ContractError(
                f"{vectors.shape[0]} vectors for {songs.shape[0]} songs: shapes must agree"
            )
        if vectors.shape[1] == 0:
            raise ContractError("vectors have dimension 0")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not np.isfinite(vectors).all():
            bad = int((~np.isfinite(vectors).all(axis=1)).sum())
            raise ContractError(f"{bad} vectors contain NaN or infinite values")
        songs = songs.astype(np.int64, copy=False)
        if len(np.unique(songs)) != len(songs):
            raise ContractError("song_index lists a song more than once")
        object.__setattr__(self, "song_index", songs)
        object.__setattr__(self, "vectors", vectors)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.song_index.shape[0])

    def rows_of(self, n_songs: int) -> np.ndarray:
        """Map dataset song index -> embedding row (-1 where the song has no vector)."""
        if len(self) and (self.song_index.min() < 0 or self.song_index.max() >= n_songs):
            raise ContractError(f"song_index refers to songs outside the catalogue of {n_songs}")
        rows = np.full(n_songs, -1, dtype=np.int64)
        rows[self.song_index] = np.arange(len(self), dtype=np.int64)
        return rows


@dataclass
class MetricResult:
    """What a metric returns.

    ``values``: named aggregate figures (keys unique across metrics, e.g. ``hitrate``).
    ``per_query``: one row per query (song ids named) so significance tests and users can redo
    the aggregation. ``tables``: small result tables (e.g. a 5x5 bucket table).
    """

    values: dict[str, float]
    per_query: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


class TrainingMonitor:
    """Passed to ``Embedder.fit``: report progress, and stop early when asked to."""

    def __init__(
        self,
        on_progress: Callable[[float], None] | None = None,
        deadline: Callable[[], bool] | None = None,
    ) -> None:
        self._on_progress = on_progress
        self._deadline = deadline

    def progress(self, fraction: float) -> None:
        """Report the fraction of training done (0..1)."""
        if self._on_progress is not None:
            self._on_progress(fraction)

    @property
    def limited(self) -> bool:
        """True when training runs under a time budget (``should_stop`` may turn true)."""
        return self._deadline is not None

    def should_stop(self) -> bool:
        """True once the trial's time budget is spent; an embedder may then stop early."""
        return bool(self._deadline and self._deadline())


class Embedder:
    """Maps songs to vectors from training sequences.

    ``Options`` holds the hyper-parameters and settings with their defaults (the default
    configuration); ``search_space`` the searchable subset of them.
    """

    name: ClassVar[str]
    Options: ClassVar[type[Options]] = Options
    search_space: ClassVar[dict[str, Dimension]] = {}

    def fit(
        self,
        corpus: Sequences,
        params: Any,
        *,
        seed: int,
        threads: int,
        monitor: TrainingMonitor,
    ) -> Embedding:  # pragma: no cover - interface
        raise NotImplementedError


class Metric:
    """Scores one embedding. ``directions`` names each value key and whether higher is better."""

    name: ClassVar[str]
    Options: ClassVar[type[Options]] = Options
    directions: ClassVar[dict[str, Direction]] = {}
    requires: ClassVar[frozenset[str]] = frozenset()  # song-table columns, e.g. {"genre"}
    # Significance tests: value key -> per-query column holding its per-query values, and the
    # per-query columns that identify a query across configurations.
    per_query_values: ClassVar[dict[str, str]] = {}
    per_query_keys: ClassVar[tuple[str, ...]] = ()

    def neighbours_needed(self, options: Any) -> int:
        """How many nearest neighbours per song this metric reads from the shared index."""
        return int(getattr(options, "k", 0) or 0)

    def compute(self, ctx: EvalContext, options: Any) -> MetricResult:  # pragma: no cover
        raise NotImplementedError


class DatasetLoader:
    """Produces a :class:`~embench.data.dataset.Dataset`; relative paths resolve from ``base_dir``."""

    name: ClassVar[str]
    Options: ClassVar[type[Options]] = Options

    def load(self, options: Any, *, seed: int, base_dir: Any) -> Dataset:  # pragma: no cover
        raise NotImplementedError


class Search:
    """One running search: the harness calls ``ask`` for params and ``tell`` with the outcome.

    Objectives are given as values to *minimise* (the harness negates maximised metrics).
    """

    def ask(self) -> dict[str, float]:  # pragma: no cover - interface
        raise NotImplementedError

    def tell(self, params: dict[str, float], objectives: list[float], feasible: bool) -> None:
        raise NotImplementedError  # pragma: no cover - interface

    def best(self) -> list[dict[str, float]]:  # pragma: no cover - interface
        """The best params found (one for single-objective, the Pareto set otherwise)."""
        raise NotImplementedError


class Optimiser:
    """Creates a :class:`Search` over a space for ``n_objectives`` objectives."""

    name: ClassVar[str]
    Options: ClassVar[type[Options]] = Options
    multi_objective: ClassVar[bool] = False

    def create(
        self,
        space: dict[str, Dimension],
        n_objectives: int,
        options: Any,
        *,
        seed: int,
        budget: int,
    ) -> Search:  # pragma: no cover - interface
        raise NotImplementedError
