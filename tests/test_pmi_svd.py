"""The PMI + SVD embedder: counts, PPMI, SVD weighting, coverage, budget, a real run."""

import json
import math
from collections import Counter

import numpy as np
import pytest

import embench
from embench.cli import main
from embench.data.dataset import Sequences
from embench.data.tiny import make_tiny_dataset
from embench_plugins.pmi_svd import (
    PmiSvd,
    PmiSvdOptions,
    cooccurrence_matrix,
    positive_pmi,
)
from tests.helpers import write_benchmark


def naive_counts(sequences, window, weighting):
    """One Python step per pair: the definition the vectorised code must match."""
    counts = Counter()
    for seq in sequences:
        for i, a in enumerate(seq):
            for d in range(1, window + 1):
                if i + d >= len(seq) or seq[i + d] == a:
                    continue
                w = {"none": 1.0, "linear": (window - d + 1) / window, "harmonic": 1 / d}[weighting]
                counts[a, seq[i + d]] += w
                counts[seq[i + d], a] += w
    return counts


def random_corpus(seed=0, n_seq=40, songs=15):
    rng = np.random.default_rng(seed)
    lists = [rng.integers(0, songs, size=int(rng.integers(1, 9))).tolist() for _ in range(n_seq)]
    return lists, Sequences.from_lists(lists)


def fit(corpus, seed=0, monitor=None, **options):
    params = PmiSvdOptions(**options)
    return PmiSvd().fit(
        corpus, params, seed=seed, threads=1, monitor=monitor or embench.TrainingMonitor()
    )


@pytest.mark.parametrize("weighting", ["none", "linear", "harmonic"])
@pytest.mark.parametrize("window", [1, 3, 7])
def test_counts_match_the_definition_and_never_cross_sequences(weighting, window):
    lists, corpus = random_corpus(window)
    counts, songs = cooccurrence_matrix(corpus, PmiSvdOptions(window=window, weighting=weighting))
    expected = naive_counts(lists, window, weighting)
    dense = counts.toarray()
    got = {
        (int(songs[i]), int(songs[j])): dense[i, j] for i, j in zip(*np.nonzero(dense), strict=True)
    }
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value)
    assert np.allclose(dense, dense.T)  # symmetric


def test_ppmi_matches_the_formula_with_context_smoothing():
    _, corpus = random_corpus(3)
    counts, _ = cooccurrence_matrix(corpus, PmiSvdOptions(window=2, weighting="none"))
    c = counts.toarray()
    for exponent, shift in [(0.75, 1.0), (1.0, 1.0), (-0.5, 1.0), (0.75, 5.0)]:
        ppmi = positive_pmi(counts, exponent, shift).toarray()
        row, col = c.sum(axis=1), c.sum(axis=0)
        smoothed = np.where(col > 0, col, 1.0) ** exponent * (col > 0)
        context = smoothed / smoothed.sum()
        with np.errstate(divide="ignore"):
            pmi = np.log(c) - np.log(row)[:, None] - np.log(context)[None, :] - math.log(shift)
        expected = np.where((c > 0) & (pmi > 0), pmi, 0.0)
        assert np.allclose(ppmi, expected)


def test_plain_pmi_when_exponent_and_shift_are_one():
    _, corpus = random_corpus(4)
    counts, _ = cooccurrence_matrix(corpus, PmiSvdOptions(window=3))
    c = counts.toarray()
    total = c.sum()
    with np.errstate(divide="ignore"):
        pmi = np.log(c * total / np.outer(c.sum(axis=1), c.sum(axis=0)))
    expected = np.where((c > 0) & (pmi > 0), pmi, 0.0)
    assert np.allclose(positive_pmi(counts, 1.0, 1.0).toarray(), expected)


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_vectors_are_u_times_s_to_the_p(p):
    dataset = make_tiny_dataset()
    embedding = fit(dataset.sequences, vector_size=10, eigenvalue_weight=p, solver="dense")
    counts, songs = cooccurrence_matrix(dataset.sequences, PmiSvdOptions())
    ppmi = positive_pmi(counts).toarray()
    u, s, _ = np.linalg.svd(ppmi)
    expected = u[:, :10] * s[:10] ** p
    assert np.array_equal(embedding.song_index, songs)
    # signs of singular vectors are arbitrary: compare the sign-free Gram matrices
    assert np.allclose(embedding.vectors @ embedding.vectors.T, expected @ expected.T, atol=1e-4)


