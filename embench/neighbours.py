"""Exact top-k neighbours by cosine similarity, computed once per embedding and shared.

How :func:`exact_top_k` is fast and still exact
-----------------------------------------------
Every answer is the exact top-k under the total order (score descending, row ascending). Each
candidate ``(score, column)`` is packed into one int64 *key* whose ascending order is exactly
that order, so partitions and sorts of keys never need a tie rule. Scores are float32 dot
products of the float32 unit vectors (as the plain ``Q @ X.T`` gives them).

**Pruning with group maxima.** Columns are split into ``m`` strided groups of ``c`` (group ``g``
holds columns ``g, g + m, ..., g + (c - 1) m``), so ``S.reshape(B, c, m).max(axis=1)`` is a
plain SIMD reduction. Let ``T`` be a row's k-th largest group maximum: ``k`` groups each hold an
element ``>= T``, so the k-th best score is ``>= T``, and every element ``> T`` sits in a group
whose maximum is ``> T``. When exactly ``k`` groups reach ``T`` (the usual case) the exact top-k
is among their ``k * c`` elements; rows where more groups tie at ``T`` take a per-row path (the
elements ``> T``, then the lowest-indexed elements ``== T``).

**Query blocks**: a pool of ``threads`` workers takes blocks of query rows from one shared
iterator; each computes ``S = Q @ X.T`` into its own buffer (catalogue padded with -inf to a
multiple of ``c``, the query's own column set to -inf) and runs the pruned selection above. BLAS
runs one thread per worker, so one worker's matrix product overlaps another's selection. A
block's buffer is bounded by :data:`BLOCK_BYTES`.

**Column tiles** (large catalogues): a block of :data:`TILE_QUERIES` query rows by the whole
catalogue would not fit in the buffer, and a block of a few rows makes a matrix product that
reads the whole catalogue for a few queries (a quarter of the arithmetic rate of a square one).
The catalogue is then cut into tiles of ``T`` columns (a multiple of ``c``, ``T / c > k``): the
first tile's exact top-k comes from the selection above, and each later tile only offers the
elements above the row's current k-th score (its *threshold*), found through the tile's group
maxima, merged with the kept keys. Tiles come in ascending column order, so an element equal
to the threshold has a larger column than the kept k-th and never enters: the answer is the same
exact top-k under the same total order.

(A symmetric variant that computes each tile ``X_I X_J^T`` once for both its rows and its columns
halves the arithmetic, but its streaming per-row selection cost more than it saved in numpy on
a 50,000 x 100 catalogue, so it was dropped.)
"""

from __future__ import annotations

import math
import operator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

import numpy as np

#: Target size of one worker's similarity buffer (bytes); bounds memory on any catalogue.
BLOCK_BYTES = 48 << 20
#: Query rows per block when the catalogue is cut into column tiles.
TILE_QUERIES = 512
#: Tiles are used when an untiled block would hold fewer query rows than this (above about
#: 200,000 songs): such thin matrix products run at a fraction of a square one's rate (1M
#: songs, 4,096 queries, k = 100: 2.8 ms per query tiled, 9.5 ms untiled, in one run).
TILE_BELOW_ROWS = 64
#: Key above every real key: an empty slot of a row's kept top-k.
_EMPTY_KEY = np.iinfo(np.int64).max
#: Default group size aims at about this many groups per kept neighbour.
GROUPS_PER_NEIGHBOUR = 64
#: Below this many multiply-adds the BLAS thread limit is not worth setting.
_LIMIT_BLAS_ABOVE = 1 << 24
_LOW32 = np.int64(0xFFFFFFFF)


