"""Multi-fidelity search: asynchronous successive halving (ASHA, Li et al., MLSys 2020).

Many configurations are trained at a low fidelity (a small share of the training sequences, or
of the epochs); the best ``1/eta`` of each rung are promoted to the next rung, ``eta`` times
more data, up to a full training. Bad configurations thus cost little.

- **Rungs**: ``rates`` (strictly increasing, in (0, 1]; 1, the full training, is appended
  when missing), or ``min_rate x eta^k`` up to 1. ``fidelity = "subsample"`` trains a rung at
  that share of the training sequences (a seeded subsample, the same for every trial of the
  rung); ``"epochs"`` at that share of the epochs.
- **Promotion** (asynchronous, so parallel workers never wait for a rung to fill): on each ask,
  from the highest rung down, a configuration among the best ``floor(n / eta)`` of the ``n``
  feasible results of its rung that has not been promoted yet is promoted to the next rung;
  otherwise a new configuration is drawn for the lowest rung.
- **New configurations** come from a ``sampler``: ``"random"`` (uniform, seeded) or
  ``"nevergrad"`` (the ``nevergrad`` optimiser with its default options, Bayesian optimisation
  after random trials, told the lowest-rung results, as BOHB does).
- Only trials at the top rung (full trainings) are candidates for the study's best (the
  harness decides); the default configuration, told first at full fidelity, is the reference
  every promoted configuration has to beat.

Everything is a function of the seed and of the tells in order, so a study resumed from its
journal replays the same asks: a killed bracket continues with no trial lost or repeated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

import embench
from embench.api import Fidelity, Suggestion
from embench.errors import ConfigError
from embench.space import Dimension, Params, check_objectives, check_params, params_key
from embench_plugins.nevergrad_search import REDRAWS, NevergradOptions, NevergradSearch
from embench_plugins.random_search import RandomOptions, RandomSearch, TrialArchive


class AshaOptions(embench.Options):
    """Options of the ``asha`` optimiser."""

    eta: int = Field(3, ge=2, le=100, description="promotion ratio: the best 1/eta move up")
    min_rate: float | None = Field(
        None,
        gt=0,
        le=1,
        description="the lowest rung's share (rungs min_rate x eta^k up to 1); default 1/eta^2",
    )
    rates: list[float] | None = Field(
        None,
        min_length=1,
        description="explicit rungs: shares strictly increasing in (0, 1] (1 appended if missing)",
    )
    fidelity: Literal["subsample", "epochs"] = Field(
        "subsample", description="what a rung reduces: the training sequences or the epochs"
    )
    sampler: Literal["random", "nevergrad"] = Field(
        "random", description="where new configurations come from (nevergrad: BO, BOHB-like)"
    )

    @model_validator(mode="after")
    def _rungs(self) -> AshaOptions:
        if self.rates is not None and self.min_rate is not None:
            raise ValueError("give rates or min_rate, not both")
        if self.rates is not None:
            bad = [r for r in self.rates if not (math.isfinite(r) and 0 < r <= 1)]
            if bad:
                raise ValueError(f"rates must be in (0, 1], found {bad}")
            if any(b <= a for a, b in zip(self.rates, self.rates[1:], strict=False)):
                raise ValueError(f"rates must be strictly increasing, found {self.rates}")
        return self

    def rungs(self) -> list[float]:
        """The rungs' shares, increasing, the last one 1."""
        if self.rates is not None:
            rates = [float(r) for r in self.rates]
        else:
            low = self.min_rate if self.min_rate is not None else 1.0 / self.eta**2
            rates = []
            rate = float(low)
            while rate < 1 - 1e-9:
                rates.append(rate)
                rate *= self.eta
        if not rates or rates[-1] != 1.0:
            rates.append(1.0)
        return rates


