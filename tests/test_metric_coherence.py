"""Local genre / artist coherence against plain Python loops, its stratified samples, and on
planted data against an embedding trained on shuffled sequences."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from embench.errors import DataError
from embench.evaluation import evaluate
from embench_plugins.coherence import (
    ArtistCoherence,
    ArtistCoherenceOptions,
    GenreCoherence,
    GenreCoherenceOptions,
    shares_with_label,
)
from tests.test_metric_clustering import make_context, planted


def reference_neighbours(ctx, song: int, k: int) -> list[int]:
    """Top-k songs by cosine, the song itself excluded, ties by embedding row (pure Python)."""
    rows = {int(s): r for r, s in enumerate(ctx.embedding.song_index)}
    if song not in rows:
        return []
    vectors = ctx.embedding.vectors.astype(float).tolist()

    def cosine(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True)) / (
            math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
        )

    query = vectors[rows[song]]
    others = [s for s in rows if s != song]
    others.sort(key=lambda s: (-cosine(query, vectors[rows[s]]), rows[s]))
    return others[:k]


def labelled_catalogue(seed: int = 0, n: int = 90):
    rng = np.random.default_rng(seed)
    genre = [f"g{i % 6}" if i % 11 else None for i in range(n)]
    artist = [f"a{i % 20}" if i % 13 else None for i in range(n)]
    songs = pd.DataFrame({"song_id": [f"x{i}" for i in range(n)], "genre": genre, "artist": artist})
    weights = 1.0 / np.arange(1, n + 1)  # skewed popularity
    weights /= weights.sum()
    sequences = [
        rng.choice(n, size=int(rng.integers(2, 12)), p=weights).tolist() for _ in range(300)
    ]
    # A few songs without a vector, among them the popular songs 1 and 2.
    known = np.sort(rng.choice(np.arange(3, n), size=n - 8, replace=False))
    known = np.r_[0, known]
    vectors = rng.normal(size=(len(known), 6))
    return make_context(sequences, songs, known, vectors)


def label_of(ctx, column: str, song: int):
    value = ctx.dataset.songs[column][song]
    return None if pd.isna(value) else value


@pytest.mark.parametrize(
    ("metric", "options", "column"),
    [
        (
            GenreCoherence(),
            GenreCoherenceOptions(k=7, genres=4, pool=8, songs_per_genre=5),
            "genre",
        ),
        (
            ArtistCoherence(),
            ArtistCoherenceOptions(k=5, strata=3, artists_per_stratum=4, songs_per_artist=2),
            "artist",
        ),
    ],
)
def test_coherence_matches_python_loops(metric, options, column):
    ctx = labelled_catalogue()
    result = metric.compute(ctx, options)
    ids = list(ctx.dataset.songs["song_id"])
    shares = []
    for song_id, share in zip(
        result.per_query["song_id"], result.per_query["coherence"], strict=True
    ):
        song = ids.index(song_id)
        label = label_of(ctx, column, song)
        neighbours = reference_neighbours(ctx, song, options.k)
        same = sum(1 for s in neighbours if label is not None and label_of(ctx, column, s) == label)
        expected = same / min(options.k, len(ctx.embedding) - 1)  # no vector: 0, a miss
        assert share == pytest.approx(expected), song_id
        shares.append(expected)
    assert result.values[metric.name] == pytest.approx(sum(shares) / len(shares))
    assert len(shares) > 10


def test_a_song_without_vector_counts_as_a_miss():
    ctx = labelled_catalogue()
    assert (ctx.rows[[1, 2]] == -1).all()
    codes = pd.factorize(ctx.dataset.songs["genre"])[0]
    shares = shares_with_label(ctx, np.array([1, 2, 3]), codes, 5)
    assert shares[0] == shares[1] == 0
    neighbours = reference_neighbours(ctx, 3, 5)
    assert shares[2] == sum(codes[s] == codes[3] for s in neighbours) / 5
    # Popular songs without a vector are sampled, not dropped.
    options = GenreCoherenceOptions(genres=6, pool=3, songs_per_genre=3)
    sampled = GenreCoherence().compute(ctx, options).per_query.set_index("song_id")
    assert sampled.loc[["x1", "x2"], "coherence"].tolist() == [0, 0]


def test_genre_sample_is_stratified_over_popular_songs_of_top_genres():
    ctx = labelled_catalogue()
    options = GenreCoherenceOptions(genres=3, pool=6, songs_per_genre=4)
    per_query = GenreCoherence().compute(ctx, options).per_query
    plays = ctx.popularity
    ids = list(ctx.dataset.songs["song_id"])
    genre_plays = defaultdict(int)
    for song in range(ctx.dataset.n_songs):
        if label_of(ctx, "genre", song) is not None:
            genre_plays[label_of(ctx, "genre", song)] += int(plays[song])
    top = sorted(genre_plays, key=lambda g: -genre_plays[g])[:3]
    assert sorted(set(per_query["genre"])) == sorted(top)
    for genre in top:
        members = [
            s
            for s in range(ctx.dataset.n_songs)
            if label_of(ctx, "genre", s) == genre and plays[s] > 0
        ]
        pool = sorted(members, key=lambda s: (-plays[s], s))[:6]
        drawn = [ids.index(i) for i in per_query["song_id"][per_query["genre"] == genre]]
        assert len(drawn) == len(set(drawn)) == min(4, len(pool))
        assert set(drawn) <= set(pool)


def test_artist_sample_is_stratified_by_artist_popularity():
    ctx = labelled_catalogue()
    options = ArtistCoherenceOptions(strata=3, artists_per_stratum=2, songs_per_artist=2)
    per_query = ArtistCoherence().compute(ctx, options).per_query
    plays = ctx.popularity
    played = defaultdict(list)
    for song in range(ctx.dataset.n_songs):
        if label_of(ctx, "artist", song) is not None and plays[song] > 0:
            played[label_of(ctx, "artist", song)].append(song)
    eligible = [a for a in played if len(played[a]) >= 2]
    ranked = sorted(eligible, key=lambda a: (-sum(plays[s] for s in played[a]), a))
    stratum = {a: i * 3 // len(ranked) for i, a in enumerate(ranked)}
    ids = list(ctx.dataset.songs["song_id"])
    artists_by_stratum = defaultdict(set)
    for song_id, artist, s in zip(
        per_query["song_id"], per_query["artist"], per_query["stratum"], strict=True
    ):
        assert stratum[artist] == s
        assert ids.index(song_id) in played[artist]
        artists_by_stratum[s].add(artist)
    assert sorted(artists_by_stratum) == [0, 1, 2]
    assert all(len(a) == 2 for a in artists_by_stratum.values())
    for artist, group in per_query.groupby("artist"):
        assert len(group) == len(set(group["song_id"])) == min(2, len(played[artist]))


def test_samples_are_seeded():
    ctx = labelled_catalogue()
    first = ArtistCoherence().compute(ctx, ArtistCoherenceOptions()).per_query
    again = ArtistCoherence().compute(ctx, ArtistCoherenceOptions()).per_query
    pd.testing.assert_frame_equal(first, again)


def test_coherence_on_planted_data_beats_shuffled_sequences():
    real, shuffled = planted()
    for metric, options in (
        (GenreCoherence(), GenreCoherenceOptions()),
        (ArtistCoherence(), ArtistCoherenceOptions(k=10)),
    ):
        good = metric.compute(real, options).values[metric.name]
        bad = metric.compute(shuffled, options).values[metric.name]
        assert good > 2 * bad and good > 0.5, (metric.name, good, bad)


def test_coherence_without_labels_is_a_data_error():
    ctx = labelled_catalogue()
    ctx.dataset.songs["genre"] = pd.array([None] * ctx.dataset.n_songs, dtype="string")
    with pytest.raises(DataError, match="genre"):
        evaluate(ctx, [("coherence_genre", GenreCoherence(), GenreCoherenceOptions())])
    with pytest.raises(DataError, match="genre"):
        GenreCoherence().compute(ctx, GenreCoherenceOptions())
    ctx.dataset.songs["artist"] = pd.array(
        [f"a{i}" for i in range(ctx.dataset.n_songs)], dtype="string"
    )
    with pytest.raises(DataError, match="2 or more songs"):
        ArtistCoherence().compute(ctx, ArtistCoherenceOptions())
