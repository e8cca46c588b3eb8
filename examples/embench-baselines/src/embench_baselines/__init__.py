"""A random-vector baseline embedder and a catalogue-coverage metric for embench."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

import embench


class RandomOptions(embench.Options):
    vector_size: int = Field(32, ge=1, le=4096, description="dimension of the random vectors")


class RandomBaseline(embench.Embedder[RandomOptions]):
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
    """Share of the catalogue found in at least one song's top-k neighbours.

    Per query (here: per song of the catalogue) ``reached`` says whether the song is among some
    song's top-k, so configurations can be compared with a paired test.
    """

    name = "coverage"
    Options = CoverageOptions
    values = {"coverage": embench.Value("max", per_query="reached")}
    query_keys = ("song_id",)

    def neighbours(self, ctx, options):
        return embench.NeighbourRequest(options.k)  # every song's top-k

    def compute(self, ctx, options):
        top = ctx.song_neighbours(np.arange(ctx.dataset.n_songs), options.k)
        reached = np.zeros(ctx.dataset.n_songs, dtype=bool)
        reached[top[top >= 0]] = True
        per_song = pd.DataFrame({"song_id": ctx.dataset.songs["song_id"], "reached": reached})
        return embench.MetricResult(values={"coverage": reached.mean()}, per_query=per_song)


@embench.hookimpl
def register_embedders(register):
    register(RandomBaseline)


@embench.hookimpl
def register_metrics(register):
    register(Coverage)
