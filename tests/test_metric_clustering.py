"""VRC (Calinski-Harabasz over genre / artist labels) against an explicit dispersion formula,
and on planted data against an embedding trained on shuffled sequences.

``planted`` (also used by the coherence and HardNeg tests) builds a catalogue with planted
genres and artists, sequences that stay within an artist / genre, plus "hub" songs inserted at
random positions (adjacent to other songs by chance only), and trains small Word2Vec models.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

import embench
from embench.context import EvalContext
from embench.data.dataset import Dataset, Sequences
from embench.data.split import make_split
from embench.errors import DataError
from embench.evaluation import evaluate
from embench_plugins.clustering import (
    VrcArtist,
    VrcArtistOptions,
    VrcGenre,
    VrcGenreOptions,
    variance_ratio,
)

GENRES, ARTISTS, SONGS_PER_ARTIST, HUBS = 5, 8, 8, 2
CORE = GENRES * ARTISTS * SONGS_PER_ARTIST  # songs with labels; hubs come after them


def planted_dataset(seed: int = 0, sequences: int = 1500) -> Dataset:
    rng = np.random.default_rng(seed)
    lists = []
    for _ in range(sequences):
        genre = rng.integers(GENRES)
        artist = genre * ARTISTS + rng.integers(ARTISTS)
        sequence = []
        for _ in range(rng.integers(8, 20)):
            draw = rng.random()
            if draw < 0.05:  # rarely jump to another genre
                genre = rng.integers(GENRES)
                artist = genre * ARTISTS + rng.integers(ARTISTS)
            elif draw < 0.4:  # change artist within the genre
                artist = genre * ARTISTS + rng.integers(ARTISTS)
            sequence.append(int(artist * SONGS_PER_ARTIST + rng.integers(SONGS_PER_ARTIST)))
        if rng.random() < 0.5:  # a hub, dropped anywhere: its neighbours are chance
            sequence.insert(int(rng.integers(1, len(sequence))), CORE + int(rng.integers(HUBS)))
        lists.append(sequence)
    song = np.arange(CORE)
    songs = pd.DataFrame(
        {
            "song_id": [f"s{i}" for i in range(CORE + HUBS)],
            "title": [f"Song {i}" for i in range(CORE + HUBS)],
            "artist": [f"artist{a}" for a in song // SONGS_PER_ARTIST] + [None] * HUBS,
            "genre": [f"genre{g}" for g in song // (ARTISTS * SONGS_PER_ARTIST)] + [None] * HUBS,
        }
    )
    return Dataset("planted", Sequences.from_lists(lists), songs)


def train_word2vec(corpus: Sequences, seed: int = 0) -> embench.Embedding:
    from gensim.models import Word2Vec

    sentences = [[str(s) for s in sequence] for sequence in corpus]
    model = Word2Vec(
        sentences,
        vector_size=32,
        window=3,
        sg=1,
        negative=5,
        min_count=1,
        workers=1,
        seed=seed,
        epochs=5,
    )
    songs = np.array([int(w) for w in model.wv.index_to_key], dtype=np.int64)
    return embench.Embedding(songs, model.wv.vectors)


@lru_cache(maxsize=1)
def planted() -> tuple[EvalContext, EvalContext]:
    """Contexts of an embedding trained on the planted sequences and one trained on the same
    sequences with songs shuffled across sequences (same songs, same lengths)."""
    dataset = planted_dataset()
    split = make_split(dataset, (0.8, 0.1, 0.1), seed=0)
    real = train_word2vec(split.train)
    shuffled_songs = np.random.default_rng(1).permutation(split.train.songs)
    shuffled = train_word2vec(Sequences(split.train.indptr, shuffled_songs))

    def context(embedding):
        return EvalContext(dataset=dataset, split=split, embedding=embedding, seed=0)

    return context(real), context(shuffled)


def make_context(sequences, songs: pd.DataFrame, known, vectors) -> EvalContext:
    dataset = Dataset("small", Sequences.from_lists(sequences), songs)
    split = make_split(dataset, (0.8, 0.1, 0.1), seed=0)
    embedding = embench.Embedding(np.asarray(known, dtype=np.int64), vectors)
    return EvalContext(dataset=dataset, split=split, embedding=embedding, seed=0, threads=1)


def reference_vrc(vectors: np.ndarray, labels: list) -> float:
    """Calinski-Harabasz by the book: between / (K - 1) over within / (n - K)."""
    x = np.asarray(vectors, dtype=np.float64)
    centre = x.mean(axis=0)
    groups = sorted(set(labels))
    between = within = 0.0
    for group in groups:
        members = x[[i for i, label in enumerate(labels) if label == group]]
        centroid = members.mean(axis=0)
        between += len(members) * float(((centroid - centre) ** 2).sum())
        within += float(((members - centroid) ** 2).sum())
    n, k = len(x), len(groups)
    return (between / (k - 1)) / (within / (n - k))


def small_catalogue(seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 40
    genre = [f"g{i % 4}" if i % 7 else None for i in range(n)]  # some songs lack a genre
    artist = [f"a{i % 13}" for i in range(n)]  # a10..a12 have 3 songs, a0..a0 4; then cut
    artist[39] = "solo"  # a single-song artist, left out with min_songs = 2
    songs = pd.DataFrame({"song_id": [f"x{i}" for i in range(n)], "genre": genre, "artist": artist})
    sequences = [rng.integers(0, n, size=int(rng.integers(2, 9))).tolist() for _ in range(60)]
    known = np.sort(rng.choice(n, size=34, replace=False))  # some songs without a vector
    vectors = rng.normal(size=(len(known), 5)) + 3.0
    return sequences, songs, known, vectors


@pytest.mark.parametrize("normalise", [True, False])
def test_vrc_matches_the_explicit_formula(normalise):
    sequences, songs, known, vectors = small_catalogue()
    ctx = make_context(sequences, songs, known, vectors)
    genre_value = VrcGenre().compute(ctx, VrcGenreOptions(normalise=normalise)).values
    artist_value = VrcArtist().compute(ctx, VrcArtistOptions(normalise=normalise)).values

    def expected(column, min_songs):
        x = ctx.embedding.vectors.astype(np.float64)  # as stored: float32
        x = x / np.linalg.norm(x, axis=1, keepdims=True) if normalise else x
        labels = [None if pd.isna(songs[column][s]) else songs[column][s] for s in known]
        counts = {g: sum(1 for label in labels if label == g) for g in set(labels)}
        keep = [
            i for i, label in enumerate(labels) if label is not None and counts[label] >= min_songs
        ]
        return reference_vrc(x[keep], [labels[i] for i in keep])

    assert genre_value["vrc_genre"] == pytest.approx(expected("genre", 1), rel=1e-9)
    assert artist_value["vrc_artist"] == pytest.approx(expected("artist", 2), rel=1e-9)


def test_vrc_min_songs_leaves_small_artists_out():
    sequences, songs, known, vectors = small_catalogue()
    ctx = make_context(sequences, songs, known, vectors)
    result = VrcArtist().compute(ctx, VrcArtistOptions(min_songs=3))
    labels = [songs["artist"][s] for s in known]
    big = {a for a in set(labels) if labels.count(a) >= 3}
    assert result.tables["vrc_artist"]["artists"].iloc[0] == len(big)
    assert result.tables["vrc_artist"]["songs"].iloc[0] == sum(label in big for label in labels)


def test_variance_ratio_matches_scikit_learn():
    from sklearn.metrics import calinski_harabasz_score

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 7))
    labels = rng.integers(0, 9, size=300)
    labels[:9] = np.arange(9)  # every group present
    value, _, _ = variance_ratio(x, labels)
    assert value == pytest.approx(calinski_harabasz_score(x, labels), rel=1e-9)


def test_vrc_on_planted_genres_and_artists_beats_shuffled_sequences():
    real, shuffled = planted()
    for metric, options in ((VrcGenre(), VrcGenreOptions()), (VrcArtist(), VrcArtistOptions())):
        good = metric.compute(real, options).values[metric.name]
        bad = metric.compute(shuffled, options).values[metric.name]
        assert good > 3 * bad, (metric.name, good, bad)


def test_vrc_without_labels_is_a_data_error():
    sequences, songs, known, vectors = small_catalogue()
    ctx = make_context(sequences, songs.drop(columns=["genre"]), known, vectors)
    with pytest.raises(DataError, match="genre"):
        evaluate(ctx, [("vrc_genre", VrcGenre(), VrcGenreOptions())])
    with pytest.raises(DataError, match="at least two genres"):
        VrcGenre().compute(ctx, VrcGenreOptions())


def test_vrc_with_only_single_song_artists_is_a_data_error():
    sequences, songs, known, vectors = small_catalogue()
    songs = songs.assign(artist=[f"only{i}" for i in range(len(songs))])
    ctx = make_context(sequences, songs, known, vectors)
    with pytest.raises(DataError, match="at least two artists with 2 or more"):
        VrcArtist().compute(ctx, VrcArtistOptions())
