"""The plugin contract: what embedders, metrics, optimisers and datasets declare and return.

Plugins only compute; the harness owns the loop, persistence and errors. Each plugin is a class
with a unique ``name``, a pydantic ``Options`` model that validates its TOML section, and one
method doing its job. Instances are created by the harness with no arguments.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from embench.context import EvalContext
from embench.cost import CorpusStats
from embench.data.dataset import Dataset, Sequences
from embench.data.split import Split
from embench.embedding import BudgetExceeded, ContractError, Embedding
from embench.sampling import Interval
from embench.space import Dimension

__all__ = [
    "BudgetExceeded",
    "ContractError",
    "CorpusStats",
    "DatasetLoader",
    "Dimension",
    "Direction",
    "Embedder",
    "Embedding",
    "EvalContext",
    "Fidelity",
    "Interval",
    "Metric",
    "MetricResult",
    "NeighbourRequest",
    "Optimiser",
    "Options",
    "OptionsT",
    "Search",
    "Suggestion",
    "TrainingMonitor",
    "Value",
]

Direction = Literal["max", "min"]


class Options(BaseModel):
    """Base of every plugin's options model: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


#: A plugin's options model (``params`` of an embedder, ``options`` of a metric ...).
OptionsT = TypeVar("OptionsT", bound=Options)


@dataclass(frozen=True)
class Value:
    """How a metric declares one value key it reports.

    ``direction``: ``"max"`` when higher is better, ``"min"`` when lower is. ``per_query``: the
    column of ``MetricResult.per_query`` holding this value's per-query values (their mean is
    the value; significance tests pair them up across configurations), or None.
    ``description``: one line for reports and docs.
    """

    direction: Direction
    per_query: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.direction not in ("max", "min"):
            raise ContractError(f"direction must be 'max' or 'min', got {self.direction!r}")
        if self.per_query is not None and (
            not isinstance(self.per_query, str) or not self.per_query
        ):
            raise ContractError(
                f"per_query must name a per-query column (or be None), got {self.per_query!r}"
            )


@dataclass(frozen=True, eq=False)
class NeighbourRequest:
    """The neighbours a metric reads: the top-``k`` of ``songs`` (None: of every song).

    ``songs`` are dataset song indices (duplicates allowed); they are kept sorted and unique.
    A metric that needs no neighbours returns None from ``Metric.neighbours`` instead.
    """

    k: int
    songs: np.ndarray | None = None

    def __post_init__(self) -> None:
        try:
            if isinstance(self.k, bool):
                raise TypeError
            k = operator.index(self.k)
        except TypeError:
            raise ContractError(f"k must be an integer, got {self.k!r}") from None
        if k < 1:
            raise ContractError(
                f"k must be >= 1, got {k} (a metric that needs no neighbours returns None)"
            )
        object.__setattr__(self, "k", k)
        if self.songs is not None:
            songs = np.asarray(self.songs)
            if songs.size == 0:
                songs = songs.reshape(0).astype(np.int64)
            if songs.ndim != 1 or not np.issubdtype(songs.dtype, np.integer):
                raise ContractError(
                    "songs must be a 1-D integer array of dataset song indices, got "
                    f"{songs.dtype} {songs.shape}"
                )
            songs = np.unique(songs.astype(np.int64, copy=False))
            songs.setflags(write=False)
            object.__setattr__(self, "songs", songs)

    @staticmethod
    def union(requests: Iterable[NeighbourRequest | None]) -> NeighbourRequest | None:
        """One request covering all of ``requests`` (the largest k); None when none needs any."""
        given = [r for r in requests if r is not None]
        if not given:
            return None
        k = max(r.k for r in given)
        if any(r.songs is None for r in given):
            return NeighbourRequest(k)
        return NeighbourRequest(k, np.concatenate([r.songs for r in given if r.songs is not None]))


@dataclass
class MetricResult:
    """What a metric returns.

    ``values``: named aggregate figures (keys unique across metrics, e.g. ``hitrate``).
    ``per_query``: one row per query (song ids named) so significance tests and users can redo
    the aggregation. ``tables``: small result tables (e.g. a 5x5 bucket table).
    ``intervals``: for a value computed from a sample of queries (or one that could be), its
    :class:`Interval`: the queries scored, the queries the exact value scores and the 95%
    confidence interval of the exact value (see :mod:`embench.sampling`).
    """

    values: dict[str, float]
    per_query: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    intervals: dict[str, Interval] = field(default_factory=dict)


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


