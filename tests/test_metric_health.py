"""Embedding-space health against pure-Python references; planted hubs and a collapsed space."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy.stats import skew

from embench.errors import DataError
from embench.evaluation import evaluate
from embench_plugins.health import Health, HealthOptions, pair_sample, percentiles, skewness
from tests.test_metric_clustering import make_context
from tests.test_metric_coherence import reference_neighbours


def cosine(a, b) -> float:
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb)


def hub_context(seed: int = 0, n: int = 40, unknown: int = 5, hubs: int = 2, offset=0.7):
    """``n`` songs, the last ``unknown`` without a vector; Gaussian vectors around
    ``offset * (1, ..., 1)``, of which ``hubs`` sit in the centre of the others (hubs by
    construction); sessions over every song make the popularity."""
    rng = np.random.default_rng(seed)
    lists = [rng.choice(n, size=int(rng.integers(2, 7))).tolist() for _ in range(max(200, 2 * n))]
    songs = pd.DataFrame({"song_id": [f"q{i}" for i in range(n)]})
    known = np.arange(n - unknown)
    vectors = rng.normal(size=(len(known), 30)) + offset
    vectors[:hubs] = vectors[hubs:].mean(axis=0) + 0.01 * rng.normal(size=(hubs, 30))
    return make_context(lists, songs, known, vectors)


def reference(ctx, options: HealthOptions, queries: list[int]) -> dict:
    """Every figure by plain loops over the songs (pure Python)."""
    k = options.k
    population = sorted(int(s) for s in ctx.embedding.song_index)
    plays = {s: int(ctx.popularity[s]) for s in population}
    pct = {
        s: (
            sum(plays[t] < plays[s] for t in population)
            + sum(plays[t] <= plays[s] for t in population)
        )
        / (2 * len(population))
        for s in population
    }
    rows = {int(s): r for r, s in enumerate(ctx.embedding.song_index)}
    vectors = ctx.embedding.vectors.astype(float).tolist()
    occurrence = Counter()
    pulls, kth = {}, []
    for q in queries:
        neighbours = reference_neighbours(ctx, q, k)
        occurrence.update(neighbours)
        pulls[q] = sum(pct[s] for s in neighbours) / len(neighbours) - pct[q]
        kth.append(cosine(vectors[rows[q]], vectors[rows[neighbours[-1]]]))
    counts = [occurrence[s] for s in population]
    n = len(counts)
    mean = sum(counts) / n
    m2 = sum((c - mean) ** 2 for c in counts) / n
    m3 = sum((c - mean) ** 3 for c in counts) / n
    hubs = max(1, math.ceil(options.hub_share * n))
    pairs = [
        cosine(vectors[i], vectors[j])
        for i in range(len(vectors))
        for j in range(i + 1, len(vectors))
    ]
    return {
        "k_skewness": m3 / m2**1.5,
        "antihubs": sum(c == 0 for c in counts) / n,
        "hub_slots": sum(sorted(counts, reverse=True)[:hubs]) / sum(counts),
        "mean_cosine": sum(pairs) / len(pairs),
        "neighbour_popularity": sum(pulls.values()) / len(pulls),
        "pulls": pulls,
        "occurrence": occurrence,
        "histogram": sorted(Counter(counts).items()),
        "median_kth_cosine": float(np.median(kth)),
    }


@pytest.mark.parametrize(
    "options",
    [HealthOptions(k=3), HealthOptions(k=5, hub_share=0.1), HealthOptions(k=4, max_songs=20)],
)
def test_health_matches_the_reference(options):
    ctx = hub_context()
    metric = Health()
    result = evaluate(ctx, [("health", metric, options)]).results["health"]
    queries = [int(i[1:]) for i in result.per_query["song_id"]]
    population = sorted(int(s) for s in ctx.embedding.song_index)
    played = np.flatnonzero(ctx.popularity > 0)
    if options.max_songs < len(played):  # the played songs' shared sample, those with a vector
        sample = ctx.sample_played_songs(options.max_songs)
        assert len(sample) == options.max_songs and set(sample) < set(played)
        assert queries == [s for s in sample if ctx.rows[s] >= 0]
        assert set(queries) < set(population)
    else:
        assert queries == [s for s in played if ctx.rows[s] >= 0]
    expected = reference(ctx, options, queries)
    for key in ("k_skewness", "antihubs", "hub_slots", "mean_cosine", "neighbour_popularity"):
        assert result.values[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key
    assert set(result.values) == set(Health.values)
    per_query = result.per_query
    for row in per_query.itertuples(index=False):
        song = int(row.song_id[1:])
        assert row.k_occurrence == expected["occurrence"][song]
        assert row.plays == ctx.popularity[song]
        assert row.neighbour_popularity == pytest.approx(expected["pulls"][song])
    histogram = result.tables["k_occurrence_histogram"]
    assert (
        list(zip(histogram["k_occurrence"], histogram["songs"], strict=True))
        == expected["histogram"]
    )
    summary = result.tables["health"].iloc[0]
    assert summary["songs"] == len(population) and summary["queries"] == len(queries)
    assert summary["median_kth_cosine"] == pytest.approx(expected["median_kth_cosine"])
    assert summary["pairs"] == len(population) * (len(population) - 1) // 2


def test_planted_hubs_and_a_collapsed_space_show():
    healthy = Health().compute(hub_context(hubs=0, n=300), HealthOptions(k=5)).values
    hubby = Health().compute(hub_context(hubs=3, n=300), HealthOptions(k=5)).values
    assert hubby["k_skewness"] > healthy["k_skewness"] + 2
    assert hubby["hub_slots"] > 2 * healthy["hub_slots"]
    isotropic = Health().compute(hub_context(hubs=0, n=300, offset=0), HealthOptions(k=5))
    assert abs(isotropic.values["mean_cosine"]) < 0.05
    ctx = hub_context(hubs=0, n=300, offset=0)
    ctx.embedding.vectors[:] += 5.0  # every vector pushed the same way
    collapsed = Health().compute(ctx, HealthOptions(k=5)).values
    assert collapsed["mean_cosine"] > 0.9


def test_popular_songs_in_the_centre_pull_neighbours_upwards():
    """The most played songs placed in the centre of the others are everyone's neighbours: a
    positive pull; vectors that ignore popularity give about none."""
    neutral = Health().compute(hub_context(hubs=0, n=300, unknown=0), HealthOptions(k=5))
    ctx = hub_context(hubs=0, n=300, unknown=0)
    vectors = ctx.embedding.vectors
    popular = np.argsort(-ctx.popularity[ctx.embedding.song_index], kind="stable")[:15]
    vectors[popular] = vectors.mean(axis=0) + 0.05 * np.random.default_rng(1).normal(
        size=(15, vectors.shape[1])
    )
    pulled = Health().compute(ctx, HealthOptions(k=5))
    assert abs(neutral.values["neighbour_popularity"]) < 0.05
    assert pulled.values["neighbour_popularity"] > 0.1


def test_helpers():
    x = np.random.default_rng(0).exponential(size=500)
    assert skewness(x) == pytest.approx(skew(x))
    assert skewness(np.full(5, 3.0)) == 0.0
    assert percentiles(np.array([5, 1, 5, 9])).tolist() == [0.5, 0.125, 0.5, 0.875]
    i, j = pair_sample(5, 100, np.random.default_rng(0))
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [
        (a, b) for a in range(5) for b in range(a + 1, 5)
    ]
    i, j = pair_sample(500, 20_000, np.random.default_rng(0))
    assert len(i) == 20_000 and (i != j).all()
    assert np.bincount(j, minlength=500).min() > 15  # every item drawn
    with pytest.raises(DataError, match="at least 2 songs with a vector"):
        Health().compute(hub_context(n=10, unknown=9, hubs=0), HealthOptions())


def test_sampled_pairs_estimate_the_mean_cosine():
    ctx = hub_context(hubs=0, n=300)
    ctx.embedding.vectors[:] += 0.5
    exact = Health().compute(ctx, HealthOptions(k=3)).values["mean_cosine"]
    sampled = Health().compute(ctx, HealthOptions(k=3, pairs=20_000))
    assert sampled.tables["health"].iloc[0]["pairs"] == 20_000
    assert sampled.values["mean_cosine"] == pytest.approx(exact, abs=0.01)
