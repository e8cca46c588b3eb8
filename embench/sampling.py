"""Sampled figures: seeded samples of queries and the 95% confidence intervals of their means.

A metric that scores a *sample* of its queries (next-song pairs, HardNeg's songs, coherence's
songs, popularity's pairs) reports, beside each sampled value, an :class:`Interval`: how many
queries it scored (``n``), how many the exact figure would score (``population``) and the 95%
confidence interval of the exact figure. ``n == population`` means the figure is exact (the
interval then has width 0).

Samples are drawn from the *data* (the split, the training corpus), never from an embedding,
with a generator seeded by the benchmark seed and the population's name
(:meth:`embench.EvalContext.sample`): every configuration of a run is scored on the same
queries, so per-query values pair up for significance tests. A sample is the items with the
smallest permanent random keys (:func:`sample_keys`), so metrics drawing from the same population
(:data:`PLAYED_SONGS`, :data:`IN_SET_PAIRS`, :data:`HELD_OUT_PAIRS`) get nested samples and the
shared neighbour search has as few distinct songs to answer as the caps allow.

Intervals are normal-approximation intervals of a mean under simple random sampling without
replacement, with the finite population correction: ``mean +- 1.96 s / sqrt(n) sqrt(1 - n/N)``
(``s`` the sample standard deviation). A value made of several independently sampled parts
(HitRate, the mean of in-set and out-of-set; a stratified sample) combines the parts'
variances (:func:`combine`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embench.embedding import ContractError

#: Sample names of the populations built-in metrics share (see :func:`sample_keys`): the songs
#: played in the training corpus (ascending song index), the in-set pairs
#: (``split.in_set``) and the held-out consecutive pairs (``EvalContext.held_out_pairs``).
PLAYED_SONGS = "songs.played"
IN_SET_PAIRS = "pairs.in_set"
HELD_OUT_PAIRS = "pairs.held_out"

__all__ = [
    "HELD_OUT_PAIRS",
    "IN_SET_PAIRS",
    "PLAYED_SONGS",
    "Z95",
    "Estimate",
    "Interval",
    "cluster_ratio",
    "combine",
    "draw",
    "mean",
    "sample_keys",
]

#: The two-sided 95% quantile of the standard normal distribution.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    """The precision of one value: its sample size and 95% confidence interval.

    ``n``: the queries (songs, pairs) scored; ``population``: the queries the exact value scores
    (``n == population``: the value is exact). ``low``/``high``: the 95% confidence interval of
    the exact value (NaN when it cannot be estimated, e.g. from a single query).
    """

    n: int
    population: int
    low: float
    high: float

    def __post_init__(self) -> None:
        for name in ("n", "population"):
            value = getattr(self, name)
            try:
                if isinstance(value, bool):
                    raise TypeError
                value = operator.index(value)
            except TypeError:
                raise ContractError(
                    f"an interval's {name} must be an integer, got {value!r}"
                ) from None
            object.__setattr__(self, name, value)
        if self.n < 0 or self.population < self.n:
            raise ContractError(
                f"an interval needs 0 <= n <= population, got n={self.n}, "
                f"population={self.population}"
            )
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise ContractError(f"an interval's {name} must be a number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if math.isnan(self.low) != math.isnan(self.high):
            raise ContractError(f"an interval's low and high are both NaN or neither: {self}")
        if self.low > self.high or math.isinf(self.low) or math.isinf(self.high):
            raise ContractError(
                f"an interval needs finite low <= high, got [{self.low}, {self.high}]"
            )

    @property
    def sampled(self) -> bool:
        """True when the value comes from a sample (fewer queries than the population)."""
        return self.n < self.population

    @property
    def half_width(self) -> float:
        """Half the interval's width (NaN when unknown)."""
        return (self.high - self.low) / 2

    def to_json(self) -> dict[str, float | int | None]:
        def number(x: float) -> float | None:
            return None if math.isnan(x) else x

        return {
            "n": self.n,
            "population": self.population,
            "low": number(self.low),
            "high": number(self.high),
        }

    @classmethod
    def from_json(cls, data: dict) -> Interval:
        def number(x: float | None) -> float:
            return math.nan if x is None else float(x)

        return cls(
            int(data["n"]), int(data["population"]), number(data["low"]), number(data["high"])
        )


