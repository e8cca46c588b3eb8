"""A random-vector baseline embedder and a catalogue-coverage metric for embench."""

from __future__ import annotations

import numpy as np
from pydantic import Field

import embench


class RandomOptions(embench.Options):
    vector_size: int = Field(32, ge=1, le=4096, description="dimension of the random vectors")


class RandomBaseline(embench.Embedder):
    """Seeded Gaussian vectors for every song seen in training (a floor to beat)."""

    name = "random-baseline"
    Options = RandomOptions
    search_space = {"vector_size": embench.Dimension(8, 128, integer=True)}

    def fit(self, corpus, params, *, seed, threads, monitor):
        songs = np.unique(corpus.songs)
        vectors = np.random.default_rng(seed).standard_normal((len(songs), params.vector_size))
        monitor.progress(1.0)
        return embench.Embedding(songs, vectors.astype(np.float32))


class CoverageOptions(embench.Options):
    k: int = Field(100, ge=1, description="length of each song's neighbour list")


class Coverage(embench.Metric[CoverageOptions]):
    """Share of the catalogue found in at least one song's top-k neighbours."""

    name = "coverage"
    Options = CoverageOptions
    values = {"coverage": embench.Value("max")}

    def neighbours(self, ctx, options):
        return embench.NeighbourRequest(options.k)  # every song's top-k

    def compute(self, ctx, options):
        songs = np.arange(ctx.dataset.n_songs)
        neighbours = ctx.song_neighbours(songs, options.k)
        reached = np.unique(neighbours[neighbours >= 0])
        return embench.MetricResult(values={"coverage": len(reached) / ctx.dataset.n_songs})


@embench.hookimpl
def register_embedders(register):
    register(RandomBaseline)


@embench.hookimpl
def register_metrics(register):
    register(Coverage)
