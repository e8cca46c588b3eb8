"""Popularity buckets and HitRate per (query bucket, target bucket) against plain Python loops."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from embench.errors import DataError
from embench_plugins.popularity import (
    PopularityBuckets,
    PopularityOptions,
    popularity_buckets,
)
from tests.test_metric_clustering import make_context
from tests.test_metric_coherence import reference_neighbours


def reference_buckets(plays: list[int], buckets: int) -> list[int]:
    """Walk the songs from the most played; a song's bucket is where the share before it lies."""
    total = sum(plays)
    order = sorted(range(len(plays)), key=lambda s: (-plays[s], s))
    out = [0] * len(plays)
    before = 0
    for song in order:
        out[song] = buckets - 1 if plays[song] == 0 else min(buckets - 1, before * buckets // total)
        before += plays[song]
    return out


def skewed_context(seed: int = 0, n: int = 80, sequences: int = 400):
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n + 1) ** 0.8
    weights /= weights.sum()
    lists = [
        rng.choice(n, size=int(rng.integers(2, 10)), p=weights).tolist() for _ in range(sequences)
    ]
    songs = pd.DataFrame({"song_id": [f"p{i}" for i in range(n)]})
    known = np.sort(rng.choice(n, size=n - 6, replace=False))
    vectors = rng.normal(size=(len(known), 6))
    return make_context(lists, songs, known, vectors)


@pytest.mark.parametrize("buckets", [2, 3, 5])
def test_buckets_match_a_python_walk(buckets):
    plays = [int(p) for p in skewed_context().popularity]
    assert popularity_buckets(np.array(plays), buckets).tolist() == reference_buckets(
        plays, buckets
    )


def test_buckets_hold_a_share_of_the_plays_each():
    plays = np.random.default_rng(0).zipf(1.8, size=5000).clip(max=500)
    bucket = popularity_buckets(plays, 5)
    shares = np.bincount(bucket, weights=plays) / plays.sum()
    assert np.all(np.abs(shares - 0.2) < 500 / plays.sum() + 1e-12)
    assert np.all(np.diff([plays[bucket == b].min() for b in range(5)]) <= 0)


def test_hitrates_per_cell_match_python_loops():
    ctx = skewed_context()
    options = PopularityOptions(k=10, buckets=3, pairs_per_cell=15)
    result = PopularityBuckets().compute(ctx, options)
    per_query = result.per_query
    ids = list(ctx.dataset.songs["song_id"])
    plays = [int(p) for p in ctx.popularity]
    bucket = reference_buckets(plays, 3)

    queries, targets = ctx.held_out.consecutive_pairs()
    available = Counter(
        (ids[q], ids[t]) for q, t in zip(queries.tolist(), targets.tolist(), strict=True)
    )
    cells_available = Counter((bucket[q], bucket[t]) for q, t in zip(queries, targets, strict=True))
    drawn = Counter(zip(per_query["query_song"], per_query["target_song"], strict=True))
    assert all(drawn[pair] <= available[pair] for pair in drawn)  # pairs of the held-out part

    hits, counts = Counter(), Counter()
    columns = ["query_song", "target_song", "query_bucket", "target_bucket", "hit"]
    for q_id, t_id, qb, tb, hit in per_query[columns].itertuples(index=False):
        q, t = ids.index(q_id), ids.index(t_id)
        assert (qb, tb) == (bucket[q], bucket[t])
        expected = t in reference_neighbours(ctx, q, 10)  # unknown query or target: a miss
        assert hit == expected
        hits[qb, tb] += expected
        counts[qb, tb] += 1
    diagonal = per_query["query_bucket"] == per_query["target_bucket"]
    assert per_query["diagonal_hit"][diagonal].tolist() == per_query["hit"][diagonal].tolist()
    assert per_query["diagonal_hit"][~diagonal].isna().all()
    table = result.tables["hitrate_by_popularity"].to_numpy()
    pairs = result.tables["pairs_by_popularity"].to_numpy()
    for qb in range(3):
        for tb in range(3):
            assert counts[qb, tb] == min(15, cells_available[qb, tb]) == pairs[qb, tb]
            if counts[qb, tb]:
                assert table[qb, tb] == pytest.approx(hits[qb, tb] / counts[qb, tb])
            else:
                assert np.isnan(table[qb, tb])
    assert any(cells_available[c] > 15 for c in cells_available)  # the cap was exercised
    for b in range(3):
        assert result.values[f"hitrate_pop_diag_b{b}"] == pytest.approx(table[b, b])
    assert result.values["hitrate_pop_diag"] == pytest.approx(np.nanmean(np.diag(table)))


def test_all_pairs_scored_when_cells_are_small_and_sampling_is_seeded():
    ctx = skewed_context()
    options = PopularityOptions(k=10, buckets=3, pairs_per_cell=10_000)
    result = PopularityBuckets().compute(ctx, options)
    assert len(result.per_query) == len(ctx.held_out.consecutive_pairs()[0])
    capped = PopularityOptions(k=10, buckets=3, pairs_per_cell=7)
    first = PopularityBuckets().compute(ctx, capped).per_query
    again = PopularityBuckets().compute(ctx, capped).per_query
    pd.testing.assert_frame_equal(first, again)


def test_bucket_counts_that_do_not_divide_are_errors():
    plays = np.array([100, 3, 2, 1, 1])  # the top song alone holds over 90% of the plays
    with pytest.raises(DataError, match="empty.*use fewer buckets"):
        popularity_buckets(plays, 5)
    assert popularity_buckets(plays, 2).tolist() == [0, 1, 1, 1, 1]
    with pytest.raises(DataError, match="no plays"):
        popularity_buckets(np.zeros(4, dtype=int), 2)
    with pytest.raises(DataError, match="negative"):
        popularity_buckets(np.array([3, -1]), 2)
    with pytest.raises(ValidationError):
        PopularityOptions(buckets=1)
