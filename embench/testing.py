"""Pytest fixtures for plugin authors (registered through the ``pytest11`` entry point).

- ``embench_plugins``: a fresh :class:`~embench.plugins.Plugins` factory (entry points + temps)
- ``register_plugin``: ``register_plugin(name, module_or_object)`` makes a plugin visible to
  every plugin manager built during the test (including ``embench run``), removed afterwards
- ``tiny_dataset``: a small seeded :class:`~embench.data.dataset.Dataset` with artists/genres
"""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np
import pandas as pd
import pytest

from embench.data.dataset import Dataset, Sequences
from embench.plugins import get_plugin_manager, temporary_plugin


def make_tiny_dataset(
    songs: int = 60, sequences: int = 200, genres: int = 3, artists: int = 12, seed: int = 0
) -> Dataset:
    """Sequences that stay within one genre; songs grouped into artists within genres."""
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
    return Dataset("tiny", Sequences.from_lists(lists), table)


@pytest.fixture
def embench_plugins():
    """Call it to build a fresh plugin manager: ``plugins = embench_plugins()``."""
    return get_plugin_manager


@pytest.fixture
def register_plugin():
    with ExitStack() as stack:

        def register(name: str, plugin: object) -> object:
            return stack.enter_context(temporary_plugin(name, plugin))

        yield register


@pytest.fixture
def tiny_dataset() -> Dataset:
    return make_tiny_dataset()