@dataclass(frozen=True, eq=False)
class Neighbours:
    """``rows[i]`` lists the embedding rows nearest to row ``i`` (best first, -1 padded)."""

    rows: np.ndarray
    scores: np.ndarray

    @property
    def k(self) -> int:
        return int(self.rows.shape[1])


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero); float32.

    The norm is taken in float64, so large float32 entries do not overflow to a zero row.
    """
    wide = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(wide, axis=-1, keepdims=True)
    return (wide / np.where(norms > 0, norms, 1)).astype(np.float32)


def default_group(n: int, k: int) -> int:
    """Group size ``c`` for ``n`` catalogue rows and ``k`` neighbours (1 = no grouping)."""
    if k <= 0 or n <= 0:
        return 1
    ratio = n / (GROUPS_PER_NEIGHBOUR * k)
    if ratio < 1.5:
        return 1
    return int(min(16, 2 ** round(math.log2(ratio))))


def exact_top_k(
    vectors: np.ndarray,
    k: int,
    *,
    threads: int = 1,
    block: int = 1024,
    queries: np.ndarray | None = None,
    group: int | None = None,
    tile: int | None = None,
) -> Neighbours:
    """The ``k`` most cosine-similar other rows of every row (or of the rows in ``queries``).

    Ties are broken by the lower row index; when ``k`` exceeds ``n - 1`` the rest is padded
    with -1 (score -inf). Zero rows have cosine 0 with every row.

    ``threads`` workers process blocks of at most ``block`` rows (fewer when a block's
    similarity buffer would exceed :data:`BLOCK_BYTES`). ``queries`` selects query rows (result
    row ``i`` belongs to ``queries[i]``); ``group`` overrides the column group size of the
    pruning step (1 disables grouping) and ``tile`` the columns per tile (None: tiles only when
    a block of :data:`TILE_QUERIES` rows would not fit in the buffer); both mainly for tests.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array, got shape {vectors.shape}")
    k = operator.index(k)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    threads = max(1, operator.index(threads))
    block = operator.index(block)
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    if group is not None and operator.index(group) < 1:
        raise ValueError(f"group must be >= 1, got {group}")
    if tile is not None and operator.index(tile) < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    unit = normalise(vectors)
    if not np.isfinite(unit).all():
        raise ValueError("vectors contain NaN or infinite values")
    n, d = unit.shape
    if queries is None:
        query_rows = None
        nq = n
    else:
        query_rows = np.asarray(queries)
        if query_rows.ndim != 1 or not (
            np.issubdtype(query_rows.dtype, np.integer) or query_rows.size == 0
        ):
            raise ValueError("queries must be a 1-D array of row indices")
        query_rows = query_rows.astype(np.int64)
        if query_rows.size and (query_rows.min() < 0 or query_rows.max() >= n):
            raise ValueError(f"queries must lie in [0, {n})")
        nq = len(query_rows)
    rows = np.full((nq, k), -1, dtype=np.int32)
    scores = np.full((nq, k), -np.inf, dtype=np.float32)
    k_eff = min(k, n - 1)
    if k_eff <= 0 or nq == 0:
        return Neighbours(rows, scores)

    c = default_group(n, k_eff) if group is None else operator.index(group)
    if query_rows is None:
        query_rows = np.arange(n, dtype=np.int64)
    width = _tile_width(n, nq, k_eff, c, block, threads, tile)
    plan: _QueryBlocks | _TiledBlocks
    if width is None:
        plan = _QueryBlocks(unit, k_eff, c, block, threads, query_rows, rows, scores)
    else:
        plan = _TiledBlocks(unit, k_eff, c, width, block, threads, query_rows, rows, scores)
    with _blas_limit(nq * n * d):
        _run(plan, plan.tasks(), threads)
    return Neighbours(rows, scores)


def _run(plan, tasks: list, threads: int) -> None:
    """``plan.work`` over ``tasks`` on ``threads`` workers sharing one iterator."""
    shared = iter(tasks)  # next() on a list iterator is atomic under the GIL
    if threads == 1 or len(tasks) <= 1:
        plan.work(shared)
        return
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(plan.work, shared) for _ in range(threads)]:
            future.result()


@cache
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _blas_limit(work: int):
    """One BLAS thread per worker while the pool runs (skipped for tiny problems)."""
    if work < _LIMIT_BLAS_ABOVE:
        return _Null()
    return _controller().limit(limits=1, user_api="blas")


