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

**Query blocks** (a subset of rows, or small catalogues): blocks of query rows against the whole
catalogue, ``S = Q @ X.T`` into a per-worker buffer, then the pruned selection above.

**All rows** (the usual call): similarity is symmetric, so every tile ``X_I X_J^T`` with
``I < J`` is computed once and serves the rows of ``I`` (its rows) and of ``J`` (its columns),
which halves the arithmetic. First every row block takes its exact top-k within a *band* of a
few blocks of columns (query-block method); that gives every row a threshold key, the k-th best
so far. Then the remaining tiles stream by: group maxima (along rows and along columns) pick the
few groups holding an element at or above the row's threshold, only elements beating the
threshold key are kept, and a row's candidate buffer is compacted back to its best ``k`` (raising
its threshold) whenever it fills. Each (row, column) pair is examined exactly once, so the final
best ``k`` of every buffer is the exact answer.

Workers share the tiles through one iterator; BLAS runs one thread per worker so one worker's
matrix product overlaps another's selection. Buffers are bounded by :data:`BLOCK_BYTES` per
worker, plus ``2 k + 8`` candidate keys per row on the all-rows path.
"""

from __future__ import annotations

import math
import operator
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

import numpy as np

#: Target size of one worker's similarity buffer (bytes); bounds memory on any catalogue.
BLOCK_BYTES = 24 << 20
#: Default group size aims at about this many groups per kept neighbour.
GROUPS_PER_NEIGHBOUR = 32
#: Width of the first (band) phase of the all-rows path, in columns per neighbour.
BAND_PER_NEIGHBOUR = 40
#: Below this many multiply-adds the BLAS thread limit is not worth setting.
_LIMIT_BLAS_ABOVE = 1 << 24
_LOW32 = np.int64(0xFFFFFFFF)
_MAX_KEY = np.iinfo(np.int64).max


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
) -> Neighbours:
    """The ``k`` most cosine-similar other rows of every row (or of the rows in ``queries``).

    Ties are broken by the lower row index; when ``k`` exceeds ``n - 1`` the rest is padded
    with -1 (score -inf). Zero rows have cosine 0 with every row.

    ``threads`` workers process blocks of at most ``block`` rows (fewer when a block's
    similarity buffer would exceed :data:`BLOCK_BYTES`). ``queries`` selects query rows (result
    row ``i`` belongs to ``queries[i]``); ``group`` overrides the column group size of the
    pruning step (1 disables grouping; mainly for tests).
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
    tile = min(block, math.isqrt(BLOCK_BYTES // 4)) // c * c
    if query_rows is None and c > 1 and tile >= 2 * c and n >= 2 * tile:
        plan = _AllPairs(unit, k_eff, tile, c, rows, scores)
    else:
        if query_rows is None:
            query_rows = np.arange(n, dtype=np.int64)
        plan = _QueryBlocks(unit, k_eff, c, block, threads, query_rows, rows, scores)
    with _blas_limit(nq * n * d):
        for tasks in plan.phases():
            _run(plan, tasks, threads)
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

    def phases(self):
        yield list(range(0, len(self.query_rows), self.step))

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


# --- all rows: each tile once, serving its rows and its columns ------------------------------


def _round_robin(blocks: int) -> list[tuple[int, int]]:
    """Every pair ``i < j`` once, in rounds of disjoint pairs (circle method)."""
    order = []
    players = list(range(blocks)) + ([-1] if blocks % 2 else [])
    half = len(players) // 2
    for _ in range(len(players) - 1):
        for a, b in zip(players[:half], players[::-1][:half], strict=True):
            if a >= 0 and b >= 0:
                order.append((min(a, b), max(a, b)))
        players = [players[0], players[-1], *players[1:-1]]
    return order


class _AllPairs:
    """All rows against all rows; see the module docstring."""

    def __init__(self, unit, k, tile, c, rows, scores):
        n, d = unit.shape
        self.n, self.k, self.tile, self.c = n, k, tile, c
        self.blocks = nb = -(-n // tile)
        padded = nb * tile
        self.x = np.zeros((padded, d), dtype=np.float32)
        self.x[:n] = unit
        self.xt = np.ascontiguousarray(self.x.T)
        self.rows, self.scores = rows, scores
        # Band: row block i takes its exact top-k over column blocks [start, start + band).
        self.band = min(nb, max(1, -(-BAND_PER_NEIGHBOUR * k // tile), -(-(k + 2) // tile)))
        self.cap = 2 * k + 8
        self.keys = np.full((padded, self.cap), _MAX_KEY, dtype=np.int64)
        self.fill = np.zeros(padded, dtype=np.int64)
        self.theta_key = np.full(padded, _NEG_INF_KEY, dtype=np.int64)
        self.theta_val = np.full(padded, -np.inf, dtype=np.float32)
        self.theta_val[n:] = np.inf  # padding rows take nothing
        self.locks = [threading.Lock() for _ in range(nb)]

    def _band_start(self, i: int) -> int:
        return min(i, self.blocks - self.band)

    def _in_band(self, i: int, j: int) -> bool:
        return 0 <= j - self._band_start(i) < self.band

    def phases(self):
        yield [("band", i) for i in range(self.blocks)]
        tiles = []
        for i, j in _round_robin(self.blocks):
            by_row, by_col = not self._in_band(i, j), not self._in_band(j, i)
            if by_row or by_col:
                tiles.append(("tile", i, j, by_row, by_col))
        yield tiles
        yield [("finish", i) for i in range(self.blocks)]

    def work(self, tasks) -> None:
        buffers = {}
        for task in tasks:
            getattr(self, "_" + task[0])(buffers, *task[1:])

    # Phase 1 -------------------------------------------------------------------------------
    def _band(self, buffers, i: int) -> None:
        t, k, n = self.tile, self.k, self.n
        width = self.band * t
        c = self.c
        while c > 1 and width // c <= k:
            c //= 2
        if "band" not in buffers:
            buffers["band"] = np.empty((t, width), dtype=np.float32)
            buffers["band_max"] = np.empty((t, width // c), dtype=np.float32)
        i0, b0 = i * t, self._band_start(i) * t
        valid = min(t, n - i0)
        s = buffers["band"][:valid]
        np.matmul(self.x[i0 : i0 + valid], self.xt[:, b0 : b0 + width], out=s)
        if b0 + width > n:
            s[:, n - b0 :] = -np.inf
        s[np.arange(valid), i0 - b0 + np.arange(valid)] = -np.inf
        keys = _top_keys(s, k, c, buffers["band_max"] if c > 1 else None) + b0
        keys[keys >= _NEG_INF_KEY] = _MAX_KEY
        keys.sort(axis=1)
        rows = slice(i0, i0 + valid)
        self.keys[rows, :k] = keys
        self.fill[rows] = count = np.count_nonzero(keys < _MAX_KEY, axis=1)
        full = np.flatnonzero(count == k) + i0
        self.theta_key[full] = self.keys[full, k - 1]
        self.theta_val[full] = _decode(self.theta_key[full])[1]

    # Phase 2 -------------------------------------------------------------------------------
    def _tile(self, buffers, i: int, j: int, by_row: bool, by_col: bool) -> None:
        t, n, c = self.tile, self.n, self.c
        if "tile" not in buffers:
            buffers["tile"] = np.empty((t, t), dtype=np.float32)
            buffers["spread"] = np.arange(c, dtype=np.int64) * (t // c)
        s, spread = buffers["tile"], buffers["spread"]
        i0, j0 = i * t, j * t
        np.matmul(self.x[i0 : i0 + t], self.xt[:, j0 : j0 + t], out=s)
        if j0 + t > n:
            s[:, n - j0 :] = -np.inf
        if i0 + t > n:
            s[n - i0 :, :] = -np.inf
        mt = t // c
        if by_row:  # rows of block i: groups of columns j0 + g + u * mt
            self._take(i0, j0, s, np.max(s.reshape(t, c, mt), axis=1), spread, by_row=True)
        if by_col:  # rows of block j (the columns): groups of rows i0 + g + u * mt
            self._take(j0, i0, s, np.max(s.reshape(c, mt, t), axis=0), spread, by_row=False)

    def _take(self, r0, c0, s, maxima, spread, *, by_row: bool) -> None:
        """Candidates for rows ``r0 + r`` from the tile ``s`` (its rows, or its columns)."""
        t = self.tile
        theta = self.theta_val[r0 : r0 + t]
        if by_row:  # maxima[r, g]; the group's elements are s[r, g + spread]
            flat = np.flatnonzero(maxima >= theta[:, None])
            r, g = np.divmod(flat, maxima.shape[1])
            vals = s.reshape(-1).take((flat + r * (t - maxima.shape[1]))[:, None] + spread)
        else:  # maxima[g, r]; the group's elements are s[g + spread, r]
            flat = np.flatnonzero(maxima >= theta[None, :])
            g, r = np.divmod(flat, t)
            vals = s.reshape(-1).take(flat[:, None] + spread * t)
        hit = np.flatnonzero(vals >= theta[r][:, None])
        if not len(hit):
            return
        which, u = np.divmod(hit, self.c)
        r = r[which]
        if not by_row:
            order = np.argsort(r, kind="stable")
            r, hit, which, u = r[order], hit[order], which[order], u[order]
        keys = _sort_keys(vals.reshape(-1)[hit], g[which] + spread[u] + c0)
        r = r + r0
        keep = keys < self.theta_key[r]
        with self.locks[r0 // t]:
            self._merge(r[keep], keys[keep])

    def _merge(self, r: np.ndarray, keys: np.ndarray) -> None:
        """Append candidate keys to rows ``r`` (sorted); compact the rows that fill up."""
        k, cap = self.k, self.cap
        flat_keys = self.keys.reshape(-1)
        while len(r):
            first = np.flatnonzero(np.concatenate(([True], r[1:] != r[:-1])))
            rows = r[first]
            counts = np.diff(np.append(first, len(r)))
            fill = self.fill[rows]
            slot = np.repeat(fill - first, counts) + np.arange(len(r))
            fits = slot < cap
            flat_keys[(r * cap + slot)[fits]] = keys[fits]
            total = fill + counts
            self.fill[rows] = np.minimum(total, cap)
            full = (total >= cap) | ((total >= k) & (self.theta_key[rows] == _NEG_INF_KEY))
            if not full.any():
                return
            rows = rows[full]
            best = np.partition(self.keys[rows], k - 1, axis=1)
            self.keys[rows] = best
            self.fill[rows] = k
            threshold = best[:, k - 1]
            self.theta_key[rows] = threshold
            self.theta_val[rows] = _decode(threshold)[1]
            # Keys that did not fit: only those beating the new threshold go round again.
            r, keys = r[~fits], keys[~fits]
            beat = keys < self.theta_key[r]
            r, keys = r[beat], keys[beat]

    # Phase 3 -------------------------------------------------------------------------------
    def _finish(self, buffers, i: int) -> None:
        k, t = self.k, self.tile
        start, stop = i * t, min((i + 1) * t, self.n)
        best = np.partition(self.keys[start:stop], k - 1, axis=1)[:, :k]
        _write(best, self.rows[start:stop], self.scores[start:stop])
