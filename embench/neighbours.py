"""Exact top-k neighbours by cosine similarity, computed once per embedding and shared."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Neighbours:
    """``rows[i]`` lists the embedding rows nearest to row ``i`` (best first, -1 padded)."""

    rows: np.ndarray
    scores: np.ndarray

    @property
    def k(self) -> int:
        return int(self.rows.shape[1])


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1)).astype(np.float32, copy=False)


def exact_top_k(vectors: np.ndarray, k: int, *, threads: int = 1, block: int = 1024) -> Neighbours:
    """The ``k`` most cosine-similar other rows of every row.

    Ties are broken by the lower row index; when ``k`` exceeds ``n - 1`` the rest is padded
    with -1 (score -inf).
    """
    unit = normalise(np.asarray(vectors, dtype=np.float32))
    n = unit.shape[0]
    k_eff = min(k, n - 1)
    rows = np.full((n, k), -1, dtype=np.int32)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    if k_eff <= 0:
        return Neighbours(rows, scores)
    for start in range(0, n, block):
        stop = min(n, start + block)
        sims = unit[start:stop] @ unit.T
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        # Stable sort of negated scores puts ties in ascending row order.
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k_eff]
        rows[start:stop, :k_eff] = order
        scores[start:stop, :k_eff] = np.take_along_axis(sims, order, axis=1)
    return Neighbours(rows, scores)
