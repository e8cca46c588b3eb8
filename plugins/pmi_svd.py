"""Truncated SVD of the positive PMI matrix of windowed song co-occurrences (Levy & Goldberg).

How the vectors are built (every step vectorised with numpy / scipy.sparse):

1. **Co-occurrences.** Two songs co-occur when they are at most ``window`` positions apart in
   the same training sequence. For each offset ``d = 1..window`` the flat CSR song array is
   paired with itself shifted by ``d``; pairs whose two positions belong to different sequences
   are masked out. Each pair counts in both directions (the matrix ``C`` is symmetric) with weight
   1 (``weighting = "none"``), ``(window - d + 1) / window`` (``"linear"``: the expected weight of
   word2vec's sampled window) or ``1 / d`` (``"harmonic"``, as in GloVe). A song next to itself
   (a repeat) is not its own context.
2. **PPMI.** With ``#(w, c)`` the weighted counts, ``#(w)`` the row sums and the smoothed context
   distribution ``P_a(c) = #(c)^a / sum_c #(c)^a`` (``exponent`` a, 0.75 by default):
   ``PMI(w, c) = log(#(w, c) / (#(w) * P_a(c))) - log(shift)`` and ``PPMI = max(PMI, 0)``.
   ``exponent = 1`` and ``shift = 1`` give the plain PMI; ``shift = k`` is the shifted PPMI that
   corresponds to word2vec with ``k`` negative samples.
3. **SVD.** ``PPMI ~ U S V^T`` truncated to ``vector_size`` components (seeded randomized SVD, or
   an exact dense SVD for small catalogues); the song vectors are ``U * S^p`` with ``p`` the
   ``eigenvalue_weight`` (0.5: symmetric; 0: ``U`` only; 1: ``U S``). ``add_context`` adds the
   context vectors ``V * S^p`` (Levy et al.'s ``w + c``): ``U`` alone makes songs similar when
   they share contexts (second order), ``w + c`` also when they co-occur (first order).

Memory: the corpus is read in chunks of whole sequences (about ``CHUNK_PAIRS`` co-occurrences at
a time); only the upper triangle of the symmetric counts is accumulated (float64), and the PPMI
matrix is built from it a block of rows at a time, in float32. So the peak is about 40 bytes per
distinct co-occurring pair, whatever the number of plays.

Which songs get a vector: a song of the training corpus gets one when it has at least one
positive PPMI entry (it co-occurs with some song more often than chance). Songs that only ever
occur alone (sequences of length one, or only next to repeats of themselves), songs played fewer
than ``min_count`` times, songs with no positive association and songs absent from the corpus get
**no vector**: metrics count them as misses, exactly like words outside a Word2Vec vocabulary.
The matrix always has ``vector_size`` columns; when the corpus has fewer songs than that, the
columns beyond its rank are zero (cosine similarities are unaffected).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

import embench
from embench.api import Dimension

#: Catalogues up to this many songs (with vectors) use an exact dense SVD.
DENSE_SVD_MAX = 500


class PmiSvdOptions(embench.Options):
    """Hyper-parameters (defaults follow Levy, Goldberg & Dagan 2015) and settings."""

    vector_size: int = Field(100, ge=1, le=4096, description="embedding dimension d")
    window: int = Field(5, ge=1, le=1000, description="context window L (positions either side)")
    weighting: Literal["none", "linear", "harmonic"] = Field(
        "linear",
        description="weight of a pair d apart: 1, (L - d + 1) / L (word2vec-like), or 1 / d",
    )
    exponent: float = Field(
        0.75, ge=-10, le=10, description="context distribution smoothing exponent a"
    )
    eigenvalue_weight: float = Field(
        0.5, ge=0, le=2, description="p in U * S^p (0.5 symmetric, 0 U only, 1 U S)"
    )
    shift: float = Field(1.0, ge=1, description="k of shifted PPMI: subtract log(k)")
    add_context: bool = Field(
        False, description="add the context vectors V * S^p (w + c): co-occurring songs closer"
    )
    min_count: int = Field(1, ge=1, description="songs played fewer times get no vector")
    solver: Literal["auto", "dense", "randomized"] = Field(
        "auto",
        description=f"SVD: exact dense (auto: up to {DENSE_SVD_MAX} songs) or seeded randomized",
    )
    n_iter: int = Field(5, ge=1, le=100, description="power iterations of the randomized SVD")


class PmiSvd(embench.Embedder):
    """Positive PMI of windowed co-occurrences, factorised by truncated SVD (U * S^p)."""

    name = "pmi_svd"
    Options = PmiSvdOptions
    search_space = {
        "vector_size": Dimension(25, 200, integer=True),
        "window": Dimension(1, 40, integer=True),
        "exponent": Dimension(-1.0, 1.0),
        "eigenvalue_weight": Dimension(0.0, 1.0),
    }

    def fit(self, corpus, params, *, seed, threads, monitor):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads):
            ppmi, songs = ppmi_matrix(corpus, params, monitor)
            keep = np.flatnonzero(np.diff(ppmi.indptr) > 0)  # songs with a positive entry
            ppmi = ppmi[keep]
            songs = songs[keep]
            monitor.progress(0.6)
            if monitor.should_stop():
                raise embench.BudgetExceeded("stopped before the SVD")
            vectors = truncated_svd_vectors(ppmi, params, seed, columns=keep)
        monitor.progress(1.0)
        return embench.Embedding(songs, vectors)


#: Co-occurrences (pairs x offsets) generated at once while counting: bounds the temporaries.
CHUNK_PAIRS = 1 << 24
#: Rows of the PPMI matrix computed at once.
BLOCK_ROWS = 1 << 16


def _weight(params, d: int) -> float:
    return {
        "none": 1.0,
        "linear": (params.window - d + 1) / params.window,
        "harmonic": 1.0 / d,
    }[params.weighting]


def upper_counts(corpus, params, monitor=None, chunk_pairs: int | None = None):
    """The upper triangle (``i < j``) of the symmetric weighted co-occurrence counts.

    Returns ``(upper, songs)``: a CSR float64 matrix over the corpus songs played at least
    ``min_count`` times (row/column ``i`` is dataset song ``songs[i]``) and that index. The
    corpus is read a chunk of whole sequences at a time, so temporaries stay near
    ``chunk_pairs`` co-occurrences; the counts take 12 bytes per distinct pair.
    """
    import scipy.sparse as sp

    flat = np.asarray(corpus.songs)
    indptr = np.asarray(corpus.indptr, dtype=np.int64)
    lengths = np.diff(indptr)
    plays = np.bincount(flat) if len(flat) else np.zeros(0, dtype=np.int64)
    songs = np.flatnonzero(plays >= params.min_count)
    column = np.full(len(plays), -1, dtype=np.int32)
    column[songs] = np.arange(len(songs), dtype=np.int32)
    n = len(songs)
    counts = sp.csr_matrix((n, n), dtype=np.float64)
    window = min(params.window, max(int(lengths.max(initial=0)) - 1, 0))
    if window == 0 or n == 0:
        return counts, songs
    per_chunk = max(1, (chunk_pairs or CHUNK_PAIRS) // window)  # events per chunk
    # Chunks of whole sequences of about per_chunk events.
    cuts = np.searchsorted(indptr, np.arange(0, indptr[-1], per_chunk), side="right") - 1
    cuts = np.unique(np.concatenate([cuts, [len(lengths)]]))
    for number, (first, last) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        low, high = indptr[first], indptr[last]
        ids = column[flat[low:high]]  # position -> compact song column (-1: filtered out)
        # Positions left in the sequence after each position: a pair d apart stays inside it
        # when at least d are left.
        ends = np.repeat(indptr[first + 1 : last + 1] - low, lengths[first:last])
        left_in_sequence = (ends - np.arange(high - low) - 1).astype(np.int32)
        del ends
        rows, cols, weights = [], [], []
        for d in range(1, window + 1):
            a, b = ids[:-d], ids[d:]
            same = (left_in_sequence[:-d] >= d) & (a >= 0) & (b >= 0) & (a != b)
            a, b = a[same], b[same]
            rows.append(np.minimum(a, b))
            cols.append(np.maximum(a, b))
            weights.append(np.full(len(a), _weight(params, d)))
        del ids, left_in_sequence
        rows, cols, weights = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
        if len(rows):
            chunk = sp.coo_matrix((weights, (rows, cols)), shape=(n, n)).tocsr()  # sums pairs
            del rows, cols, weights
            counts = counts + chunk  # a linear merge of two sorted CSR matrices
            del chunk
        if monitor is not None:
            monitor.progress(0.4 * (number + 1) / (len(cuts) - 1))
            if monitor.should_stop():
                raise embench.BudgetExceeded(
                    f"stopped counting at chunk {number + 1} of {len(cuts) - 1}"
                )
    counts.sum_duplicates()
    return counts, songs


def cooccurrence_matrix(corpus, params, monitor=None):
    """Symmetric weighted co-occurrence counts of the songs of ``corpus`` within ``window``.

    Returns ``(counts, songs)``: a CSR matrix over the corpus songs played at least
    ``min_count`` times (row/column ``i`` is dataset song ``songs[i]``) and that index.
    """
    upper, songs = upper_counts(corpus, params, monitor)
    return (upper + upper.T).tocsr(), songs


def ppmi_matrix(corpus, params, monitor=None):
    """``(PPMI, songs)``: the positive PMI of the co-occurrence counts as CSR float32, built
    from the upper triangle of the counts a block of rows at a time (no full count matrix)."""
    upper, songs = upper_counts(corpus, params, monitor)
    ppmi = _ppmi_of_upper(upper, params.exponent, params.shift)
    if monitor is not None:
        monitor.progress(0.5)
    return ppmi, songs


def _ppmi_of_upper(upper, exponent: float, shift: float):
    import scipy.sparse as sp

    n = upper.shape[0]
    # C = U + U^T is symmetric: its row sums are its column sums.
    sums = np.asarray(upper.sum(axis=1)).ravel() + np.asarray(upper.sum(axis=0)).ravel()
    smoothed = np.zeros_like(sums)
    present = sums > 0
    smoothed[present] = sums[present] ** exponent
    total = smoothed.sum()
    if total <= 0 or upper.nnz == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    with np.errstate(divide="ignore"):
        log_rows = np.log(sums)
        log_context = np.log(smoothed / total) + np.log(shift)  # P_a(c), with the shift
    lower = upper.T.tocsr()  # row j holds the pairs (i, j), i < j: the columns left of j
    indptr_parts, index_parts, data_parts = [np.zeros(1, dtype=np.int64)], [], []
    written = 0
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        rows, cols, counts = _block_entries(lower, upper, start, stop)
        pmi = np.log(counts) - log_rows[rows] - log_context[cols]
        positive = pmi > 0
        per_row = np.bincount(rows[positive] - start, minlength=stop - start)
        indptr_parts.append(written + np.cumsum(per_row))
        written += int(per_row.sum())
        index_parts.append(cols[positive].astype(np.int32))
        data_parts.append(pmi[positive].astype(np.float32))
    del lower
    indptr = np.concatenate(indptr_parts)
    indices = np.concatenate(index_parts) if index_parts else np.zeros(0, dtype=np.int32)
    data = np.concatenate(data_parts) if data_parts else np.zeros(0, dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(n, n))


def _block_entries(lower, upper, start: int, stop: int):
    """Rows ``start..stop-1`` of ``lower + upper`` as (row, column, value) arrays, each row's
    columns ascending (the lower part's columns are left of the diagonal, the upper's right)."""
    lower_count = np.diff(lower.indptr[start : stop + 1])
    upper_count = np.diff(upper.indptr[start : stop + 1])
    per_row = lower_count + upper_count
    row_start = np.concatenate([[0], np.cumsum(per_row)])[:-1]
    total = int(per_row.sum())
    rows = np.repeat(np.arange(start, stop, dtype=np.int64), per_row)
    cols = np.empty(total, dtype=np.int64)
    values = np.empty(total, dtype=np.float64)
    for matrix, count, offset in ((lower, lower_count, 0), (upper, upper_count, lower_count)):
        low, high = matrix.indptr[start], matrix.indptr[stop]
        # Destination of each stored entry: its row's start (+ the lower part for upper ones).
        within = np.arange(high - low) - np.repeat(matrix.indptr[start:stop] - low, count)
        where = np.repeat(row_start + offset, count) + within
        cols[where] = matrix.indices[low:high]
        values[where] = matrix.data[low:high]
    return rows, cols, values


def positive_pmi(counts, exponent: float = 0.75, shift: float = 1.0):
    """``max(log(#(w,c) / (#(w) P_a(c))) - log(shift), 0)`` of a CSR count matrix (CSR out)."""
    import scipy.sparse as sp

    counts = counts.tocsr()
    row_sums = np.asarray(counts.sum(axis=1)).ravel()
    col_sums = np.asarray(counts.sum(axis=0)).ravel()
    smoothed = np.zeros_like(col_sums)
    present = col_sums > 0
    smoothed[present] = col_sums[present] ** exponent
    total = smoothed.sum()
    if total <= 0 or counts.nnz == 0:
        return sp.csr_matrix(counts.shape, dtype=np.float64)
    context = smoothed / total  # P_a(c)
    coo = counts.tocoo()
    pmi = np.log(coo.data) - np.log(row_sums[coo.row]) - np.log(context[coo.col]) - np.log(shift)
    positive = pmi > 0
    out = sp.coo_matrix((pmi[positive], (coo.row[positive], coo.col[positive])), shape=counts.shape)
    return out.tocsr()


def truncated_svd_vectors(ppmi, params, seed: int, columns=None) -> np.ndarray:
    """``U * S^p`` with ``vector_size`` columns (zero columns beyond the matrix's rank).

    With ``add_context``, ``+ V[columns] * S^p``: ``columns[i]`` is the column of row ``i``'s
    song (the matrix may keep fewer rows than columns)."""
    n_rows, n_cols = ppmi.shape
    size = params.vector_size
    vectors = np.zeros((n_rows, size), dtype=np.float32)
    if n_rows == 0:
        return vectors
    k = min(size, n_rows, n_cols)
    dense = (
        params.solver == "dense"
        or min(n_rows, n_cols) <= 2
        or (params.solver == "auto" and (n_rows <= DENSE_SVD_MAX or k >= min(n_rows, n_cols) - 1))
    )
    if dense:
        u, s, vt = np.linalg.svd(ppmi.toarray(), full_matrices=False)
        u, s, vt = u[:, :k], s[:k], vt[:k]
    else:
        from sklearn.utils.extmath import randomized_svd

        k = min(k, min(n_rows, n_cols) - 1)
        u, s, vt = randomized_svd(ppmi, k, n_iter=params.n_iter, random_state=seed)
    sign = orientation(u)
    weight = s**params.eigenvalue_weight
    result = (u * sign) * weight
    if params.add_context:
        columns = np.arange(n_rows) if columns is None else np.asarray(columns)
        result += (vt.T[columns] * sign) * weight
    vectors[:, : len(s)] = result
    return vectors


def orientation(u: np.ndarray) -> np.ndarray:
    """Per singular vector, the sign making its largest-magnitude entry positive (stable output;
    applied to the left and right vector alike, it leaves the factorisation unchanged)."""
    if u.size == 0:
        return np.ones(u.shape[1])
    pivot = u[np.abs(u).argmax(axis=0), np.arange(u.shape[1])]
    return np.where(pivot < 0, -1.0, 1.0)


@embench.hookimpl
def register_embedders(register):
    register(PmiSvd)
