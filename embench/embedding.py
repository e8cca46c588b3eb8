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
        # Normalise only (int64 indices, contiguous float32 vectors): the rules an embedding of
        # a catalogue keeps live in embench.contract, checked where a plugin hands one over.
        songs = np.asarray(self.song_index)
        vectors = np.asarray(self.vectors)
        if np.issubdtype(songs.dtype, np.integer):
            songs = songs.astype(np.int64, copy=False)
        if np.issubdtype(vectors.dtype, np.number) and not np.iscomplexobj(vectors):
            with np.errstate(over="ignore"):  # too large for float32: inf, refused by the rules
                vectors = np.ascontiguousarray(vectors, dtype=np.float32)
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