# --- keys -------------------------------------------------------------------------------


def _sort_keys(values: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """int64 keys whose ascending order is (score descending, column ascending)."""
    bits = (values + np.float32(0)).view(np.int32)  # + 0 turns -0.0 into +0.0
    ordered = bits ^ ((bits >> 31) & np.int32(0x7FFFFFFF))  # monotone in the float value
    return (-ordered.astype(np.int64) << 32) | cols


def _decode(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(columns int32, scores float32) of keys."""
    ordered = (-(keys >> 32)).astype(np.int32)
    bits = ordered ^ ((ordered >> 31) & np.int32(0x7FFFFFFF))
    return (keys & _LOW32).astype(np.int32), bits.view(np.float32)


#: Key of (-inf, column 0): every finite score's key is below it, no -inf key is.
_NEG_INF_KEY = _sort_keys(np.array([-np.inf], np.float32), np.array([0], np.int64))[0]


def _write(keys: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> None:
    """Sort each row's keys and write columns/scores; keys of -inf or padding become -1/-inf."""
    keys.sort(axis=1)
    cols, vals = _decode(keys)
    missing = keys >= _NEG_INF_KEY
    cols[missing] = -1
    vals[missing] = -np.inf
    rows[:, : keys.shape[1]] = cols
    scores[:, : keys.shape[1]] = vals


# --- exact top-k of the rows of one similarity block --------------------------------------


def _top_keys(s: np.ndarray, k: int, c: int, maxima: np.ndarray | None) -> np.ndarray:
    """Keys (unsorted, local columns) of the exact top-``k`` of every row of ``s``.

    ``s`` is ``(b, m * c)`` with ``m > k``; ``maxima`` is a ``(>= b, m)`` buffer when ``c > 1``.
    """
    b, width = s.shape
    m = width // c
    here = np.arange(b)
    if c > 1:
        assert maxima is not None
        g = maxima[:b]
        np.max(s.reshape(b, c, m), axis=1, out=g)
    else:
        g = s
    threshold = np.partition(g, m - k, axis=1)[:, m - k]
    chosen = g >= threshold[:, None]
    keys = np.empty((b, k), dtype=np.int64)
    # Every row has >= k groups reaching its threshold; exactly k in total means every row
    # has exactly k (no tied group maximum at the threshold).
    if np.count_nonzero(chosen) == b * k:
        good = here
        groups = np.flatnonzero(chosen).reshape(b, k) - (here * m)[:, None]
    else:
        plain = np.count_nonzero(chosen, axis=1) == k
        good = np.flatnonzero(plain)
        groups = np.nonzero(chosen[good])[1].reshape(len(good), k)
        for i in np.flatnonzero(~plain):
            keys[i] = _tied_row(s[i], threshold[i], k)
    if len(good):
        keys[good] = _select(s, good, groups, k, m, c)
    return keys


def _columns(groups: np.ndarray, pos: np.ndarray, m: int, k: int) -> np.ndarray:
    """Columns of candidate positions ``pos`` (``u * k + j``: element ``u`` of ``groups[j]``)."""
    u, j = np.divmod(pos, k)
    return (
        np.take_along_axis(groups, np.broadcast_to(j, (len(groups), j.shape[-1])), axis=1) + u * m
    )


def _select(s, good, groups, k: int, m: int, c: int) -> np.ndarray:
    """Keys of the top-k among the ``k`` chosen groups of each row in ``good``."""
    g = len(good)
    offsets = (np.arange(c, dtype=np.int64) * m)[None, :, None]
    flat = ((groups + (good * (m * c))[:, None])[:, None, :] + offsets).reshape(g, c * k)
    vals = s.reshape(-1).take(flat)
    size = c * k
    if size == k:
        pos = np.broadcast_to(np.arange(k), (g, k))
    else:
        kth = np.partition(vals, size - k, axis=1)[:, size - k]
        keep = vals >= kth[:, None]
        if np.count_nonzero(keep) == g * k:  # no row has a tie at its k-th candidate
            pos = np.flatnonzero(keep).reshape(g, k) - (np.arange(g) * size)[:, None]
        else:
            pos = np.empty((g, k), dtype=np.int64)
            exact = np.count_nonzero(keep, axis=1) == k
            pos[exact] = np.nonzero(keep[exact])[1].reshape(-1, k)
            tied = np.flatnonzero(~exact)
            keys = _sort_keys(vals[tied], _columns(groups[tied], np.arange(size), m, k))
            pos[tied] = np.argpartition(keys, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(vals, pos, axis=1)
    return _sort_keys(vals, _columns(groups, pos, m, k))


def _tied_row(row: np.ndarray, threshold: np.float32, k: int) -> np.ndarray:
    """Keys of one row's top-k when more than ``k`` groups reach the threshold."""
    above = np.flatnonzero(row > threshold)
    keys = _sort_keys(row[above], above)
    if len(above) >= k:
        return np.partition(keys, k - 1)[:k]
    ties = np.flatnonzero(row == threshold)[: k - len(above)]
    return np.concatenate([keys, _sort_keys(row[ties], ties)])


# --- query blocks against the whole catalogue ---------------------------------------------


class _QueryBlocks:
    """Blocks of query rows against all columns (padded with -inf to a multiple of ``c``)."""

    def __init__(self, unit, k, c, block, threads, query_rows, rows, scores):
        n, d = unit.shape
        m = -(-n // c)
        if m <= k:  # too few groups to prune anything: one column per group
            c, m = 1, n
        self.unit, self.k, self.c, self.m, self.n = unit, k, c, m, n
        padded = np.zeros((d, m * c), dtype=np.float32)
        padded[:, :n] = unit.T
        self.catalogue_t = padded
        nq = len(query_rows)
        self.step = max(1, min(block, BLOCK_BYTES // (4 * m * c), -(-nq // threads)))
        self.query_rows, self.rows, self.scores = query_rows, rows, scores

    def tasks(self) -> list[int]:
        return list(range(0, len(self.query_rows), self.step))

    def work(self, starts) -> None:
        sims = np.empty((self.step, self.m * self.c), dtype=np.float32)
        maxima = np.empty((self.step, self.m), dtype=np.float32) if self.c > 1 else None
        for start in starts:
            stop = min(start + self.step, len(self.query_rows))
            own = self.query_rows[start:stop]
            s = sims[: stop - start]
            np.matmul(self.unit[own], self.catalogue_t, out=s)
            s[:, self.n :] = -np.inf
            s[np.arange(len(own)), own] = -np.inf
            keys = _top_keys(s, self.k, self.c, maxima)
            _write(keys, self.rows[start:stop], self.scores[start:stop])


# --- query blocks against column tiles (large catalogues) ---------------------------------


def _tile_width(
    n: int, nq: int, k: int, c: int, block: int, threads: int, tile: int | None
) -> int | None:
    """Columns per tile (a multiple of ``c`` with more than ``k`` groups), or None for no tiles."""
    if k >= n - 1 or -(-n // c) <= k:  # every column a neighbour, or too few groups to prune
        return None
    rows = max(1, min(block, TILE_QUERIES, -(-nq // threads)))
    if tile is None:
        # Untiled blocks of TILE_BELOW_ROWS rows or more multiply about as fast (measured).
        if BLOCK_BYTES // (4 * n) >= TILE_BELOW_ROWS or rows < TILE_BELOW_ROWS:
            return None
        tile = BLOCK_BYTES // (4 * rows)
    width = max(c * (k + 1), tile // c * c)
    return None if width >= n else width


class _TiledBlocks:
    """Blocks of query rows against the catalogue cut into tiles of ``width`` columns."""

    def __init__(self, unit, k, c, width, block, threads, query_rows, rows, scores):
        n = len(unit)
        self.unit, self.k, self.c, self.width, self.n = unit, k, c, width, n
        self.catalogue_t = np.ascontiguousarray(unit.T)
        nq = len(query_rows)
        self.step = max(1, min(block, TILE_QUERIES, -(-nq // threads)))
        self.query_rows, self.rows, self.scores = query_rows, rows, scores

    def tasks(self) -> list[int]:
        return list(range(0, len(self.query_rows), self.step))

    def work(self, starts) -> None:
        buffer = np.empty((self.step, self.width), dtype=np.float32)
        maxima = np.empty((self.step, self.width // self.c), dtype=np.float32)
        for start in starts:
            stop = min(start + self.step, len(self.query_rows))
            own = self.query_rows[start:stop]
            keys = self.block_keys(own, buffer, maxima)
            _write(keys, self.rows[start:stop], self.scores[start:stop])

    def block_keys(self, own: np.ndarray, buffer: np.ndarray, maxima: np.ndarray) -> np.ndarray:
        """Keys (global columns) of the exact top-k of the query rows ``own``."""
        k, c, n = self.k, self.c, self.n
        q = self.unit[own]
        b = len(own)
        keys = np.empty((b, k), dtype=np.int64)
        threshold = np.empty(b, dtype=np.float32)
        for lo in range(0, n, self.width):
            hi = min(lo + self.width, n)
            w = -(-(hi - lo) // c) * c  # padded to whole groups
            s = buffer[:b, :w]
            np.matmul(q, self.catalogue_t[:, lo:hi], out=s[:, : hi - lo])
            s[:, hi - lo :] = -np.inf
            inside = np.flatnonzero((own >= lo) & (own < hi))
            s[inside, own[inside] - lo] = -np.inf
            if lo == 0:  # w / c > k groups: the first tile's own exact top-k
                keys[:] = _top_keys(s, k, c, maxima if c > 1 else None)
            else:
                _merge_tile(s, lo, c, keys, threshold, maxima)
            threshold[:] = _kth_score(keys)
        return keys


def _kth_score(keys: np.ndarray) -> np.ndarray:
    """Each row's k-th best score (-inf while a row keeps fewer than k real neighbours)."""
    worst = keys.max(axis=1)
    out = np.full(len(keys), -np.inf, dtype=np.float32)
    real = worst < _NEG_INF_KEY
    out[real] = _decode(worst[real])[1]
    return out


def _merge_tile(
    s: np.ndarray, lo: int, c: int, keys: np.ndarray, threshold: np.ndarray, maxima: np.ndarray
) -> None:
    """Merge the elements of tile ``s`` (first column ``lo``) above each row's ``threshold``
    into the row's kept top-k ``keys`` (in place); ``maxima``: a ``(>= b, >= w / c)`` buffer."""
    b, w = s.shape
    m = w // c
    g = maxima[:b, :m]
    np.max(s.reshape(b, c, m), axis=1, out=g)
    row_of, group = np.nonzero(g > threshold[:, None])
    if len(row_of) == 0:
        return
    # The c elements of each candidate group: local columns group + u * m.
    cols = group[:, None] + (np.arange(c) * m)[None, :]
    vals = s[row_of[:, None], cols]
    above = vals > threshold[row_of][:, None]
    r = np.broadcast_to(row_of[:, None], cols.shape)[above]
    new = _sort_keys(vals[above], cols[above].astype(np.int64) + lo)
    rows_hit, counts = np.unique(r, return_counts=True)
    slot = np.arange(len(r)) - np.repeat(np.cumsum(counts) - counts, counts)
    offers = np.full((len(rows_hit), int(counts.max())), _EMPTY_KEY, dtype=np.int64)
    offers[np.searchsorted(rows_hit, r), slot] = new
    merged = np.concatenate([keys[rows_hit], offers], axis=1)
    k = keys.shape[1]
    keys[rows_hit] = np.partition(merged, k - 1, axis=1)[:, :k]
