"""What a metric receives: the dataset, the split, the embedding, seeded generators, neighbours.

Neighbours
----------
Before any metric computes, :func:`embench.evaluation.evaluate` asks each metric which songs
need neighbours and with what ``k`` (``Metric.neighbours``), computes the exact top-k of the
union of those songs once (at the largest ``k``) and keeps it here; a metric then reads its
songs' neighbours with :meth:`EvalContext.song_neighbours`.

While a metric computes inside ``evaluate``, reading the neighbours of a song it did not
request, or more neighbours than its ``k``, is a :class:`NeighboursNotRequested` error naming
the metric: on a large catalogue an undeclared read would be a hidden neighbour search
(and another metric's request happening to cover it would hide the bug). A context used on its
own (a test, a notebook) declares nothing: there neighbours are computed on demand, for the
songs asked only, and kept for later reads.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from embench.data.dataset import Dataset, Sequences
from embench.data.split import Split
from embench.embedding import ContractError, Embedding
from embench.neighbours import Neighbours, exact_top_k
from embench.sampling import PLAYED_SONGS, draw, sample_keys

#: A neighbour search: ``(vectors, k, *, queries, threads) -> Neighbours`` where result row
#: ``i`` belongs to embedding row ``queries[i]`` (every row when ``queries`` is None).
TopK = Callable[..., Neighbours]


class NeighboursNotRequested(ContractError):
    """A metric read neighbours its ``neighbours`` declaration did not request."""


@dataclass(frozen=True, eq=False)
class _Allowed:
    """The neighbours one metric declared: a mask over dataset songs (None: all) and k."""

    metric: str
    mask: np.ndarray | None
    k: int


@dataclass(eq=False)
class EvalContext:
    """Everything a metric may read. ``part`` is the held-out part scored ("validation"/"test").

    ``top_k`` is the neighbour search (default: the exact :func:`~embench.neighbours.exact_top_k`).
    """

    dataset: Dataset
    split: Split
    embedding: Embedding
    part: str = "test"
    seed: int = 0
    threads: int = 1
    top_k: TopK = exact_top_k
    _rows: np.ndarray | None = field(default=None, init=False, repr=False)
    _popularity: np.ndarray | None = field(default=None, init=False, repr=False)
    _pairs: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False)
    _slot: np.ndarray | None = field(default=None, init=False, repr=False)  # row -> table row
    _table: np.ndarray | None = field(default=None, init=False, repr=False)  # neighbour rows
    _k: int = field(default=0, init=False, repr=False)
    _allowed: _Allowed | None = field(default=None, init=False, repr=False)
    _played_samples: dict = field(default_factory=dict, init=False, repr=False)  # cap -> songs

    @property
    def held_out(self) -> Sequences:
        return self.split.held_out(self.part)

    @property
    def held_out_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Every consecutive (song, next song) pair of the held-out sequences (read-only)."""
        if self._pairs is None:
            queries, targets = self.held_out.consecutive_pairs()
            self._pairs = (_read_only(queries), _read_only(targets))
        return self._pairs

    @property
    def rows(self) -> np.ndarray:
        """Dataset song index -> embedding row (-1 where the song has no vector); read-only."""
        if self._rows is None:
            self._rows = _read_only(self.embedding.rows_of(self.dataset.n_songs))
        return self._rows

    @property
    def popularity(self) -> np.ndarray:
        """Plays of each song in the training corpus (read-only)."""
        if self._popularity is None:
            self._popularity = _read_only(self.split.train.counts(self.dataset.n_songs))
        return self._popularity

    def rng(self, name: str) -> np.random.Generator:
        """A generator seeded by the benchmark seed and ``name`` (stable across runs)."""
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def sample(self, name: str, size: int, cap: int | None) -> np.ndarray:
        """Positions of a seeded sample of at most ``cap`` of ``size`` items (ascending; every
        position when ``size <= cap`` or ``cap`` is None): those with the smallest
        :meth:`sample_keys` of ``name``.

        Draw from the data (pairs of the split, songs of the training corpus), never from an
        embedding: the sample then depends on the seed, ``name`` and ``size`` only, and every
        configuration of a run is scored on the same items. Name the population, not the
        metric (``embench.sampling.PLAYED_SONGS``, ``IN_SET_PAIRS``, ``HELD_OUT_PAIRS``):
        metrics drawing from one population then get nested samples, whose neighbours are
        searched once.
        """
        return draw(self.rng(name), int(size), cap)

    def sample_keys(self, name: str, size: int) -> np.ndarray:
        """The permanent random keys behind :meth:`sample` of ``name`` (one per item, uniform
        in [0, 1)): for samples per stratum that nest with the population's overall sample."""
        return sample_keys(self.rng(name), int(size))

    @property
    def played_songs(self) -> np.ndarray:
        """Dataset indices of the songs played in the training corpus, ascending."""
        return np.flatnonzero(self.popularity > 0)

    def sample_played_songs(self, cap: int | None) -> np.ndarray:
        """A seeded sample of at most ``cap`` played songs (ascending; nested across callers;
        drawn once per cap, as every metric asks for it in ``neighbours`` and ``compute``)."""
        if cap not in self._played_samples:
            played = self.played_songs
            sample = played[self.sample(PLAYED_SONGS, len(played), cap)]
            self._played_samples[cap] = _read_only(sample)
        return self._played_samples[cap]

    # -- neighbours ------------------------------------------------------------------------

    @property
    def neighbours_k(self) -> int:
        """How many neighbours per song are kept (0 before any is computed)."""
        return self._k

    @property
    def neighbour_songs(self) -> np.ndarray:
        """Dataset song indices whose neighbours have been computed, ascending."""
        if self._slot is None:
            return np.zeros(0, dtype=np.int64)
        return np.sort(self.embedding.song_index[self._slot >= 0])

    def compute_neighbours(self, songs: np.ndarray | None, k: int) -> None:
        """Compute and keep the top-``k`` of ``songs`` (dataset song indices; None: every song).

        Songs without a vector are skipped; songs already kept at ``k`` or more are not
        recomputed. A larger ``k`` than kept recomputes the kept songs at the new ``k``.
        """
        if k <= 0:
            return
        if songs is None:
            rows = np.arange(len(self.embedding), dtype=np.int64)
        else:
            songs = self._valid_songs(songs)
            rows = self.rows[songs]
            rows = rows[rows >= 0]
        self._ensure(rows, k)

    def song_neighbours(self, songs: np.ndarray, k: int) -> np.ndarray:
        """Top-``k`` neighbours of each song as dataset song indices; -1 for unknown/padding.

        Neighbours are ranked by cosine similarity (ties: lower embedding row first); a song
        without a vector has none.
        """
        songs = self._valid_songs(songs)
        self._check_allowed(songs, k)
        out = np.full((len(songs), k), -1, dtype=np.int64)
        rows = self.rows[songs]
        known = rows >= 0
        if known.any() and k > 0:
            self._ensure(rows[known], k)
            assert self._slot is not None and self._table is not None
            neighbour_rows = self._table[self._slot[rows[known]], :k]
            out[known] = np.where(
                neighbour_rows >= 0, self.embedding.song_index[neighbour_rows], -1
            )
        return out

    @contextmanager
    def declared_neighbours(self, metric: str, songs: np.ndarray | None, k: int) -> Iterator[None]:
        """Within the block, reads outside ``songs`` (None: all) or beyond ``k`` are errors.

        ``evaluate`` wraps each metric's ``compute`` in this with the metric's own request
        (``k = 0``: the metric requested no neighbours).
        """
        mask = None
        if songs is not None:
            mask = np.zeros(self.dataset.n_songs, dtype=bool)
            mask[self._valid_songs(songs)] = True
        previous, self._allowed = self._allowed, _Allowed(metric, mask, k)
        try:
            yield
        finally:
            self._allowed = previous

    def _valid_songs(self, songs) -> np.ndarray:
        songs = np.asarray(songs)
        if songs.size == 0:
            return np.zeros(0, dtype=np.int64)
        if songs.ndim != 1 or not np.issubdtype(songs.dtype, np.integer):
            raise ContractError(
                f"songs must be a 1-D array of dataset song indices, got {songs.dtype} "
                f"{songs.shape}"
            )
        n = self.dataset.n_songs
        if songs.min() < 0 or songs.max() >= n:
            bad = songs[(songs < 0) | (songs >= n)][0]
            raise ContractError(
                f"song index {bad} is outside the catalogue of {n} songs "
                f"(songs are dataset song indices 0..{n - 1})"
            )
        return songs.astype(np.int64, copy=False)

    def _check_allowed(self, songs: np.ndarray, k: int) -> None:
        allowed = self._allowed
        if allowed is None:
            return
        if allowed.k == 0:
            raise NeighboursNotRequested(
                f"metric '{allowed.metric}' read neighbours, but its neighbours() requested "
                "none: return a NeighbourRequest for the songs it reads"
            )
        if k > allowed.k:
            raise NeighboursNotRequested(
                f"metric '{allowed.metric}' read the top-{k} neighbours, but its neighbours() "
                f"requested k={allowed.k}"
            )
        if allowed.mask is not None:
            outside = songs[~allowed.mask[songs]]
            if len(outside):
                song_id = self.dataset.songs["song_id"].iloc[int(outside[0])]
                raise NeighboursNotRequested(
                    f"metric '{allowed.metric}' read the neighbours of "
                    f"{len(np.unique(outside))} song(s) its neighbours() did not request "
                    f"(e.g. song '{song_id}', index {int(outside[0])}): request every song "
                    "whose neighbours it reads"
                )

    def _ensure(self, rows: np.ndarray, k: int) -> None:
        """Make sure the top-``k`` of embedding ``rows`` are kept (one search for those missing)."""
        n = len(self.embedding)
        if self._slot is None:
            self._slot = np.full(n, -1, dtype=np.int64)
        if k > self._k:  # recompute what is kept at the larger k (one search, below)
            rows = np.union1d(rows, np.flatnonzero(self._slot >= 0))
            self._slot[:] = -1
            self._table = None
            self._k = k
        missing = np.unique(rows[self._slot[rows] < 0])
        if len(missing) == 0:
            return
        queries = None if len(missing) == n else missing
        found = self.top_k(self.embedding.vectors, self._k, queries=queries, threads=self.threads)
        start = 0 if self._table is None else len(self._table)
        self._table = (
            found.rows if self._table is None else np.concatenate([self._table, found.rows])
        )
        self._slot[missing] = np.arange(start, start + len(missing))


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array
