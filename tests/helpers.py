"""Shared helpers of the test-suite: test-only plugins and benchmark files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from pydantic import Field

import embench
from embench.data.tiny import make_tiny_dataset

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
    delay: float = Field(0.0, ge=0, description="seconds of sleep per training (time budget)")
    fail_above: float | None = Field(None, description="raise when delay exceeds this")


class RandomEmbedder(embench.Embedder):
    """Seeded random vectors for every song seen in training (tests only)."""

    name = "random"
    Options = RandomOptions
    search_space = {
        "dim": embench.Dimension(2, 16, integer=True),
        "delay": embench.Dimension(0.0, 0.05),
    }

    def fit(self, corpus, params, *, seed, threads, monitor):
        if params.fail_above is not None and params.delay > params.fail_above:
            raise RuntimeError(f"delay {params.delay} is too long")
        time.sleep(params.delay)
        songs = np.unique(corpus.songs)
        vectors = np.random.default_rng(seed).normal(size=(len(songs), params.dim))
        monitor.progress(1.0)
        return embench.Embedding(songs, vectors)


class SequenceSearch(embench.Search):
    """Seeded uniform proposals; remembers what it was told (tests only)."""

    def __init__(self, space, seed):
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.told = []

    def ask(self):
        return {k: d.clip(self.rng.uniform(d.low, d.high)) for k, d in self.space.items()}

    def tell(self, params, objectives, feasible):
        self.told.append((params, objectives, feasible))

    def best(self):
        return [p for p, _, f in self.told if f][:1]


class UniformOptimiser(embench.Optimiser):
    """Seeded uniform search (tests only)."""

    name = "uniform"
    multi_objective = True

    def create(self, space, n_objectives, options, *, seed, budget):
        return SequenceSearch(space, seed)


class TestPlugin:
    """Registers the tiny dataset and the random embedder."""

    @embench.hookimpl
    def register_datasets(self, register):
        register(TinyLoader)

    @embench.hookimpl
    def register_embedders(self, register):
        register(RandomEmbedder)

    @embench.hookimpl
    def register_optimisers(self, register):
        register(UniformOptimiser)


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


STUDY_BENCHMARK = """
[benchmark]
name = "tiny-study"
seed = 5
threads = 1

[dataset]
plugin = "tiny"

[split]
train = 0.8
validation = 0.1
test = 0.1

[[configuration]]
name = "default"
embedder = "random"

[[study]]
name = "search"
optimiser = "uniform"
embedder = "random"
budget = 6
objective = "hitrate"
time_budget = 1000
"""
