"""Nevergrad optimisers: by default the paper's 10 random trials, then Bayesian optimisation.

The default (``optimizer = "BO"``) is nevergrad's ``ParametrizedBO`` (a wrapper of the
``bayes_opt`` package: a Gaussian process with a Matern 5/2 kernel and the GP-UCB acquisition),
initialised with ``initial_random`` uniform random trials. Any other optimiser of
``nevergrad.optimizers.registry`` can be named instead (``"NGOpt"``, ``"TwoPointsDE"``, ...); it
then takes over after the same ``initial_random`` random trials (``ng.families.Chaining``).

The search space maps to a ``ng.p.Dict``: integer dimensions are ``ng.p.Scalar`` with integer
casting over ``[low - 0.5, high + 0.5]`` (every integer equally likely, rounded then clamped into
``[low, high]``), log dimensions ``ng.p.Log``; the parametrization is seeded.

Infeasible or failed trials (``feasible=False`` or a non-finite objective) are told to nevergrad
with a penalty loss so that it steers away: by default (``infeasible_penalty = None``) the worst
feasible loss so far plus the spread of the feasible losses (at least 10% of the worst's
magnitude, or 1 when that is 0): one plateau, whatever the overrun (a penalty growing with the
overrun made the Gaussian process model the penalties instead of the objective, and tripled the
skips on yes_big). Until a first feasible result arrives, infeasible trials are held back and
told with that penalty as soon as one does.

When the harness knows the budget before training (``time_mode = "work"``), it hands the search
each candidate's cost over the budget (:meth:`NevergradSearch.constrain`) and asks stay
affordable: a random trial is redrawn until affordable; a proposal of the optimiser over budget
is told the penalty and repaired (:func:`repair`): as few of its values as possible move to the
best affordable configuration's, so values that cost nothing (the learning rate, the negative
exponent) stay as the optimiser proposed them. ``best()`` returns the best *feasible* told
params, exactly as told.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

import embench
from embench.errors import ConfigError, did_you_mean
from embench.space import (
    Dimension,
    Params,
    cast,
    check_objectives,
    check_params,
    integer_bounds,
)
from embench_plugins.random_search import TrialArchive

# Well-known names shown (with the closest matches) when an unknown optimiser is named: the
# full registry has several hundred entries.
BISECTIONS = 12  # steps of the search for the furthest affordable point of a segment
REDRAWS = 1000  # random draws tried for an affordable random trial

COMMON = ("BO", "NGOpt", "TwoPointsDE", "CMA", "OnePlusOne", "PSO", "RandomSearch", "DE")


class NevergradOptions(embench.Options):
    """Options of the ``nevergrad`` optimiser (single objective)."""

    optimizer: str = Field(
        "BO",
        description="'BO' (the paper: Gaussian-process Bayesian optimisation after "
        "`initial_random` random trials) or any name of nevergrad.optimizers.registry",
    )
    initial_random: int = Field(
        10,
        ge=0,
        description="uniform random trials before the optimiser takes over (BO uses at least 2)",
    )
    utility: Literal["ucb", "ei", "poi"] = Field(
        "ucb", description="BO acquisition function (upper confidence bound, EI, PI)"
    )
    kappa: float = Field(2.576, ge=0, description="BO: exploration weight of 'ucb'")
    xi: float = Field(0.0, ge=0, description="BO: exploration margin of 'ei' and 'poi'")
    gp_alpha: float = Field(
        1e-6, gt=0, description="BO: noise added to the Gaussian process's diagonal"
    )
    infeasible_penalty: float | None = Field(
        None,
        description="loss told for an infeasible or failed trial; None: adaptive (the worst "
        "feasible loss plus the spread of the feasible losses)",
    )
    avoid_repeats: bool = Field(
        True,
        description="replace a proposal that repeats an asked or told configuration (e.g. BO "
        "asked again before a tell, or rounding onto a tried integer) by a random one",
    )


def unknown_optimizer(name: str, registry: Mapping[str, Any]) -> ConfigError:
    """A ConfigError naming the closest registry names (the registry itself is too long)."""
    names = list(registry)
    close = [n for n in names if n.lower() == name.lower()]
    close += difflib.get_close_matches(name, names, n=6, cutoff=0.6)
    choices = sorted(set(close) | {n for n in COMMON if n in registry})
    return ConfigError(
        f"unknown Nevergrad optimizer '{name}'{did_you_mean(name, choices)}; "
        f"nevergrad.optimizers.registry has {len(names)} names in all"
    )


@contextlib.contextmanager
def quiet_bounds() -> Iterator[None]:
    """Silence nevergrad's "Bounds are 1.0 sigma away" warning (from ``ng.p.Log`` and BO's
    internal unit cube): it concerns the mutation scale of unbounded searches, not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Bounds are .* sigma")
        yield


