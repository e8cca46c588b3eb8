"""The one Pareto-front (non-dominated set) implementation of embench.

Row ``q`` *dominates* row ``p`` when ``q`` is nowhere worse and somewhere strictly better. The
front is the rows no other row dominates; equal rows do not dominate each other, so duplicates
of a front point are all on the front. The study's chosen configurations, the optimisers'
``best()`` and the report's Pareto plot all use :func:`non_dominated`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BLOCK = 256  # rows compared at once: memory is BLOCK x n x objectives booleans


def non_dominated(points, directions: Sequence[str] | None = None) -> np.ndarray:
    """Boolean mask of the rows of ``points`` that no other row dominates.

    ``points``: an ``(n, m)`` array of finite objective values (a 1-D array is one objective).
    ``directions``: ``"max"`` or ``"min"`` per column; by default every column is minimised.
    """
    F = np.asarray(points, dtype=float)
    if F.ndim == 1:
        F = F[:, None]
    if F.ndim != 2:
        raise ValueError(f"points must be a 2-D array, got shape {F.shape}")
    if len(F) == 0:
        return np.zeros(0, dtype=bool)
    if directions is not None:
        if len(directions) != F.shape[1]:
            raise ValueError(f"{len(directions)} directions for {F.shape[1]} objectives")
        unknown = [d for d in directions if d not in ("max", "min")]
        if unknown:
            raise ValueError(f"directions must be 'max' or 'min', got {unknown}")
        F = np.where([d == "max" for d in directions], -F, F)
    n = len(F)
    mask = np.ones(n, dtype=bool)
    for start in range(0, n, BLOCK):
        rows = F[start : start + BLOCK, None, :]  # (b, 1, m) against every row (1, n, m)
        nowhere_worse = np.all(F[None, :, :] <= rows, axis=2)
        somewhere_better = np.any(F[None, :, :] < rows, axis=2)
        mask[start : start + BLOCK] = ~np.any(nowhere_worse & somewhere_better, axis=1)
    return mask


def pareto_indices(points, directions: Sequence[str] | None = None) -> list[int]:
    """The indices of the non-dominated rows of ``points``, in their original order."""
    return [int(i) for i in np.flatnonzero(non_dominated(points, directions))]
