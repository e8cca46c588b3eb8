"""Uniform random search, and the helpers every built-in optimiser shares.

The helpers (:func:`check_params`, :func:`sample_uniform`, :class:`TrialArchive`, ...) keep the
three built-in optimisers consistent: the same parameter checking, the same notion of a feasible
trial (told ``feasible=True`` *and* every objective finite) and the same ``best()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import Field

import embench
from embench.api import Dimension

Params = dict[str, float]


# -- parameters ------------------------------------------------------------------------------
def cast(dim: Dimension, value: float) -> float | int:
    """``value`` clamped into ``dim`` as a plain Python ``int`` (integer dims) or ``float``."""
    clipped = dim.clip(value)
    return int(clipped) if dim.integer else float(clipped)


def check_params(space: Mapping[str, Dimension], params: Mapping[str, Any]) -> Params:
    """Validate told ``params`` against ``space``: same names, finite numbers; clamped and cast.

    Raises ``ValueError`` when the names differ or a value is not a finite number (the harness
    tells back exactly what it was asked, so this is a contract violation, not a user error).
    """
    if set(params) != set(space):
        raise ValueError(
            f"told params {sorted(params)} do not match the search space {sorted(space)}"
        )
    out: Params = {}
    for name, dim in space.items():
        try:
            value = float(params[name])
        except (TypeError, ValueError):
            raise ValueError(f"param {name}={params[name]!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"param {name}={value} is not finite")
        out[name] = cast(dim, value)
    return out


def params_key(space: Mapping[str, Dimension], params: Mapping[str, Any]) -> tuple[float, ...]:
    """A hashable key of ``params`` (in the space's order), equal for ``25`` and ``25.0``."""
    return tuple(float(params[name]) for name in space)


def integer_bounds(dim: Dimension) -> tuple[float, float]:
    """The continuous range whose rounding gives every integer of ``dim`` the same share.

    ``[low - 0.5, high + 0.5]`` (for a log dimension, kept positive), so that the end points are
    not drawn half as often as the inner integers.
    """
    low, high = dim.low - 0.5, dim.high + 0.5
    if dim.log and low <= 0:
        low = dim.low
    return low, high


def sample_uniform(space: Mapping[str, Dimension], rng: np.random.Generator) -> Params:
    """One uniform draw: log-uniform for log dims, every integer equally likely for int dims."""
    out: Params = {}
    for name, dim in space.items():
        low, high = integer_bounds(dim) if dim.integer else (dim.low, dim.high)
        if dim.log:
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        else:
            value = rng.uniform(low, high)
        out[name] = cast(dim, value)
    return out


def check_objectives(objectives: Sequence[float], n_objectives: int) -> np.ndarray:
    """``objectives`` as a float array of length ``n_objectives`` (NaN/inf allowed)."""
    values = np.asarray(list(objectives), dtype=float).ravel()
    if values.shape != (n_objectives,):
        raise ValueError(f"told {values.size} objectives, expected {n_objectives}")
    return values


# -- results ---------------------------------------------------------------------------------
def non_dominated_mask(F: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``F`` (to minimise) that no other row dominates."""
    F = np.asarray(F, dtype=float)
    n = len(F)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        others = F  # rows that are nowhere worse and somewhere better dominate row i
        dominated_by = np.all(others <= F[i], axis=1) & np.any(others < F[i], axis=1)
        mask[i] = not dominated_by.any()
    return mask


class TrialArchive:
    """Every told trial, in the order told; answers ``best()`` for a search.

    A trial counts as feasible when it was told ``feasible=True`` and all its objectives are
    finite (a NaN/inf objective marks a failure whatever the flag says); infeasible trials are
    never returned by :meth:`best`.
    """

    def __init__(self, n_objectives: int) -> None:
        self.n_objectives = n_objectives
        self.params: list[Params] = []
        self.objectives: list[np.ndarray] = []
        self.feasible: list[bool] = []

    def add(self, params: Params, objectives: np.ndarray, feasible: bool) -> bool:
        """Record a trial; returns whether it counts as feasible."""
        ok = bool(feasible) and bool(np.all(np.isfinite(objectives)))
        self.params.append(dict(params))
        self.objectives.append(objectives)
        self.feasible.append(ok)
        return ok

    def __len__(self) -> int:
        return len(self.params)

    def feasible_losses(self) -> np.ndarray:
        """The first objective of every feasible trial (for single-objective searches)."""
        return np.array(
            [o[0] for o, ok in zip(self.objectives, self.feasible, strict=True) if ok], dtype=float
        )

    def best(
        self, non_dominated: Callable[[np.ndarray], np.ndarray] = non_dominated_mask
    ) -> list[Params]:
        """Single objective: ``[best feasible params]`` (the first told among ties).

        Several objectives: the feasible non-dominated params in the order told (a configuration
        told more than once appears once). Empty when no trial was feasible.
        """
        rows = [i for i, ok in enumerate(self.feasible) if ok]
        if not rows:
            return []
        F = np.array([self.objectives[i] for i in rows], dtype=float)
        if self.n_objectives == 1:
            return [dict(self.params[rows[int(np.argmin(F[:, 0]))]])]
        front = [rows[i] for i in np.flatnonzero(non_dominated(F))]
        seen: set[tuple] = set()
        out: list[Params] = []
        for i in front:
            key = tuple(sorted(self.params[i].items()))
            if key not in seen:
                seen.add(key)
                out.append(dict(self.params[i]))
        return out


# -- the random optimiser --------------------------------------------------------------------
class RandomOptions(embench.Options):
    """Uniform random search has nothing to tune; the seed comes from the benchmark."""

    avoid_repeats: bool = Field(
        True,
        description="redraw (up to 100 times) a configuration that was already asked or told; "
        "matters only for small integer spaces",
    )


class RandomSearch(embench.Search):
    """Independent uniform draws (log-uniform on log dims, uniform integers on integer dims)."""

    def __init__(
        self, space: Mapping[str, Dimension], n_objectives: int, options: RandomOptions, seed: int
    ) -> None:
        self.space = dict(space)
        self.options = options
        self.rng = np.random.default_rng(seed)
        self.archive = TrialArchive(n_objectives)
        self._seen: set[tuple[float, ...]] = set()

    def ask(self) -> Params:
        params = sample_uniform(self.space, self.rng)
        if self.options.avoid_repeats:
            for _ in range(100):
                if params_key(self.space, params) not in self._seen:
                    break
                params = sample_uniform(self.space, self.rng)
        self._seen.add(params_key(self.space, params))
        return params

    def tell(
        self, params: Mapping[str, float], objectives: Sequence[float], feasible: bool
    ) -> None:
        checked = check_params(self.space, params)
        self._seen.add(params_key(self.space, checked))
        self.archive.add(checked, check_objectives(objectives, self.archive.n_objectives), feasible)

    def best(self) -> list[Params]:
        return self.archive.best()


class Random(embench.Optimiser):
    """Uniform random search over the space; any number of objectives.

    ``best()`` is the best feasible trial (one objective) or the feasible non-dominated set.
    """

    name = "random"
    Options = RandomOptions
    multi_objective = True

    def create(self, space, n_objectives, options, *, seed, budget) -> RandomSearch:
        if n_objectives < 1:
            raise ValueError("at least one objective is needed")
        return RandomSearch(space, n_objectives, options or RandomOptions(), seed)


@embench.hookimpl
def register_optimisers(register):
    register(Random)