@dataclass(frozen=True)
class Estimate:
    """A sampled value with the variance of its estimator, before it becomes an interval."""

    value: float
    variance: float
    n: int
    population: int

    def interval(self) -> Interval:
        """The 95% normal-approximation interval ``value +- 1.96 sqrt(variance)``."""
        if math.isnan(self.value) or math.isnan(self.variance):
            return Interval(self.n, self.population, math.nan, math.nan)
        half = Z95 * math.sqrt(max(self.variance, 0.0))
        return Interval(self.n, self.population, self.value - half, self.value + half)


def mean(values: np.ndarray, population: int) -> Estimate:
    """The mean of ``values``, a simple random sample (without replacement) of a population of
    ``population`` queries, and its variance ``s^2 / n (1 - n / N)``.

    With ``n == N`` the variance is 0 (the exact value); with a single value of a larger
    population it is unknown (NaN); with none, the value is NaN.
    """
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n > population:
        raise ValueError(f"a sample of {n} from a population of {population}")
    if n == 0:
        return Estimate(math.nan, math.nan, 0, int(population))
    value = float(x.mean())
    if n == population:
        return Estimate(value, 0.0, n, int(population))
    if n < 2:
        return Estimate(value, math.nan, n, int(population))
    variance = float(x.var(ddof=1)) / n * (1.0 - n / population)
    return Estimate(value, variance, n, int(population))


def combine(parts: Sequence[tuple[float, Estimate]]) -> Estimate:
    """``sum w_i x_i`` of independently sampled estimates ``x_i`` with fixed weights ``w_i``:
    variance ``sum w_i^2 var_i``; sizes and populations add up."""
    if not parts:
        return Estimate(math.nan, math.nan, 0, 0)
    value = sum(w * e.value for w, e in parts)
    variance = sum(w * w * e.variance for w, e in parts)
    return Estimate(
        float(value),
        float(variance),
        sum(e.n for _, e in parts),
        sum(e.population for _, e in parts),
    )


def cluster_ratio(
    values: np.ndarray,
    clusters: np.ndarray,
    strata: np.ndarray,
    population: int,
    exact_strata: np.ndarray | None = None,
) -> Estimate:
    """The mean of ``values`` when whole clusters were drawn within strata (two-stage sampling:
    e.g. artists within popularity strata, then songs within each artist).

    The variance is the linearised ("ultimate cluster") estimator of a ratio mean,
    ``sum_h a_h / (a_h - 1) sum_i (z_hi - mean_h z)^2`` with ``z_hi`` the residual total of
    cluster ``i`` of stratum ``h`` divided by ``n``. It counts both sampling stages and leaves
    out the first stage's finite population correction, so it errs on the wide side; a stratum
    listed in ``exact_strata`` (every cluster and every unit taken) contributes no variance.
    """
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, 0, int(population))
    value = float(x.mean())
    exact = set() if exact_strata is None else {int(s) for s in exact_strata}
    variance = 0.0
    for stratum in np.unique(strata):
        if int(stratum) in exact:
            continue
        inside = strata == stratum
        _, codes = np.unique(clusters[inside], return_inverse=True)
        z = np.bincount(codes, weights=x[inside] - value) / n
        a = len(z)
        if a < 2:
            return Estimate(value, math.nan, n, int(population))
        variance += a / (a - 1) * float(((z - z.mean()) ** 2).sum())
    return Estimate(value, variance, n, int(population))


def sample_keys(rng: np.random.Generator, size: int) -> np.ndarray:
    """Permanent random keys of a population's ``size`` items (uniform in [0, 1)).

    The ``cap`` items with the smallest keys are a uniform sample without replacement; two
    samples drawn from the same keys are *nested* (the smaller inside the larger), and a
    sample per stratum (the smallest keys of each stratum) overlaps the overall one as much as
    possible. Metrics that draw from one population with one generator therefore request
    neighbours for as few distinct songs as their caps allow.
    """
    return rng.random(int(size))


def draw(rng: np.random.Generator, size: int, cap: int | None) -> np.ndarray:
    """Positions ``0..size-1`` of a population, or the ``cap`` positions with the smallest
    :func:`sample_keys` when there are more (a uniform sample without replacement; ascending)."""
    if cap is None or size <= cap:
        return np.arange(size, dtype=np.int64)
    keys = sample_keys(rng, size)
    return np.sort(np.argpartition(keys, cap - 1)[:cap]).astype(np.int64)