def test_randomized_svd_is_seeded_and_close_to_the_exact_one():
    dataset = make_tiny_dataset(songs=120, sequences=400)
    exact = fit(dataset.sequences, vector_size=5, solver="dense")
    a = fit(dataset.sequences, vector_size=5, solver="randomized", seed=3)
    b = fit(dataset.sequences, vector_size=5, solver="randomized", seed=3)
    assert np.array_equal(a.vectors, b.vectors)
    norms = np.linalg.norm(a.vectors, axis=0)  # = s^0.5 per column
    assert np.allclose(norms, np.linalg.norm(exact.vectors, axis=0), rtol=1e-2)


def test_songs_alone_or_absent_get_no_vector_and_size_is_kept():
    # song 7 only in a sequence of its own, song 8 only next to itself, song 9 never plays
    corpus = Sequences.from_lists([[0, 1, 2], [2, 3, 0], [1, 3], [7], [8, 8], [4, 5, 6, 4]])
    embedding = fit(corpus, vector_size=16, window=2)
    assert set(embedding.song_index.tolist()) == {0, 1, 2, 3, 4, 5, 6}
    assert embedding.vectors.shape == (7, 16)  # columns beyond the rank are zero
    assert np.isfinite(embedding.vectors).all()
    assert np.abs(embedding.vectors).sum(axis=1).min() > 0  # no zero vector
    rare = fit(corpus, vector_size=4, window=2, min_count=2)
    assert 5 not in rare.song_index and 6 not in rare.song_index


def test_context_vectors_bring_co_occurring_songs_together():
    corpus = Sequences.from_lists([[0, 1], [1, 0], [2, 3], [3, 2]])

    def cosine(embedding):
        v = embedding.vectors / np.linalg.norm(embedding.vectors, axis=1, keepdims=True)
        return float(v[0] @ v[1])

    assert cosine(fit(corpus, vector_size=4)) == pytest.approx(0.0, abs=1e-6)  # no shared context
    assert cosine(fit(corpus, vector_size=4, add_context=True)) == pytest.approx(1.0)
    dataset = make_tiny_dataset()
    dense = fit(dataset.sequences, vector_size=6, add_context=True, solver="dense")
    counts, _ = cooccurrence_matrix(dataset.sequences, PmiSvdOptions())
    u, s, vt = np.linalg.svd(positive_pmi(counts).toarray())
    expected = (u[:, :6] + vt[:6].T) * s[:6] ** 0.5
    assert np.allclose(dense.vectors @ dense.vectors.T, expected @ expected.T, atol=1e-3)


def test_empty_corpus_gives_an_empty_embedding():
    embedding = fit(Sequences.from_lists([[3], [4]]), vector_size=4)
    assert len(embedding) == 0 and embedding.dim == 4


def test_neighbours_follow_the_genre_structure():
    dataset = make_tiny_dataset(songs=90, sequences=600, genres=3)
    embedding = fit(dataset.sequences, vector_size=20, window=5)
    genre = dataset.songs["genre"].to_numpy()[embedding.song_index]
    v = embedding.vectors / np.linalg.norm(embedding.vectors, axis=1, keepdims=True)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, :10]
    assert (genre[top] == genre[:, None]).mean() > 0.9


def test_progress_and_time_budget():
    dataset = make_tiny_dataset()
    seen = []
    fit(dataset.sequences, monitor=embench.TrainingMonitor(on_progress=seen.append))
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 3
    with pytest.raises(embench.BudgetExceeded):
        fit(dataset.sequences, monitor=embench.TrainingMonitor(deadline=lambda: True))