def build_parametrization(ng, space: Mapping[str, Dimension], seed: int):
    """A seeded ``ng.p.Dict`` with one bounded scalar per dimension."""
    params = {}
    with quiet_bounds():
        for name, dim in space.items():
            low, high = integer_bounds(dim) if dim.integer else (dim.low, dim.high)
            if dim.integer:  # keep the rounded values strictly inside [low - 0.5, high + 0.5]
                low, high = low + 1e-6, high - 1e-6
            scalar = (
                ng.p.Log(lower=low, upper=high) if dim.log else ng.p.Scalar(lower=low, upper=high)
            )
            if dim.integer:
                scalar = scalar.set_integer_casting()
            params[name] = scalar
        parametrization = ng.p.Dict(**params)
    parametrization.random_state = np.random.RandomState(seed)
    return parametrization


def build_optimizer(ng, options: NevergradOptions, parametrization, budget: int):
    """The nevergrad optimizer instance ``options`` describe."""
    registry = ng.optimizers.registry
    name = options.optimizer
    budget = max(int(budget), 1)
    if name == "BO":
        if not hasattr(ng.optimizers, "ParametrizedBO"):  # pragma: no cover - dependency
            raise ConfigError("nevergrad's BO needs the 'bayesian-optimization' package")
        configured = ng.optimizers.ParametrizedBO(
            initialization="random",
            init_budget=options.initial_random,
            utility_kind=options.utility,
            utility_kappa=options.kappa,
            utility_xi=options.xi,
            gp_parameters={"alpha": options.gp_alpha},
        )
    elif name not in registry:
        raise unknown_optimizer(name, registry)
    elif options.initial_random > 0:
        configured = ng.families.Chaining(
            [ng.optimizers.RandomSearch, registry[name]], [options.initial_random]
        )
    else:
        configured = registry[name]
    return configured(parametrization, budget=budget, num_workers=1)


def repair(
    params: Params,
    anchor: Params,
    space: Mapping[str, Dimension],
    overrun: Callable[[Params], float],
) -> Params | None:
    """``params`` made affordable by moving as few of its values as possible to ``anchor``'s
    (an affordable configuration): greedily the value whose move lowers the overrun most, the
    last one only as far as needed (bisection). Values that do not change the cost (a
    learning rate) are kept. None when even ``anchor`` is over budget."""
    if overrun(anchor) > 1:
        return None
    point = dict(params)
    moved: list[str] = []
    while overrun(point) > 1:
        options = [n for n in space if n not in moved and point[n] != anchor[n]]
        if not options:
            return None
        name = min(options, key=lambda n: (overrun({**point, n: anchor[n]}), n))
        moved.append(name)
        point[name] = anchor[name]
    if moved:  # bring the last moved value back towards the proposal, as far as affordable
        name, dim = moved[-1], space[moved[-1]]
        low, high = 0.0, 1.0
        start, goal = anchor[name], params[name]
        for _ in range(BISECTIONS):
            middle = (low + high) / 2
            value = cast(dim, between(dim, start, goal, middle))
            if overrun({**point, name: value}) <= 1:
                low = middle
            else:
                high = middle
        point[name] = cast(dim, between(dim, start, goal, low))
    return point


def between(dim: Dimension, start: float, goal: float, share: float) -> float:
    """The value ``share`` of the way from ``start`` to ``goal`` (in log space on log dims)."""
    if dim.log:
        return math.exp(math.log(start) + share * (math.log(goal) - math.log(start)))
    return start + share * (goal - start)


