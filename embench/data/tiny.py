"""A tiny seeded dataset (60 songs, 200 sequences) for plugin checks, tests and examples."""

from __future__ import annotations

import numpy as np
import pandas as pd

from embench.data.dataset import Dataset, Sequences


def make_tiny_dataset(
    songs: int = 60,
    sequences: int = 200,
    genres: int = 3,
    artists: int = 12,
    seed: int = 0,
    *,
    play_log: bool = False,
) -> Dataset:
    """Sequences that stay within one genre; songs grouped into artists within genres.

    Songs are named ``s0``, ``s1``, ... With ``play_log`` a seeded log of 400 (seed song,
    recommended song, organic plays, successful plays) rows is added, so play-log metrics run.
    """
    rng = np.random.default_rng(seed)
    genre_of = np.arange(songs) % genres
    artist_of = (np.arange(songs) // genres) % artists * genres + genre_of
    lists = []
    for _ in range(sequences):
        genre = rng.integers(genres)
        pool = np.flatnonzero(genre_of == genre)
        lists.append(rng.choice(pool, size=int(rng.integers(2, 12))).tolist())
    table = pd.DataFrame(
        {
            "song_id": [f"s{i}" for i in range(songs)],
            "title": [f"Song {i}" for i in range(songs)],
            "artist": [f"artist{a}" for a in artist_of],
            "genre": [f"genre{g}" for g in genre_of],
        }
    )
    dataset = Dataset("tiny", Sequences.from_lists(lists), table)
    if play_log:
        dataset.play_log = _play_log(songs, seed)
    return dataset


def _play_log(songs: int, seed: int, pairs: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 7])
    organic = rng.integers(1, 400, size=pairs)
    return pd.DataFrame(
        {
            "seed_song": rng.integers(0, songs, size=pairs),
            "recommended_song": rng.integers(0, songs, size=pairs),
            "organic_plays": organic,
            "successful_plays": rng.binomial(organic, rng.uniform(0.05, 0.6, size=pairs)),
        }
    )
