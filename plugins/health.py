"""Embedding-space health: hubness and anisotropy of the song vectors (beyond the paper).

Nearest-neighbour recommenders suffer from *hubness* (Radovanovic et al., "Hubs in space",
JMLR 2010): in high-dimensional spaces a few points turn up in almost everyone's top-k list
while many turn up in none, so the same few songs get recommended everywhere. A collapsed
(anisotropic) space, where every vector points the same way, makes it worse. None of the
paper's metrics sees either. Definitions, over the *population*: the songs with a vector; the
queries are the songs played in training that have a vector (all of them, or those in the
played songs' seeded sample of ``max_songs`` on a large catalogue, the sample HardNeg scores):

- **k-occurrence** ``N_k(x)``: how many queries have song ``x`` among their top-``k``
  neighbours (the query itself excluded). Its mean is ``k``.
- ``k_skewness``: the skewness of ``N_k`` over the population (the third standardised moment,
  population form, as scipy's ``skew``): about 0 for a healthy space, large and positive
  with hubs.
- ``antihubs``: the share of songs in no top-``k`` list (``N_k = 0``): never recommended.
- ``hub_slots``: the share of all top-``k`` slots taken by the top ``hub_share`` (1%) of songs
  by ``N_k`` (at least one song). ``hub_share`` itself when every song occurs equally often.
- ``mean_cosine``: the mean cosine similarity of distinct song pairs (every pair when there are
  at most ``pairs`` of them, else ``pairs`` pairs drawn with the metric's seeded generator): 0
  for isotropic vectors, near 1 for a collapsed space.
- ``neighbour_popularity``: per query, the mean popularity percentile of its neighbours minus
  the query's own (percentile: mid-rank of training plays within the population, in [0, 1]);
  the value is the mean over queries. 0 when neighbours are as popular as their queries,
  positive when the space pulls queries towards popular songs.

Lower is better for all five (``neighbour_popularity``: closer to zero or below). The
``k_occurrence_histogram`` table (``k_occurrence``, ``songs``: how many songs have each
k-occurrence) is what a report draws; the ``health`` table gives the sizes and the median
cosine of a query to its ``k``-th neighbour.

On a sample of queries the k-occurrences count the sampled lists only: skewness and
``hub_slots`` are estimated without bias of scale, but more songs have ``N_k = 0`` than on the
whole catalogue; every configuration is scored on the same sample, so they compare.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import Field

import embench
from embench.errors import DataError

CHUNK = 20_000  # queries (or pairs) handled at once; bounds memory at CHUNK x k


class HealthOptions(embench.Options):
    k: int = Field(10, ge=1, description="neighbours of each query (the k of k-occurrence)")
    hub_share: float = Field(
        0.01, gt=0, le=1, description="the hubs: this share of songs with the largest k-occurrence"
    )
    max_songs: int = Field(
        20_000,
        ge=2,
        description="queries at most (a seeded sample of the played songs beyond: HardNeg's)",
    )
    pairs: int = Field(
        100_000, ge=1, description="song pairs whose cosine is averaged (every pair when fewer)"
    )


def skewness(x: np.ndarray) -> float:
    """Population skewness ``m3 / m2 ** 1.5`` (0 when every value is equal)."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean()
    m2 = float(np.mean(centred**2))
    if m2 <= 0:
        return 0.0
    return float(np.mean(centred**3) / m2**1.5)