class Embedder(Generic[OptionsT]):
    """Maps songs to vectors from training sequences.

    ``Options`` holds the hyper-parameters and settings with their defaults (the default
    configuration); ``search_space`` the searchable subset of them. Subclass
    ``Embedder[MyOptions]`` so that ``params`` is typed.
    """

    name: ClassVar[str]
    Options: ClassVar[type[Options]] = Options
    search_space: ClassVar[dict[str, Dimension]] = {}

    def fit(
        self,
        corpus: Sequences,
        params: OptionsT,
        *,
        seed: int,
        threads: int,
        monitor: TrainingMonitor,
    ) -> Embedding:  # pragma: no cover - interface
        raise NotImplementedError

    def work(self, params: OptionsT, stats: CorpusStats) -> float | None:
        """Optional: the training work ``params`` imply on a corpus with ``stats``, in any unit
        proportional to training time (e.g. vector updates). Deterministic and cheap: the
        harness calls it *before* training, to keep a study within its budget in work units
        (``time_mode = "work"``, the default) and to skip candidates over budget. It must grow
        in proportion to ``params.epochs`` when the embedder has epochs (``time_mode =
        "equal"`` relies on it). Returning None (the default) means "no work model": budgets
        then fall back to wall-clock seconds.
        """
        return None


def declares_work(embedder: type[Embedder]) -> bool:
    """Whether ``embedder`` overrides :meth:`Embedder.work` (has a work model)."""
    return getattr(embedder, "work", None) is not Embedder.work


#: Attributes of the former metric contract, now declared by ``values``/``query_keys``/
#: ``neighbours``; a metric class that still defines one is refused when it is defined.
_FORMER = {
    "directions": "values = {key: Value(direction)}",
    "per_query_values": "values = {key: Value(direction, per_query=column)}",
    "per_query_keys": "query_keys",
    "neighbours_needed": "neighbours(ctx, options) -> NeighbourRequest | None",
}


