"""Search spaces: :class:`Dimension` and the helpers every optimiser shares.

An embedder declares ``search_space = {"name": Dimension(low, high, log=..., integer=...)}``; a
benchmark's ``[study.space]`` may narrow it. The helpers below are public so that a third-party
optimiser samples, checks and rounds parameters exactly as the built-in ones do:

- :func:`sample_uniform`: one uniform draw (log-uniform on log dims, every integer equally likely);
- :func:`check_params`: validate told params (same names, finite numbers), clamped and cast;
- :func:`cast`, :func:`integer_bounds`, :func:`params_key`, :func:`check_objectives`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Params = dict[str, float]
"""Suggested or told parameters: one plain ``int`` or ``float`` per dimension name."""


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
