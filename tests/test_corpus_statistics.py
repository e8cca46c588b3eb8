"""Statistics of a training corpus are computed once per corpus and reused by every trial."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from embench.context import EvalContext
from embench.data.dataset import Sequences
from embench_plugins import hardneg
from embench_plugins.hardneg import HardNeg, HardNegOptions, bigram_statistics
from tests.test_metric_hardneg import random_context


def test_memo_is_per_corpus_object_and_never_pickled():
    corpus = Sequences.from_lists([[0, 1, 2], [2, 1]])
    calls = []
    first = corpus.memo("key", lambda: calls.append(1) or [1, 2])
    assert corpus.memo("key", lambda: calls.append(1) or [3]) is first and len(calls) == 1
    assert Sequences(corpus.indptr, corpus.songs).memo("key", lambda: "fresh") == "fresh"
    copy = pickle.loads(pickle.dumps(corpus))
    assert copy.memo("key", lambda: "recomputed") == "recomputed"


def test_digest_names_the_sequences_not_the_object():
    corpus = Sequences.from_lists([[0, 1, 2], [3, 4]])
    assert corpus.digest() == Sequences.from_lists([[0, 1, 2], [3, 4]]).digest()
    assert corpus.digest() != Sequences.from_lists([[0, 1], [2, 3, 4]]).digest()  # same songs
    assert corpus.digest() != Sequences.from_lists([[0, 1, 2], [3, 5]]).digest()
    assert len(corpus.digest()) == 32


def test_hardneg_counts_bigrams_once_per_training_corpus(monkeypatch):
    ctx = random_context()
    calls = []
    monkeypatch.setattr(
        hardneg, "bigram_statistics", lambda c, n: calls.append(c) or bigram_statistics(c, n)
    )
    options = HardNegOptions(k=5)
    first = HardNeg().compute(ctx, options)
    rng = np.random.default_rng(1)
    # A second trial: another embedding, the same split (the same training corpus object).
    other = EvalContext(
        dataset=ctx.dataset,
        split=ctx.split,
        embedding=type(ctx.embedding)(
            ctx.embedding.song_index, rng.normal(size=ctx.embedding.vectors.shape)
        ),
        seed=0,
        threads=1,
    )
    second = HardNeg().compute(other, HardNegOptions(k=5, threshold="p_value"))
    assert len(calls) == 1 and calls[0] is ctx.split.train
    assert not first.per_query["hardneg"].equals(second.per_query["hardneg"])
    # The memo changes nothing: a fresh count gives the same result.
    monkeypatch.setattr(hardneg, "corpus_bigram_statistics", hardneg.bigram_statistics)
    again = HardNeg().compute(ctx, options)
    pd.testing.assert_frame_equal(again.per_query, first.per_query)
    assert again.values == first.values


def test_pair_keys_are_sorted_int64_and_match_first_second():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 12, size=3_000)
    corpus = Sequences(
        np.concatenate([[0], np.cumsum(lengths)]), rng.integers(0, 70_000, lengths.sum())
    )
    n = 70_000  # keys up to n^2 = 4.9e9: beyond int32
    stats = bigram_statistics(corpus, n)
    assert stats.keys.dtype == np.int64 and np.all(np.diff(stats.keys) > 0)
    assert np.all(stats.first < stats.second)
    pairs = {}
    for sequence in corpus:
        for x, y in zip(sequence.tolist(), sequence[1:].tolist(), strict=False):
            if x != y:
                key = (min(x, y), max(x, y))
                pairs[key] = pairs.get(key, 0) + 1
    keys = zip(stats.first.tolist(), stats.second.tolist(), strict=True)
    got = dict(zip(keys, stats.count.tolist(), strict=True))
    assert got == pairs


def test_bigram_statistics_peak_memory_per_bigram(monkeypatch):
    import tracemalloc

    monkeypatch.setattr(hardneg, "PAIR_CHUNK", 1 << 16)  # the statistic a chunk at a time
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 60, size=60_000)  # ~1.8M bigrams, nearly all distinct pairs
    songs = rng.integers(0, 50_000, lengths.sum())
    corpus = Sequences(np.concatenate([[0], np.cumsum(lengths)]), songs)
    tracemalloc.start()
    try:
        stats = bigram_statistics(corpus, 50_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # int64 keys (8) + int32 counts (4) + float64 statistics (8) + the sort's flags and starts:
    # about 28 bytes per bigram; int64 (row, column, count) triples would take 70 and more.
    assert peak < 36 * stats.n_bigrams, peak / stats.n_bigrams