def test_search_space_and_defaults():
    assert set(PmiSvd.search_space) == {"vector_size", "window", "exponent", "eigenvalue_weight"}
    defaults = PmiSvdOptions()
    assert (defaults.exponent, defaults.eigenvalue_weight, defaults.window) == (0.75, 0.5, 5)
    for key, dimension in PmiSvd.search_space.items():
        PmiSvdOptions(**{key: dimension.clip(dimension.low)})
        PmiSvdOptions(**{key: dimension.clip(dimension.high)})


def test_vectorised_counting_is_fast():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=20_000)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    corpus = Sequences(indptr, rng.integers(0, 5_000, size=indptr[-1]))
    import time

    start = time.perf_counter()
    counts, _ = cooccurrence_matrix(corpus, PmiSvdOptions(window=5))
    assert time.perf_counter() - start < 10  # ~600k events; a per-pair loop takes minutes
    assert counts.nnz > 0


PMI_BENCHMARK = """
[benchmark]
name = "pmi"
seed = 2
threads = 1
[dataset]
plugin = "tiny"
[split]
train = 0.8
validation = 0.1
test = 0.1
[[configuration]]
name = "pmi"
embedder = "pmi_svd"
[configuration.params]
vector_size = 16
[metrics.next_song]
k = 10
[metrics.vrc_genre]
"""


def test_runs_through_embench_run(tmp_path, test_plugin):
    out = tmp_path / "out"
    code = main(["run", str(write_benchmark(tmp_path, PMI_BENCHMARK)), "-o", str(out), "-q"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    (row,) = summary["configurations"]
    assert row["status"] == "ok" and row["embedder"] == "pmi_svd"
    assert row["metrics"]["hitrate"] > 0 and row["metrics"]["vrc_genre"] > 0
    assert np.load(out / "embeddings" / "pmi" / "vectors.npy").shape[1] == 16


@pytest.mark.parametrize("chunk_pairs", [1, 7, 1 << 24])
@pytest.mark.parametrize("min_count", [1, 3])
def test_counting_in_chunks_and_ppmi_in_row_blocks_change_nothing(
    monkeypatch, chunk_pairs, min_count
):
    from embench_plugins import pmi_svd

    _, corpus = random_corpus(5, n_seq=60, songs=20)
    params = PmiSvdOptions(window=3, min_count=min_count)
    whole, songs = pmi_svd.upper_counts(corpus, params, chunk_pairs=1 << 30)
    upper, same_songs = pmi_svd.upper_counts(corpus, params, chunk_pairs=chunk_pairs)
    assert np.array_equal(songs, same_songs)
    assert np.allclose(upper.toarray(), whole.toarray(), rtol=1e-12, atol=0)
    assert np.all(np.tril(upper.toarray()) == 0)  # the upper triangle only
    monkeypatch.setattr(pmi_svd, "BLOCK_ROWS", 3)  # PPMI rows a few at a time
    for exponent, shift in [(0.75, 1.0), (-0.5, 2.0)]:
        monkeypatch.setattr(params, "exponent", exponent)
        monkeypatch.setattr(params, "shift", shift)
        ppmi, _ = pmi_svd.ppmi_matrix(corpus, params)
        counts, _ = cooccurrence_matrix(corpus, params)
        expected = positive_pmi(counts, exponent, shift)
        assert ppmi.dtype == np.float32 and ppmi.has_sorted_indices
        assert np.array_equal(ppmi.indptr, expected.indptr)
        assert np.array_equal(ppmi.indices, expected.indices)
        assert np.allclose(ppmi.data, expected.data, rtol=1e-6)


def test_counting_memory_follows_distinct_pairs_not_plays():
    import tracemalloc

    from embench_plugins.pmi_svd import upper_counts

    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 40, size=30_000)  # ~600k plays of 40 songs: <= 780 pairs
    corpus = Sequences(
        np.concatenate([[0], np.cumsum(lengths)]), rng.integers(0, 40, lengths.sum())
    )
    tracemalloc.start()
    try:
        upper, _ = upper_counts(corpus, PmiSvdOptions(window=5), chunk_pairs=1 << 16)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert upper.nnz <= 780
    # All offsets at once would hold ~3M pairs (> 50 MB of temporaries).
    assert peak < 8 * 2**20, peak