class Metric(Generic[OptionsT]):
    """Scores one embedding; subclass ``Metric[MyOptions]`` so that ``options`` is typed.

    ``values`` declares every value key the metric reports (:class:`Value`: its direction and
    the per-query column behind it). ``query_keys`` names the per-query columns that identify a
    query across configurations (for paired tests). ``requires`` names song-table columns the
    metric reads (e.g. ``{"genre"}``). ``neighbours`` says which songs' top-k neighbours
    ``compute`` reads through ``ctx.song_neighbours`` (None: none).

    ``flags`` (optional) declares flags the metric adds to the report's neighbour explorer
    (flag key -> one-line description); ``flag_pairs`` then computes them.
    """

    name: ClassVar[str]
    Options: ClassVar[type[Options]] = Options
    values: ClassVar[dict[str, Value]] = {}
    query_keys: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[frozenset[str]] = frozenset()
    flags: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        former = [a for a in _FORMER if a in vars(cls)]
        if former:
            raise TypeError(
                f"metric class {cls.__qualname__} defines {', '.join(former)}, replaced by "
                + "; ".join(f"{a} -> {_FORMER[a]}" for a in former)
            )

    def neighbours(self, ctx: EvalContext, options: OptionsT) -> NeighbourRequest | None:
        """The songs whose top-k neighbours ``compute`` reads, and k (None: no neighbours).

        Called before any metric computes; the harness computes the union of all metrics'
        requests once. Reading other songs' neighbours during ``evaluate`` is an error.
        """
        return None

    def compute(self, ctx: EvalContext, options: OptionsT) -> MetricResult:  # pragma: no cover
        raise NotImplementedError

    def flag_pairs(
        self,
        dataset: Dataset,
        split: Split,
        options: OptionsT,
        first: np.ndarray,
        second: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """The declared ``flags`` of the song pairs ``(first[i], second[i])`` (dataset song
        indices; a song and one of its neighbours in some configuration): one boolean array
        per flag key, of the pairs' length. A flag is a property of the pair in the data, not
        of an embedding. Called once per run, after training (see
        :mod:`embench.report.explorer`); the default declares and returns none.
        """
        return {}


class DatasetLoader(Generic[OptionsT]):
    """Produces a :class:`~embench.data.dataset.Dataset`; relative paths resolve from ``base_dir``."""

    name: ClassVar[str]
    Options: ClassVar[type[Options]] = Options

    def load(self, options: OptionsT, *, seed: int, base_dir: Any) -> Dataset:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class Fidelity:
    """How much of a full training one trial gets (multi-fidelity search).

    ``subsample``: the share of the training sequences the trial trains on, in (0, 1] (a seeded
    subsample of the study's training split, the same for every trial at that rate).
    ``epochs``: the share of the configuration's epochs it trains for, in (0, 1] (the harness
    sets ``epochs = max(1, round(share x epochs))``; the embedder needs an ``epochs`` param).
    The default, ``Fidelity()``, is a full training. The budget of a reduced training is the
    default configuration's cost at the same fidelity.
    """

    subsample: float = 1.0
    epochs: float = 1.0

    def __post_init__(self) -> None:
        for name in ("subsample", "epochs"):
            rate = getattr(self, name)
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
                raise ContractError(f"a fidelity's {name} share must be in (0, 1], got {rate!r}")
            object.__setattr__(self, name, float(rate))

    @property
    def full(self) -> bool:
        """A full training (the whole training split, the configured epochs)."""
        return self.subsample == 1.0 and self.epochs == 1.0

    def apply_epochs(self, epochs: int) -> int:
        """The epochs of a training at this fidelity, for a configuration of ``epochs``."""
        return epochs if self.epochs == 1.0 else max(1, int(round(self.epochs * epochs)))

    def to_json(self) -> dict[str, Any] | None:
        """``{"subsample": r, "epochs": e}`` (shares of 1 left out); None when full."""
        out = {k: v for k, v in (("subsample", self.subsample), ("epochs", self.epochs)) if v != 1}
        return out or None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Fidelity:
        return cls(**(data or {}))


@dataclass(frozen=True)
class Suggestion:
    """What :meth:`Search.ask` returns when it chooses a trial's fidelity: the params and the
    :class:`Fidelity` to train them at. A plain params dict means a full training."""

    params: dict[str, float]
    fidelity: Fidelity = field(default_factory=Fidelity)


class Search:
    """One running search: the harness calls ``ask`` for params and ``tell`` with the outcome.

    Objectives are given as values to *minimise* (the harness negates maximised metrics).

    ``ask`` returns params (a full training), or a :class:`Suggestion` (params and a
    :class:`Fidelity`) from a multi-fidelity search. ``tell`` receives back exactly what
    ``ask`` returned (a Suggestion stays one), in the order asked. Before the first ask, the
    harness tells the default configuration's params (a plain dict, full fidelity) when they lie
    in the space: a search must accept tells of params it never asked.
    """

    def ask(self) -> dict[str, float] | Suggestion:  # pragma: no cover - interface
        raise NotImplementedError

    def tell(
        self, params: dict[str, float] | Suggestion, objectives: list[float], feasible: bool
    ) -> None:
        raise NotImplementedError  # pragma: no cover - interface

    def best(self) -> list[dict[str, float]]:  # pragma: no cover - interface
        """The best params found (one for single-objective, the Pareto set otherwise)."""
        raise NotImplementedError


class Optimiser(Generic[OptionsT]):
    """Creates a :class:`Search` over a space for ``n_objectives`` objectives."""

    name: ClassVar[str]
    Options: ClassVar[type[Options]] = Options
    multi_objective: ClassVar[bool] = False

    @classmethod
    def fidelities(cls, options: Any) -> frozenset[str]:
        """The :class:`Fidelity` fields (``"subsample"``, ``"epochs"``) its searches may reduce
        with these options (checked against the embedder before any training); none by
        default: every ask is a full training."""
        return frozenset()

    def create(
        self,
        space: dict[str, Dimension],
        n_objectives: int,
        options: OptionsT,
        *,
        seed: int,
        budget: int,
    ) -> Search:  # pragma: no cover - interface
        raise NotImplementedError
