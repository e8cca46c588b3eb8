"""exact_top_k against a slow, obviously correct pure-Python reference.

Tie-heavy data uses vectors with entries in {-1, 0, 1} and exactly four (or one) nonzeros: their
unit vectors have entries +-0.5 (or +-1), so every cosine is a multiple of 1/4, exact in float32,
and many scores tie. Small ``group`` and ``block`` values force the pruned fast path (and its tie
fallbacks) on small catalogues.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import embench.neighbours as nb
from embench.neighbours import Neighbours, default_group, exact_top_k


def reference(vectors, k: int, queries=None) -> tuple[list[list[int]], list[list[float]]]:
    """Top-k by cosine in float64 with plain loops; ties by the lower row; self excluded."""
    rows = [[float(x) for x in v] for v in np.asarray(vectors)]
    norms = [math.sqrt(sum(x * x for x in v)) for v in rows]
    unit = [
        [x / nrm for x in v] if nrm > 0 else [0.0] * len(v)
        for v, nrm in zip(rows, norms, strict=False)
    ]
    out_rows, out_scores = [], []
    for i in range(len(unit)) if queries is None else queries:
        scored = [
            (-sum(a * b for a, b in zip(unit[i], unit[j], strict=False)), j)
            for j in range(len(unit))
            if j != i
        ]
        scored.sort()
        best = scored[:k]
        out_rows.append([j for _, j in best] + [-1] * (k - len(best)))
        out_scores.append([-s for s, _ in best] + [-math.inf] * (k - len(best)))
    return out_rows, out_scores


def assert_exact(result: Neighbours, vectors, k: int, queries=None) -> None:
    rows, scores = reference(vectors, k, queries)
    assert result.rows.dtype == np.int32 and result.scores.dtype == np.float32
    n_queries = len(vectors) if queries is None else len(queries)
    assert result.rows.shape == result.scores.shape == (n_queries, k)
    expected_rows = np.array(rows, dtype=np.int32).reshape(n_queries, k)
    np.testing.assert_array_equal(result.rows, expected_rows)
    np.testing.assert_array_equal(result.scores, np.array(scores, np.float32).reshape(n_queries, k))


def clear_of_neighbours(scores: np.ndarray, gap: float = 1e-5) -> np.ndarray:
    """(n, k) mask of positions whose score, given the top ``k + 1``, is clear of its neighbours."""
    k = scores.shape[1] - 1
    padded = np.concatenate([np.full((len(scores), 1), np.inf), scores], axis=1)
    with np.errstate(invalid="ignore"):  # -inf - -inf in padding
        above = padded[:, :k] - padded[:, 1 : k + 1] > gap
        below = padded[:, 1 : k + 1] - padded[:, 2 : k + 2] > gap
    return above & below


@st.composite
def tied_vectors(draw, max_n: int = 40):
    """Rows with exactly 4 (sometimes 1) entries of +-1, or all zero: exact cosines, many ties."""
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(4, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    vectors = np.zeros((n, d), dtype=np.float32)
    zero_share = draw(st.sampled_from([0.0, 0.1, 0.5]))
    for i in range(n):
        if rng.random() < zero_share:
            continue
        nonzeros = 4 if rng.random() < 0.8 else 1
        where = rng.choice(d, nonzeros, replace=False)
        vectors[i, where] = rng.choice([-1.0, 1.0], nonzeros)
    if n > 2 and draw(st.booleans()):  # plenty of exact duplicates
        vectors[rng.integers(0, n, n // 2)] = vectors[rng.integers(0, n, n // 2)]
    scale = draw(st.sampled_from([1.0, 3.0, 0.25]))  # scaling never changes a cosine
    return vectors * np.float32(scale)


settings_fast = settings(max_examples=150, deadline=None)
blocks = st.sampled_from([1, 2, 3, 7, 1024])
groups = st.sampled_from([None, 1, 2, 3, 5])
threads = st.sampled_from([1, 2, 3])
tiles = st.sampled_from([None, None, 1, 5, 12])  # columns per tile (1: the fewest allowed)


@settings_fast
@given(tied_vectors(), st.integers(0, 45), groups, blocks, threads, tiles)
def test_ties_match_the_reference_exactly(vectors, k, group, block, n_threads, tile):
    result = exact_top_k(vectors, k, threads=n_threads, block=block, group=group, tile=tile)
    assert_exact(result, vectors, k)


@settings(max_examples=60, deadline=None)
@given(tied_vectors(), st.integers(0, 45), groups, blocks, tiles, st.data())
def test_query_subset_matches_the_reference(vectors, k, group, block, tile, data):
    n = len(vectors)
    queries = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=12)), int)
    result = exact_top_k(vectors, k, block=block, group=group, queries=queries, tile=tile)
    assert_exact(result, vectors, k, queries)


@settings_fast
@given(
    st.integers(1, 60),
    st.integers(1, 6),
    st.integers(0, 30),
    st.integers(0, 2**32 - 1),
    groups,
    blocks,
    threads,
    tiles,
)
def test_continuous_data_matches_the_reference(n, d, k, seed, group, block, n_threads, tile):
    vectors = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    result = exact_top_k(vectors, k, threads=n_threads, block=block, group=group, tile=tile)
    rows, scores = reference(vectors, k + 1)
    ref_rows = np.array(rows, dtype=np.int64).reshape(n, k + 1)
    ref_scores = np.array(scores, dtype=np.float64).reshape(n, k + 1)
    np.testing.assert_allclose(result.scores, ref_scores[:, :k], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(result.rows < 0, ref_rows[:, :k] < 0)
    # A position's row is determined wherever its score is clear of the neighbouring scores.
    clear = clear_of_neighbours(ref_scores)
    np.testing.assert_array_equal(result.rows[clear], ref_rows[:, :k][clear])


def test_the_default_fast_path_on_a_larger_catalogue():
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3000, 12)).astype(np.float32)
    assert default_group(3000, 10) > 1  # the pruned path, not one column per group
    result = exact_top_k(vectors, 10, threads=2)
    unit = vectors / np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :11]
    expected = np.take_along_axis(sims, order, axis=1)
    np.testing.assert_allclose(result.scores, expected[:, :10], rtol=0, atol=1e-6)
    clear = clear_of_neighbours(expected)
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(result.rows[clear], order[:, :10][clear])


def test_one_row_has_no_neighbours():
    result = exact_top_k(np.ones((1, 3)), 4)
    assert result.k == 4
    np.testing.assert_array_equal(result.rows, [[-1] * 4])
    assert np.isneginf(result.scores).all()


def test_two_rows_and_padding():
    result = exact_top_k(np.array([[1.0, 0.0], [1.0, 1.0]]), 3)
    np.testing.assert_array_equal(result.rows, [[1, -1, -1], [0, -1, -1]])
    np.testing.assert_allclose(result.scores[:, 0], [math.sqrt(0.5)] * 2, rtol=1e-6)
    assert np.isneginf(result.scores[:, 1:]).all()
    # With k other rows available every column is a neighbour (none padded, none dropped),
    # the k-th one included; with k - 1 available exactly the last column is padding.
    angles = np.array([0.0, 0.3, 0.9, 2.0])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    result = exact_top_k(vectors, 3)
    assert result.rows.shape == result.scores.shape == (4, 3)
    np.testing.assert_array_equal(result.rows, [[1, 2, 3], [0, 2, 3], [1, 0, 3], [2, 1, 0]])
    expected = np.cos(angles[result.rows] - angles[:, None])
    np.testing.assert_allclose(result.scores, expected, rtol=1e-6)
    result = exact_top_k(vectors[:3], 3)
    np.testing.assert_array_equal(result.rows, [[1, 2, -1], [0, 2, -1], [1, 0, -1]])
    assert np.isneginf(result.scores[:, 2]).all() and np.isfinite(result.scores[:, :2]).all()


def test_k_zero():
    result = exact_top_k(np.eye(3), 0)
    assert result.rows.shape == (3, 0) and result.scores.shape == (3, 0)


def test_zero_vectors_score_zero_and_never_nan():
    vectors = np.zeros((6, 3), dtype=np.float32)
    vectors[4] = [1.0, 2.0, 3.0]
    result = exact_top_k(vectors, 5, group=2)
    assert not np.isnan(result.scores).any()
    np.testing.assert_array_equal(result.rows[0], [1, 2, 3, 4, 5])  # all tied at 0: by row
    np.testing.assert_array_equal(result.rows[4], [0, 1, 2, 3, 5])
    assert (result.scores == 0).all()


def test_all_duplicates_tie_by_row():
    vectors = np.tile([[0.3, -0.2, 0.9]], (50, 1))
    result = exact_top_k(vectors, 7, group=3, block=4, threads=2)
    for i in (0, 17, 49):
        np.testing.assert_array_equal(result.rows[i], [j for j in range(50) if j != i][:7])
    np.testing.assert_allclose(result.scores, 1.0, rtol=1e-6)


def test_large_entries_do_not_overflow_the_norm():
    vectors = np.array([[3e38, 0.0], [3e38, 3e38], [0.0, 1.0]], dtype=np.float32)
    result = exact_top_k(vectors, 2)
    np.testing.assert_array_equal(result.rows, [[1, 2], [0, 2], [1, 0]])


def test_small_buffer_budget_gives_the_same_answer(monkeypatch):
    vectors = np.random.default_rng(3).standard_normal((300, 5)).astype(np.float32)
    expected = exact_top_k(vectors, 9, group=4)
    monkeypatch.setattr(nb, "BLOCK_BYTES", 1)  # one query row per block
    result = exact_top_k(vectors, 9, group=4, threads=2)
    np.testing.assert_array_equal(result.rows, expected.rows)
    np.testing.assert_array_equal(result.scores, expected.scores)


def test_a_catalogue_too_wide_for_the_buffer_is_cut_into_tiles(monkeypatch):
    """The automatic choice: thin untiled blocks switch to column tiles, same answer."""
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((3000, 6)).astype(np.float32)
    vectors[rng.integers(0, 3000, 500)] = vectors[rng.integers(0, 3000, 500)]  # ties
    expected = exact_top_k(vectors, 20, threads=2)
    assert nb._tile_width(3000, 3000, 20, default_group(3000, 20), 1024, 2, None) is None
    monkeypatch.setattr(nb, "BLOCK_BYTES", 4 * 3000 * 10)  # untiled: 10 rows per block
    width = nb._tile_width(3000, 3000, 20, default_group(3000, 20), 1024, 2, None)
    assert width is not None and width < 3000
    result = exact_top_k(vectors, 20, threads=2)
    np.testing.assert_array_equal(result.rows, expected.rows)
    np.testing.assert_array_equal(result.scores, expected.scores)


@pytest.mark.parametrize(
    ("vectors", "k", "kwargs", "message"),
    [
        (np.ones(3), 1, {}, "2-D"),
        (np.ones((3, 2)), -1, {}, "k must be"),
        (np.array([[1.0, np.nan], [1.0, 0.0]]), 1, {}, "NaN or infinite"),
        (np.ones((3, 2)), 1, {"queries": np.array([3])}, "queries must lie"),
        (np.ones((3, 2)), 1, {"queries": np.array([0.5])}, "row indices"),
        (np.ones((3, 2)), 1, {"block": 0}, "block must be"),
        (np.ones((3, 2)), 1, {"group": 0}, "group must be"),
        (np.ones((3, 2)), 1, {"tile": 0}, "tile must be"),
    ],
)
def test_bad_arguments(vectors, k, kwargs, message):
    with pytest.raises(ValueError, match=message):
        exact_top_k(vectors, k, **kwargs)