def percentiles(values: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each value among ``values``, in (0, 1) (ties share one)."""
    values = np.asarray(values)
    n = len(values)
    ordered = np.sort(values)
    below = np.searchsorted(ordered, values, side="left")
    not_above = np.searchsorted(ordered, values, side="right")
    return (below + not_above) / (2.0 * n)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    x = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def pair_sample(n: int, pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``i < j`` of ``n`` items when there are at most ``pairs``, else ``pairs``
    pairs of distinct items drawn uniformly (with replacement)."""
    if n * (n - 1) // 2 <= pairs:
        i, j = np.triu_indices(n, k=1)
        return i.astype(np.int64), j.astype(np.int64)
    i = rng.integers(0, n, size=pairs)
    j = rng.integers(0, n - 1, size=pairs)
    j = j + (j >= i)  # uniform over the other n - 1 items
    return i, j


def mean_cosine(vectors: np.ndarray, pairs: int, rng: np.random.Generator) -> tuple[float, int]:
    """Mean cosine of distinct row pairs (all, or a sample of ``pairs``) and the pairs used."""
    unit = unit_rows(vectors)
    i, j = pair_sample(len(unit), pairs, rng)
    total = 0.0
    for start in range(0, len(i), CHUNK):
        a, b = i[start : start + CHUNK], j[start : start + CHUNK]
        total += float(np.einsum("ij,ij->i", unit[a], unit[b]).sum())
    return total / len(i), len(i)


class Health(embench.Metric[HealthOptions]):
    """Hubness (k-occurrence skewness, anti-hubs, hub slots), anisotropy, popularity pull."""

    name = "health"
    Options = HealthOptions
    values = {
        "k_skewness": embench.Value(
            "min", description="skewness of the k-occurrence distribution (hubness)"
        ),
        "antihubs": embench.Value("min", description="share of songs in no top-k list"),
        "hub_slots": embench.Value(
            "min", description="share of top-k slots taken by the top 1% of songs"
        ),
        "mean_cosine": embench.Value(
            "min", description="mean cosine of song pairs (1: a collapsed space)"
        ),
        "neighbour_popularity": embench.Value(
            "min",
            per_query="neighbour_popularity",
            description="neighbours' popularity percentile minus the query's",
        ),
    }
    query_keys = ("song_id",)

    def queries(self, ctx: embench.EvalContext, options: HealthOptions) -> np.ndarray:
        """The query songs: the songs played in training that have a vector, from the played
        songs' shared seeded sample of ``max_songs`` (HardNeg's) when there are more.

        Drawn from the data, not from the embedding: every configuration gets the same sample
        (minus the songs it gives no vector), and HardNeg's neighbours serve it."""
        songs = ctx.sample_played_songs(options.max_songs)
        return songs[ctx.rows[songs] >= 0]

    def neighbours(
        self, ctx: embench.EvalContext, options: HealthOptions
    ) -> embench.NeighbourRequest:
        return embench.NeighbourRequest(options.k, self.queries(ctx, options))

    def compute(self, ctx: embench.EvalContext, options: HealthOptions) -> embench.MetricResult:
        n_songs = ctx.dataset.n_songs
        population = np.unique(np.asarray(ctx.embedding.song_index, dtype=np.int64))
        if len(population) < 2:
            raise DataError(
                f"health needs at least 2 songs with a vector, the embedding has {len(population)}"
            )
        queries = self.queries(ctx, options)
        k = options.k
        # Popularity percentile of every population song (dataset index -> percentile).
        percentile = np.full(n_songs, np.nan)
        percentile[population] = percentiles(ctx.popularity[population])
        unit = unit_rows(ctx.embedding.vectors)
        rows = ctx.rows

        occurrence = np.zeros(n_songs, dtype=np.int64)
        pull = np.full(len(queries), np.nan)
        kth_cosine = np.full(len(queries), np.nan)
        for start in range(0, len(queries), CHUNK):
            chunk = queries[start : start + CHUNK]
            neighbours = ctx.song_neighbours(chunk, k)
            valid = neighbours >= 0
            occurrence += np.bincount(neighbours[valid], minlength=n_songs)
            counted = valid.sum(axis=1)
            neighbour_pct = np.where(valid, percentile[np.maximum(neighbours, 0)], 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_pct = neighbour_pct.sum(axis=1) / counted
            pull[start : start + CHUNK] = np.where(
                counted > 0, mean_pct - percentile[chunk], np.nan
            )
            last = np.where(counted > 0, counted - 1, 0)
            kth = neighbours[np.arange(len(chunk)), last]
            has = counted > 0
            kth_cosine[start : start + CHUNK][has] = np.einsum(
                "ij,ij->i", unit[rows[chunk[has]]], unit[rows[kth[has]]]
            )

        counts = occurrence[population]
        slots = int(counts.sum())
        n_hubs = max(1, math.ceil(options.hub_share * len(population)))
        top = np.sort(counts)[::-1][:n_hubs]
        cosine, n_pairs = mean_cosine(ctx.embedding.vectors, options.pairs, ctx.rng("health-pairs"))
        scored = ~np.isnan(pull)
        values = {
            "k_skewness": skewness(counts),
            "antihubs": float(np.mean(counts == 0)),
            "hub_slots": float(top.sum() / slots) if slots else float("nan"),
            "mean_cosine": cosine,
            "neighbour_popularity": float(pull[scored].mean()) if scored.any() else float("nan"),
        }
        k_values, songs = np.unique(counts, return_counts=True)
        histogram = pd.DataFrame({"k_occurrence": k_values.astype(np.int64), "songs": songs})
        summary = pd.DataFrame(
            {
                "k": [k],
                "songs": [len(population)],
                "queries": [len(queries)],
                "hubs": [n_hubs],
                "max_k_occurrence": [int(counts.max())],
                "pairs": [n_pairs],
                "median_kth_cosine": [
                    float(np.nanmedian(kth_cosine)) if scored.any() else float("nan")
                ],
            }
        )
        per_query = pd.DataFrame(
            {
                "song_id": ctx.dataset.songs["song_id"].to_numpy()[queries],
                "k_occurrence": occurrence[queries],
                "plays": ctx.popularity[queries].astype(np.int64),
                "neighbour_popularity": pull,
            }
        )
        return embench.MetricResult(
            values=values,
            per_query=per_query,
            tables={"k_occurrence_histogram": histogram, "health": summary},
        )


@embench.hookimpl
def register_metrics(register):
    register(Health)
