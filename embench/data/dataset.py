"""The in-memory dataset every reader produces: CSR sequences of song indices + a song table."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from embench.errors import DataError

SONG_COLUMNS = ("song_id", "title", "artist", "genre")
T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Sequences:
    """Sequences of song indices in CSR form: sequence ``i`` is ``songs[indptr[i]:indptr[i+1]]``.

    ``song_ids``, when set, names every song index (the dataset's ``song_id`` column): the
    training corpus carries it so an embedder can match songs to outside data by id.

    The arrays are treated as immutable: :meth:`digest` and :meth:`memo` remember what was
    derived from them (corpus statistics, a training file) for the life of the object.
    """

    indptr: np.ndarray
    songs: np.ndarray
    song_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        indptr = np.ascontiguousarray(self.indptr, dtype=np.int64)
        songs = np.ascontiguousarray(self.songs, dtype=np.int32)
        if indptr.ndim != 1 or len(indptr) == 0 or indptr[0] != 0 or indptr[-1] != len(songs):
            raise ValueError("malformed CSR sequences")
        if np.any(np.diff(indptr) < 0):
            raise ValueError("malformed CSR sequences: decreasing indptr")
        object.__setattr__(self, "indptr", indptr)
        object.__setattr__(self, "songs", songs)
        object.__setattr__(self, "_memo", {})

    def __getstate__(self) -> dict[str, Any]:
        # What was derived stays behind: a pickled corpus (a Dask worker's copy) recomputes it.
        state = dict(self.__dict__)
        state["_memo"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def digest(self) -> str:
        """A hex digest of the sequences (the song indices and where sequences start): equal
        corpora have equal digests, in any process. Computed once per object."""
        return self.memo(("digest",), self._compute_digest)

    def _compute_digest(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update(np.int64(len(self.indptr)).tobytes())
        h.update(self.indptr.data.cast("B"))  # contiguous (__post_init__): no copy
        h.update(self.songs.data.cast("B"))
        return h.hexdigest()

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, remembered under ``key`` for the life of this object: statistics of a
        training corpus are computed once and reused by every trial (in this process)."""
        store: dict[Hashable, Any] = self.__dict__["_memo"]  # set by __post_init__
        if key not in store:
            store[key] = compute()
        return store[key]

    @classmethod
    def from_lists(cls, sequences: Sequence[Sequence[int]]) -> Sequences:
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        songs = (
            np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
            if len(sequences) and indptr[-1]
            else np.zeros(0, dtype=np.int64)
        )
        return cls(indptr, songs)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.songs[self.indptr[i] : self.indptr[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    @property
    def n_events(self) -> int:
        return int(self.indptr[-1])

    def take(self, ids: np.ndarray) -> Sequences:
        """The sequences with the given indices, in that order.

        Vectorised, with one extra byte per event when ``ids`` increase strictly (a split's
        parts), else eight (the position of every kept event).
        """
        ids = np.asarray(ids, dtype=np.int64)
        lengths = self.lengths[ids]
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        if len(ids) and np.all(ids[1:] > ids[:-1]):
            chosen = np.zeros(len(self), dtype=bool)
            chosen[ids] = True
            return Sequences(indptr, self.songs[np.repeat(chosen, self.lengths)])
        # Position of every kept event: +1 within a sequence, a jump at each sequence's start.
        nonempty = lengths > 0
        starts, kept = self.indptr[ids][nonempty], lengths[nonempty]
        position = np.ones(int(indptr[-1]), dtype=np.int64)
        if len(starts):
            position[indptr[:-1][nonempty]] = starts - np.concatenate(
                [[0], starts[:-1] + kept[:-1] - 1]
            )
        np.cumsum(position, out=position)
        return Sequences(indptr, self.songs[position])

    def drop_last(self) -> Sequences:
        """Each sequence of length >= 2 without its last song (shorter ones unchanged)."""
        lengths = self.lengths
        keep = np.ones(len(self.songs), dtype=bool)
        long_enough = lengths >= 2
        keep[self.indptr[1:][long_enough] - 1] = False
        new_lengths = lengths - long_enough
        return Sequences(np.concatenate([[0], np.cumsum(new_lengths)]), self.songs[keep])

    def last_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(second-to-last, last) song of every sequence of length >= 2."""
        ends = self.indptr[1:][self.lengths >= 2]
        return self.songs[ends - 2].astype(np.int64), self.songs[ends - 1].astype(np.int64)

    def consecutive_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Every ordered consecutive pair (s_i, s_i+1) within a sequence."""
        if len(self.songs) < 2:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        first = np.ones(len(self.songs) - 1, dtype=bool)
        # A pair crossing a sequence boundary starts at the last song of a sequence.
        boundary = self.indptr[1:-1] - 1
        first[boundary[(boundary >= 0) & (boundary < len(first))]] = False
        idx = np.flatnonzero(first)
        return self.songs[idx].astype(np.int64), self.songs[idx + 1].astype(np.int64)

    def counts(self, n_songs: int) -> np.ndarray:
        """How often each song occurs."""
        return np.bincount(self.songs, minlength=n_songs).astype(np.int64)


@dataclass(eq=False)
class Dataset:
    """Sequences of song indices plus a song table indexed 0..n-1.

    ``songs`` has columns ``song_id`` (string), ``title``, ``artist``, ``genre`` (nullable
    strings) and ``plays`` (occurrences in all sequences). ``play_log``, when present, has the
    columns ``seed_song``, ``recommended_song`` (song indices), ``organic_plays`` and
    ``successful_plays``.
    """

    name: str
    sequences: Sequences
    songs: pd.DataFrame
    play_log: pd.DataFrame | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.songs = normalise_song_table(self.songs)
        n = len(self.songs)
        if len(self.sequences) == 0 or self.sequences.n_events == 0:
            raise DataError(f"dataset '{self.name}' is empty: it has no sequences")
        if n == 0:
            raise DataError(f"dataset '{self.name}' has no songs")
        s = self.sequences.songs
        if s.min() < 0 or s.max() >= n:
            raise DataError(
                f"dataset '{self.name}': sequences mention song indices outside the song table "
                f"(0..{n - 1}, found {int(s.min())}..{int(s.max())})"
            )
        self.songs["plays"] = self.sequences.counts(n)

    @property
    def n_songs(self) -> int:
        return len(self.songs)

    def has_labels(self, column: str) -> bool:
        return column in self.songs and bool(self.songs[column].notna().any())


def normalise_song_table(songs: pd.DataFrame) -> pd.DataFrame:
    """Copy with the canonical columns and dtypes; ``song_id`` must be present and unique."""
    if "song_id" not in songs:
        raise DataError("the song table has no 'song_id' column")
    out = pd.DataFrame({"song_id": songs["song_id"].astype(str).to_numpy()})
    for column in SONG_COLUMNS[1:]:
        values = songs[column] if column in songs else pd.Series([None] * len(songs))
        out[column] = pd.array(values.to_numpy(dtype=object), dtype="string")
    duplicated = out["song_id"].duplicated()
    if duplicated.any():
        raise DataError(
            f"song id '{out['song_id'][duplicated].iloc[0]}' appears twice in the song table"
        )
    return out
