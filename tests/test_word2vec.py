"""Word2Vec's training input: the streamed corpus, the cached corpus file, budgets, seeds."""

import tracemalloc

import numpy as np
import pytest

import embench
from embench.data.dataset import Sequences
from embench.data.synthetic import generate
from embench_plugins import word2vec
from embench_plugins.word2vec import (
    SequenceStream,
    Word2Vec,
    Word2VecOptions,
    corpus_file_of,
    stable_hash,
    write_line_sentences,
)


@pytest.fixture(scope="module")
def corpus():
    return generate(songs=500, sequences=600, play_log=False, seed=3).sequences


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(word2vec.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def as_lists(corpus):
    return [[str(s) for s in sequence] for sequence in corpus]


def fit(corpus, monitor=None, **options):
    params = Word2VecOptions(**{"vector_size": 8, "epochs": 2, "workers": 1, **options})
    return Word2Vec().fit(
        corpus, params, seed=4, threads=1, monitor=monitor or embench.TrainingMonitor()
    )


def test_the_stream_yields_every_sequence_across_blocks(monkeypatch):
    lists = [[3, 1], [], [2], [0, 0, 4], [5], [1, 2, 3, 4]]
    monkeypatch.setattr(SequenceStream, "BLOCK", 4)  # sequences 4, 5 come from a second block
    stream = SequenceStream(Sequences.from_lists(lists))
    expected = [[str(s) for s in seq] for seq in lists]
    assert list(stream) == expected
    assert list(stream) == expected  # re-iterable: gensim reads it once per epoch


def test_streaming_trains_exactly_as_gensim_on_token_lists(corpus):
    from gensim.models import Word2Vec as GensimWord2Vec

    embedding = fit(corpus)
    model = GensimWord2Vec(
        sentences=as_lists(corpus),
        sg=1,
        vector_size=8,
        epochs=2,
        workers=1,
        seed=4,
        min_count=1,
        hashfxn=stable_hash,
    )
    assert embedding.song_index.tolist() == [int(k) for k in model.wv.index_to_key]
    assert np.array_equal(embedding.vectors, model.wv.vectors)


def random_corpus(n_sequences: int) -> Sequences:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=n_sequences)
    songs = rng.integers(0, 3_000, lengths.sum())
    return Sequences(np.concatenate([[0], np.cumsum(lengths)]), songs)


def peak_bytes_of_fit(corpus) -> int:
    tracemalloc.start()
    try:
        fit(corpus, epochs=1)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_training_memory_does_not_grow_with_the_corpus(corpus):
    fit(corpus)  # first imports and caches out of the way
    small = peak_bytes_of_fit(random_corpus(20_000))
    large = peak_bytes_of_fit(random_corpus(60_000))  # 3x the plays: lists would take ~3x
    assert large < 1.3 * small, (small, large)


@pytest.mark.parametrize("block_events", [1, 7, 1 << 22])
def test_the_corpus_file_is_line_sentence_format(tmp_path, corpus, block_events):
    path = tmp_path / "corpus.txt"
    write_line_sentences(corpus, path, block_events=block_events)
    assert path.read_text() == "".join(" ".join(seq) + "\n" for seq in as_lists(corpus))


def test_the_corpus_file_is_written_once_per_corpus(corpus, cache_dir, monkeypatch):
    writes = []
    real = word2vec.write_line_sentences
    monkeypatch.setattr(
        word2vec, "write_line_sentences", lambda c, p: writes.append(p) or real(c, p)
    )
    first = fit(corpus, corpus_file=True)
    again = fit(Sequences(corpus.indptr.copy(), corpus.songs.copy()), corpus_file=True)
    assert len(writes) == 1 and list(cache_dir.iterdir()) == [corpus_file_of(corpus)]
    assert np.array_equal(first.vectors, again.vectors)  # one worker: reproducible
    other = Sequences(corpus.indptr, corpus.songs[::-1].copy())
    assert corpus_file_of(other) != corpus_file_of(corpus)
    assert len(writes) == 2


def test_a_budget_stops_both_modes(corpus):
    stop = embench.TrainingMonitor(deadline=lambda: True)
    with pytest.raises(embench.BudgetExceeded, match="in epoch 1 of 2"):
        fit(corpus, monitor=stop)
    with pytest.raises(embench.BudgetExceeded, match="after epoch 1 of 2"):
        fit(corpus, monitor=stop, corpus_file=True)
    seen = []
    fit(corpus, corpus_file=True, monitor=embench.TrainingMonitor(on_progress=seen.append))
    assert seen == [0.5, 1.0]
