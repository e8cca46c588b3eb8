"""Shared helpers of the test-suite: test-only plugins and benchmark files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

import embench
from embench.testing import make_tiny_dataset

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


class TinyOptions(embench.Options):
    songs: int = Field(60, ge=2)
    sequences: int = Field(200, ge=1)


class TinyLoader(embench.DatasetLoader):
    """A tiny in-memory dataset (tests only)."""

    name = "tiny"
    Options = TinyOptions

    def load(self, options, *, seed, base_dir):
        return make_tiny_dataset(options.songs, options.sequences, seed=seed)


class RandomOptions(embench.Options):
    dim: int = Field(8, ge=1)


class RandomEmbedder(embench.Embedder):
    """Seeded random vectors for every song seen in training (tests only)."""

    name = "random"
    Options = RandomOptions
    search_space = {"dim": embench.Dimension(2, 16, integer=True)}

    def fit(self, corpus, params, *, seed, threads, monitor):
        songs = np.unique(corpus.songs)
        vectors = np.random.default_rng(seed).normal(size=(len(songs), params.dim))
        monitor.progress(1.0)
        return embench.Embedding(songs, vectors)


class TestPlugin:
    """Registers the tiny dataset and the random embedder."""

    @embench.hookimpl
    def register_datasets(self, register):
        register(TinyLoader)

    @embench.hookimpl
    def register_embedders(self, register):
        register(RandomEmbedder)


TINY_BENCHMARK = """
[benchmark]
name = "tiny"
seed = 3
threads = 1

[dataset]
plugin = "tiny"

[split]
train = 0.8
validation = 0.1
test = 0.1

[[configuration]]
name = "default"

[[configuration]]
name = "wide"
[configuration.params]
window = 10
epochs = 2

[embedders.word2vec]
vector_size = 16
epochs = 3
"""


def write_benchmark(directory: Path, text: str = TINY_BENCHMARK, name: str = "bench.toml") -> Path:
    path = directory / name
    path.write_text(text)
    return path
