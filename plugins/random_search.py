"""Uniform random search, and the trial archive every built-in optimiser shares.

The search-space helpers (sampling, checking told params) live in :mod:`embench.space` and the
non-dominated set in :mod:`embench.pareto`, public for third-party optimisers too;
:class:`TrialArchive` keeps the three built-in optimisers consistent: the same notion of a
feasible trial (told ``feasible=True`` *and* every objective finite) and the same ``best()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from pydantic import Field

import embench
from embench.pareto import non_dominated
from embench.space import (
    Dimension,
    Params,
    check_objectives,
    check_params,
    params_key,
    sample_uniform,
)


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

    def best(self, front: Callable[[np.ndarray], np.ndarray] = non_dominated) -> list[Params]:
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
        on_front = [rows[i] for i in np.flatnonzero(front(F))]
        seen: set[tuple] = set()
        out: list[Params] = []
        for i in on_front:
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
