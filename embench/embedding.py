"""What an embedder returns: song vectors keyed by dataset song index, and its contract errors.

A module of its own so that both the plugin contract (:mod:`embench.api`) and what a metric
receives (:mod:`embench.context`) can import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class BudgetExceeded(Exception):
    """Raised by an embedder that stops early because ``monitor.should_stop()`` turned true."""


class ContractError(ValueError):
    """A plugin returned something that breaks the contract (wrong shape, NaN, unknown songs)."""


@dataclass(frozen=True, eq=False)
class Embedding:
    """Song vectors: row ``i`` of ``vectors`` belongs to dataset song index ``song_index[i]``.

    Songs the model never saw are simply absent; metrics count them as misses.
    """

    song_index: np.ndarray
    vectors: np.ndarray

    def __post_init__(self) -> None:
        songs = np.asarray(self.song_index)
        vectors = np.asarray(self.vectors)
        if songs.ndim != 1 or not np.issubdtype(songs.dtype, np.integer):
            raise ContractError(
                f"song_index must be a 1-D integer array, got {songs.dtype} {songs.shape}"
            )
        if vectors.ndim != 2:
            raise ContractError(f"vectors must be a 2-D array, got shape {vectors.shape}")
        if vectors.shape[0] != songs.shape[0]:
            raise ContractError(
                f"{vectors.shape[0]} vectors for {songs.shape[0]} songs: shapes must agree"
            )
        if vectors.shape[1] == 0:
            raise ContractError("vectors have dimension 0")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not np.isfinite(vectors).all():
            bad = int((~np.isfinite(vectors).all(axis=1)).sum())
            raise ContractError(f"{bad} vectors contain NaN or infinite values")
        songs = songs.astype(np.int64, copy=False)
        if len(np.unique(songs)) != len(songs):
            raise ContractError("song_index lists a song more than once")
        object.__setattr__(self, "song_index", songs)
        object.__setattr__(self, "vectors", vectors)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.song_index.shape[0])

    def rows_of(self, n_songs: int) -> np.ndarray:
        """Map dataset song index -> embedding row (-1 where the song has no vector)."""
        if len(self) and (self.song_index.min() < 0 or self.song_index.max() >= n_songs):
            raise ContractError(f"song_index refers to songs outside the catalogue of {n_songs}")
        rows = np.full(n_songs, -1, dtype=np.int64)
        rows[self.song_index] = np.arange(len(self), dtype=np.int64)
        return rows
