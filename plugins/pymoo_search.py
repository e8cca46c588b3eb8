"""NSGA-II (pymoo) through its ask/tell interface, for several objectives.

The search runs in an internal box: log dimensions in natural-log space, integer dimensions over
``[low - 0.5, high + 0.5]`` with a repair that rounds (and clamps) every individual onto an
integer, so what NSGA-II breeds is exactly what the harness trains. The problem has one
inequality constraint, the time budget: a feasible trial has ``G = 0``, an infeasible or failed
one (``feasible=False`` or a non-finite objective) ``G = 1``, or ``1 + log2(overrun)`` when the
harness says how far over its budget it was, so constrained dominance ranks it after every
feasible trial whatever its objectives, and the further over budget, the lower.

``ask()`` hands out the individuals of the current batch one at a time (a batch is the initial
random population, then ``pop_size`` offspring of the current population; when it runs out
before the generation is told, another batch is bred from the same population). ``tell()``
collects results, asked or not; every ``pop_size`` told results form a generation that is given
to the algorithm (survival of parents + generation), after which the rest of the old batch is
dropped so that the next asks breed from the new population. ``best()`` is the feasible Pareto
set of everything told (:func:`embench.pareto.non_dominated`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import Field

import embench
from embench.errors import ConfigError
from embench.space import (
    Dimension,
    Params,
    cast,
    check_objectives,
    check_params,
    integer_bounds,
)
from embench_plugins.random_search import TrialArchive

# Finite stand-in for a non-finite objective of an infeasible trial (its G = 1 decides its rank).
WORST = 1e30


class Nsga2Options(embench.Options):
    """Options of the ``nsga2`` optimiser (pymoo's NSGA-II)."""

    pop_size: int = Field(10, ge=2, le=10_000, description="population (and generation) size")
    crossover_prob: float = Field(0.9, ge=0, le=1, description="SBX crossover probability")
    crossover_eta: float = Field(15.0, gt=0, description="SBX distribution index")
    mutation_eta: float = Field(20.0, gt=0, description="polynomial mutation distribution index")


class Box:
    """Maps params to NSGA-II's internal coordinates and back."""

    def __init__(self, space: Mapping[str, Dimension]) -> None:
        self.space = dict(space)
        self.dims = list(self.space.values())
        lows, highs = [], []
        for dim in self.dims:
            low, high = integer_bounds(dim) if dim.integer else (dim.low, dim.high)
            if dim.log:
                low, high = math.log(low), math.log(high)
            lows.append(low)
            highs.append(high)
        self.xl = np.asarray(lows, dtype=float)
        self.xu = np.asarray(highs, dtype=float)

    def to_params(self, x: np.ndarray) -> Params:
        out: Params = {}
        for (name, dim), value in zip(self.space.items(), x, strict=True):
            out[name] = cast(dim, math.exp(value) if dim.log else value)
        return out

    def to_internal(self, params: Mapping[str, float]) -> np.ndarray:
        values = [params[name] for name in self.space]
        return np.asarray(
            [math.log(v) if d.log else float(v) for d, v in zip(self.dims, values, strict=True)],
            dtype=float,
        )

    def repair(self, X: np.ndarray) -> np.ndarray:
        """Round every integer coordinate onto its integer (the rest is left as bred)."""
        X = np.array(X, dtype=float, copy=True)
        for j, dim in enumerate(self.dims):
            if dim.integer:
                values = np.exp(X[:, j]) if dim.log else X[:, j]
                values = np.clip(np.round(values), dim.low, dim.high)
                X[:, j] = np.log(values) if dim.log else values
        return X


class Nsga2Search(embench.Search):
    """One NSGA-II run driven through ask/tell; see the module docstring."""

    def __init__(
        self, space: Mapping[str, Dimension], n_objectives: int, options: Nsga2Options, seed: int
    ) -> None:
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.problem import Problem
        from pymoo.core.repair import Repair
        from pymoo.core.termination import NoTermination
        from pymoo.operators.crossover.sbx import SBX
        from pymoo.operators.mutation.pm import PM
        from pymoo.operators.sampling.rnd import FloatRandomSampling

        self.box = Box(space)
        self.options = options
        self.archive = TrialArchive(n_objectives)
        box = self.box

        class IntegerRepair(Repair):
            def _do(self, problem, X, **kwargs):
                return box.repair(X)

        self.problem = Problem(
            n_var=len(space), n_obj=n_objectives, n_ieq_constr=1, xl=box.xl, xu=box.xu
        )
        self.algorithm = NSGA2(
            pop_size=options.pop_size,
            sampling=FloatRandomSampling(),
            crossover=SBX(prob=options.crossover_prob, eta=options.crossover_eta),
            mutation=PM(eta=options.mutation_eta),
            repair=IntegerRepair(),
            eliminate_duplicates=True,
        )
        self.algorithm.setup(self.problem, termination=NoTermination(), seed=seed, verbose=False)
        self._batch: list[np.ndarray] = []  # bred, not yet handed out
        self._told: list[tuple[np.ndarray, np.ndarray, float]] = []  # this generation's results

    def ask(self) -> Params:
        if not self._batch:
            self._breed()
        return self.box.to_params(self._batch.pop(0))

    def tell(
        self,
        params: Mapping[str, float],
        objectives: Sequence[float],
        feasible: bool,
        overrun: float | None = None,
    ) -> None:
        """``overrun`` (optional): an infeasible trial's cost over its budget; its constraint
        violation is then ``1 + log2(overrun)`` instead of 1 (the further over, the worse)."""
        checked = check_params(self.box.space, params)
        values = check_objectives(objectives, self.archive.n_objectives)
        ok = self.archive.add(checked, values, feasible)
        F = np.where(np.isfinite(values), values, WORST) if not ok else values
        violation = 1.0 + (math.log2(overrun) if overrun is not None and overrun > 1 else 0.0)
        self._told.append((self.box.to_internal(checked), F, 0.0 if ok else violation))
        if len(self._told) >= self.options.pop_size:
            self._advance()

    def best(self) -> list[Params]:
        return self.archive.best()

    # -- helpers -----------------------------------------------------------------------------
    def _breed(self) -> None:
        pop = self.algorithm.ask()
        X = None if pop is None or len(pop) == 0 else np.asarray(pop.get("X"), dtype=float)
        if X is None:  # mating produced nothing new (tiny integer spaces): draw uniformly
            rng = self.algorithm.random_state
            shape = (self.options.pop_size, len(self.box.xl))
            X = self.box.repair(rng.uniform(self.box.xl, self.box.xu, shape))
        self._batch = list(X)

    def _advance(self) -> None:
        from pymoo.core.evaluator import Evaluator
        from pymoo.core.population import Population
        from pymoo.problems.static import StaticProblem

        X = np.array([x for x, _, _ in self._told])
        F = np.array([f for _, f, _ in self._told])
        G = np.array([[g] for _, _, g in self._told])
        self._told = []
        pop = Population.new("X", X)
        Evaluator().eval(StaticProblem(self.problem, F=F, G=G), pop)
        self.algorithm.tell(infills=pop)
        self._batch = []  # breed the next asks from the new population


class Nsga2(embench.Optimiser):
    """Multi-objective search with pymoo's NSGA-II (time budget as a constraint)."""

    name = "nsga2"
    Options = Nsga2Options
    multi_objective = True

    def create(self, space, n_objectives, options, *, seed, budget) -> Nsga2Search:
        if n_objectives < 1:
            raise ConfigError("nsga2 needs at least one objective")
        return Nsga2Search(space, n_objectives, options or Nsga2Options(), seed)


@embench.hookimpl
def register_optimisers(register):
    register(Nsga2)