class NevergradSearch(embench.Search):
    """Drives one nevergrad optimizer through ask/tell; see the module docstring."""

    def __init__(
        self, space: Mapping[str, Dimension], options: NevergradOptions, *, seed: int, budget: int
    ) -> None:
        import nevergrad as ng
        from threadpoolctl import ThreadpoolController

        self.space = dict(space)
        self.options = options
        self.parametrization = build_parametrization(ng, self.space, seed)
        self.optimizer = build_optimizer(ng, options, self.parametrization, budget)
        self.archive = TrialArchive(1)
        self._pending: dict[tuple[float, ...], list[Any]] = {}  # asked, not yet told
        self._deferred: list[Any] = []  # infeasible candidates waiting for a penalty
        self._overrun: Callable[[Params], float] | None = None  # the budget, when known
        self._seen = np.empty((0, len(self.space)))  # unit-cube coordinates asked or told
        # The Gaussian process works on tiny matrices: BLAS threads only add overhead (3-4x
        # slower on a laptop), so ask/tell run single-threaded.
        self._threads = ThreadpoolController()

    @contextlib.contextmanager
    def _calm(self) -> Iterator[None]:
        with self._threads.limit(limits=1), quiet_bounds():
            yield

    # -- conversions -------------------------------------------------------------------------
    def _params(self, candidate) -> Params:
        value = candidate.value
        return {name: cast(dim, value[name]) for name, dim in self.space.items()}

    def _key(self, params: Mapping[str, float]) -> tuple[float, ...]:
        return tuple(float(params[name]) for name in self.space)

    def _unit(self, params: Mapping[str, float]) -> np.ndarray:
        out = []
        for name, dim in self.space.items():
            if dim.log:
                low, high, value = math.log(dim.low), math.log(dim.high), math.log(params[name])
            else:
                low, high, value = dim.low, dim.high, float(params[name])
            out.append((value - low) / (high - low))
        return np.asarray(out)

    def _is_repeat(self, params: Params) -> bool:
        if not len(self._seen):
            return False
        distance = np.abs(self._seen - self._unit(params)).max(axis=1)
        return bool((distance < 1e-4).any())

    def _remember(self, params: Params) -> None:
        self._seen = np.vstack([self._seen, self._unit(params)])

    # -- the protocol ------------------------------------------------------------------------
    def ask(self) -> Params:
        with self._calm():
            candidate = self.optimizer.ask()
            params = self._params(candidate)
            if self.options.avoid_repeats:
                for _ in range(100):
                    if not self._is_repeat(params):
                        break
                    candidate = self.parametrization.sample()  # told later as "not asked"
                    params = self._params(candidate)
            candidate, params = self._affordable(candidate, params)
        self._remember(params)
        self._pending.setdefault(self._key(params), []).append(candidate)
        return params

    def tell(
        self, params: Mapping[str, float], objectives: Sequence[float], feasible: bool
    ) -> None:
        checked = check_params(self.space, params)
        values = check_objectives(objectives, 1)
        ok = self.archive.add(checked, values, feasible)
        waiting = self._pending.get(self._key(checked))
        if waiting:
            candidate = waiting.pop(0)
            if not waiting:
                del self._pending[self._key(checked)]
        else:  # a tell of params this process never asked (e.g. a resumed study)
            candidate = self.parametrization.spawn_child(new_value=checked)
            self._remember(checked)
        with self._calm():
            if ok:
                self._tell(candidate, float(values[0]))
                deferred, self._deferred = self._deferred, []
                for held in deferred:
                    self._tell(held, self._penalty())
            elif self.options.infeasible_penalty is not None:
                self._tell(candidate, float(self.options.infeasible_penalty))
            else:
                self._penalise(candidate)

    def best(self) -> list[Params]:
        return self.archive.best()

    # -- helpers -----------------------------------------------------------------------------
    def _penalise(self, candidate) -> None:
        """Tell ``candidate`` the infeasible penalty (held back until a feasible result)."""
        if self.options.infeasible_penalty is not None:
            self._tell(candidate, float(self.options.infeasible_penalty))
        elif len(self.archive.feasible_losses()):
            self._tell(candidate, self._penalty())
        else:
            self._deferred.append(candidate)

    def _penalty(self) -> float:
        if self.options.infeasible_penalty is not None:
            return float(self.options.infeasible_penalty)
        losses = self.archive.feasible_losses()
        worst, best = float(losses.max()), float(losses.min())
        margin = max(worst - best, 0.1 * abs(worst)) or 1.0
        return worst + margin

    # -- the budget, when known before training ------------------------------------------------
    def constrain(self, overrun: Callable[[Params], float]) -> None:
        """Keep asks affordable: ``overrun(params)`` is their cost over the budget (affordable
        when <= 1); the harness passes it when the budget is exact before training (work
        units)."""
        self._overrun = overrun

    def _affordable(self, candidate, params: Params) -> tuple[Any, Params]:
        """``(candidate, params)`` within the budget (unchanged when no budget is known, or
        when nothing affordable was found: the harness then skips it)."""
        overrun = self._overrun
        if overrun is None or overrun(params) <= 1:
            return candidate, params
        anchors = self.archive.best()
        if len(self.archive) > self.options.initial_random and anchors:
            self._penalise(candidate)  # the optimiser learns where the budget ends
            repaired = repair(params, anchors[0], self.space, overrun)
            if repaired is not None and not self._is_repeat(repaired):
                return self.parametrization.spawn_child(new_value=repaired), repaired
        for _ in range(REDRAWS):  # the random trials, or no repair: redraw
            candidate = self.parametrization.sample()
            params = self._params(candidate)
            if overrun(params) <= 1 and not self._is_repeat(params):
                break
        return candidate, params

    def _tell(self, candidate, loss: float) -> None:
        try:
            self.optimizer.tell(candidate, loss)
        except Exception as error:
            # bayes_opt refuses a point it already holds (BO proposing the same point twice
            # before a tell, or the same params told twice): the GP knows it; skip, and clear
            # the loss the nevergrad wrapper registered for it.
            if type(error).__name__ != "NotUniqueError":
                raise
            fake = getattr(self.optimizer, "_fake_function", None)
            if fake is not None:
                fake._registered.clear()


class Nevergrad(embench.Optimiser):
    """Single-objective search with Nevergrad (default: 10 random trials, then GP-UCB BO)."""

    name = "nevergrad"
    Options = NevergradOptions
    multi_objective = False

    def create(self, space, n_objectives, options, *, seed, budget) -> NevergradSearch:
        if n_objectives != 1:
            raise ConfigError(
                f"the nevergrad optimiser handles one objective, got {n_objectives}: "
                "scalarise them, or use 'nsga2' or 'random'"
            )
        return NevergradSearch(space, options or NevergradOptions(), seed=seed, budget=budget)


@embench.hookimpl
def register_optimisers(register):
    register(Nevergrad)