@dataclass
class Rung:
    rate: float
    results: list[tuple[int, float]] = field(default_factory=list)  # (config, loss) feasible
    promoted: set[int] = field(default_factory=set)

    def promotable(self, eta: int) -> int | None:
        """The best not yet promoted configuration among the top ``floor(n / eta)``."""
        top = sorted(self.results, key=lambda item: (item[1], item[0]))[: len(self.results) // eta]
        for config, _ in top:
            if config not in self.promoted:
                return config
        return None


class AshaSearch(embench.Search):
    """Asynchronous successive halving over a space; see the module docstring."""

    def __init__(
        self,
        space: Mapping[str, Dimension],
        options: AshaOptions,
        *,
        seed: int,
        budget: int,
    ) -> None:
        self.space = dict(space)
        self.options = options
        self.rungs = [Rung(rate) for rate in options.rungs()]
        self.sampler = make_sampler(self.space, options, seed=seed, budget=budget)
        self.configs: list[Params] = []
        self._pending: list[tuple[int, int, Suggestion]] = []  # (config, rung, asked)
        self.archive = TrialArchive(1)  # the top rung's results (best())
        self._overrun: Callable[[Params], float] | None = None

    def constrain(self, overrun: Callable[[Params], float]) -> None:
        """Draw new configurations within the budget (``overrun(params)``: their cost over the
        budget, known before training in work units): uniform draws are redrawn, the nevergrad
        sampler keeps its asks affordable."""
        self._overrun = overrun
        if isinstance(self.sampler, NevergradSearch):
            self.sampler.constrain(overrun)

    def fidelity(self, rung: int) -> Fidelity:
        rate = self.rungs[rung].rate
        if self.options.fidelity == "epochs":
            return Fidelity(epochs=rate)
        return Fidelity(subsample=rate)

    def ask(self) -> Suggestion:
        for k in range(len(self.rungs) - 2, -1, -1):
            config = self.rungs[k].promotable(self.options.eta)
            if config is not None:
                self.rungs[k].promoted.add(config)
                return self._asked(config, k + 1)
        params = check_params(self.space, self.sampler.ask())
        if self._overrun is not None and not isinstance(self.sampler, NevergradSearch):
            for _ in range(REDRAWS):  # uniform draws until an affordable one
                if self._overrun(params) <= 1:
                    break
                params = check_params(self.space, self.sampler.ask())
        self.configs.append(params)
        return self._asked(len(self.configs) - 1, 0)

    def _asked(self, config: int, rung: int) -> Suggestion:
        suggestion = Suggestion(dict(self.configs[config]), self.fidelity(rung))
        self._pending.append((config, rung, suggestion))
        return suggestion

    def tell(
        self,
        params: Mapping[str, float] | Suggestion,
        objectives: Sequence[float],
        feasible: bool,
    ) -> None:
        values = check_objectives(objectives, 1)
        loss = float(values[0])
        ok = bool(feasible) and math.isfinite(loss)
        if not isinstance(params, Suggestion):  # the default (full fidelity), never asked
            self.archive.add(check_params(self.space, params), values, feasible)
            return
        config, rung = self._match(params)
        if ok:
            self.rungs[rung].results.append((config, loss))
        if rung == 0:
            self.sampler.tell(self.configs[config], [loss if ok else math.inf], ok)
        if rung == len(self.rungs) - 1:
            self.archive.add(self.configs[config], values, feasible)

    def _match(self, told: Suggestion) -> tuple[int, int]:
        key = (params_key(self.space, check_params(self.space, told.params)), told.fidelity)
        for i, (config, rung, asked) in enumerate(self._pending):
            if (params_key(self.space, asked.params), asked.fidelity) == key:
                del self._pending[i]
                return config, rung
        # told without being asked (a journal written by another search): a new configuration
        rates = [r.rate for r in self.rungs]
        rate = (
            told.fidelity.epochs if self.options.fidelity == "epochs" else told.fidelity.subsample
        )
        rung = int(np.argmin([abs(r - rate) for r in rates]))
        self.configs.append(check_params(self.space, told.params))
        return len(self.configs) - 1, rung

    def best(self) -> list[Params]:
        """The best configuration trained at the top rung (a full training)."""
        return self.archive.best()


def make_sampler(
    space: Mapping[str, Dimension], options: AshaOptions, *, seed: int, budget: int
) -> Any:
    if options.sampler == "nevergrad":
        return NevergradSearch(space, NevergradOptions(), seed=seed, budget=max(budget, 1))
    return RandomSearch(space, 1, RandomOptions(), seed)


class Asha(embench.Optimiser):
    """Asynchronous successive halving over subsample (or epoch) rungs; one objective."""

    name = "asha"
    Options = AshaOptions
    multi_objective = False

    @classmethod
    def fidelities(cls, options: Any) -> frozenset[str]:
        return frozenset({options.fidelity if options is not None else "subsample"})

    def create(self, space, n_objectives, options, *, seed, budget) -> AshaSearch:
        if n_objectives != 1:
            raise ConfigError(
                f"the asha optimiser handles one objective, got {n_objectives}: scalarise them"
            )
        return AshaSearch(space, options or AshaOptions(), seed=seed, budget=budget)


@embench.hookimpl
def register_optimisers(register):
    register(Asha)
