"""HardNeg: chi-squared pair by pair against scipy, the metric against Python loops, and planted
chance pairs flagged while planted true neighbours are not."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from embench.errors import DataError
from embench_plugins.hardneg import (
    HardNeg,
    HardNegOptions,
    bigram_statistics,
    critical_value,
    hard_negative_mask,
    hard_negatives_of,
    min_cooccurrence_of,
)
from tests.test_metric_clustering import CORE, HUBS, SONGS_PER_ARTIST, make_context, planted
from tests.test_metric_coherence import reference_neighbours


def directed_bigrams(corpus) -> Counter:
    """Every adjacent pair of every sequence, read in both directions (plain Python)."""
    counts = Counter()
    for sequence in corpus:
        sequence = sequence.tolist()
        for x, y in zip(sequence, sequence[1:], strict=False):
            counts[x, y] += 1
            counts[y, x] += 1
    return counts


def reference_pairs(corpus) -> dict[tuple[int, int], tuple[int, float]]:
    """{(a, b): (co-occurrences, chi2)} for distinct a < b, via scipy's chi2_contingency."""
    counts = directed_bigrams(corpus)
    total = sum(counts.values())
    starts = Counter()
    for (x, _), c in counts.items():
        starts[x] += c
    out = {}
    for (a, b), co in counts.items():
        if a >= b:
            continue
        table = [[co, starts[a] - co], [starts[b] - co, total - starts[a] - starts[b] + co]]
        out[a, b] = (co, chi2_contingency(table, correction=False)[0])
    return out


def random_context(seed: int = 0, n: int = 30):
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n + 1)
    weights /= weights.sum()
    lists = [rng.choice(n, size=int(rng.integers(1, 9)), p=weights).tolist() for _ in range(250)]
    songs = pd.DataFrame(
        {"song_id": [f"h{i}" for i in range(n)], "artist": [f"a{i % 4}" for i in range(n)]}
    )
    known = np.sort(rng.choice(n, size=n - 4, replace=False))
    return make_context(lists, songs, known, rng.normal(size=(len(known), 5)))


def test_chi2_matches_scipy_pair_by_pair():
    ctx = random_context()
    corpus = ctx.split.train
    stats = bigram_statistics(corpus, ctx.dataset.n_songs)
    reference = reference_pairs(corpus)
    assert len(reference) > 100
    got = {
        (int(a), int(b)): (int(c), float(x))
        for a, b, c, x in zip(stats.first, stats.second, stats.count, stats.chi2, strict=True)
    }
    assert got.keys() == reference.keys()
    for pair, (co, chi2) in reference.items():
        assert got[pair][0] == co
        assert got[pair][1] == pytest.approx(chi2, rel=1e-9, abs=1e-12), pair


def test_hardneg_matches_python_loops():
    ctx = random_context()
    options = HardNegOptions(k=6, threshold="p_value", p_value=0.1, min_cooccurrence=2)
    result = HardNeg().compute(ctx, options)
    reference = reference_pairs(ctx.split.train)
    threshold = critical_value(0.1)
    hard = {pair for pair, (co, chi2) in reference.items() if co >= 2 and chi2 < threshold}
    assert hard  # the test exercises some hard negatives
    ids = list(ctx.dataset.songs["song_id"])
    played = [s for s in range(ctx.dataset.n_songs) if ctx.popularity[s] > 0]
    assert sorted(ids.index(i) for i in result.per_query["song_id"]) == played
    shares = []
    for song_id, share in zip(
        result.per_query["song_id"], result.per_query["hardneg"], strict=True
    ):
        song = ids.index(song_id)
        neighbours = reference_neighbours(ctx, song, 6)
        if not neighbours:  # no vector: left out of the mean
            assert np.isnan(share)
            continue
        found = sum((min(song, s), max(song, s)) in hard for s in neighbours)
        assert share == pytest.approx(found / len(neighbours)), song_id
        shares.append(found / len(neighbours))
    assert len(shares) < len(played)  # some played songs have no vector
    assert result.values["hardneg"] == pytest.approx(np.mean(shares))


def test_hard_negatives_of_one_song_matches_the_pair_table():
    ctx = random_context()
    options = HardNegOptions(threshold="p_value", min_cooccurrence=1)
    reference = reference_pairs(ctx.split.train)
    ids = list(ctx.dataset.songs["song_id"])
    for song in (0, 3, 17):
        table = hard_negatives_of(ctx.dataset, ctx.split.train, song, options)
        expected = {
            (b if a == song else a): (co, chi2)
            for (a, b), (co, chi2) in reference.items()
            if song in (a, b) and chi2 < 3.841458820694124
        }
        assert sorted(ids.index(i) for i in table["song_id"]) == sorted(expected)
        for row in table.itertuples(index=False):
            co, chi2 = expected[ids.index(row.song_id)]
            assert (row.cooccurrences, row.chi2) == (co, pytest.approx(chi2))
        assert list(table["cooccurrences"]) == sorted(table["cooccurrences"], reverse=True)
        assert list(table.columns) == ["song_id", "title", "artist", "cooccurrences", "chi2"]
    by_id = hard_negatives_of(ctx.dataset, ctx.split.train, "h3", options)
    pd.testing.assert_frame_equal(
        by_id, hard_negatives_of(ctx.dataset, ctx.split.train, 3, options)
    )
    with pytest.raises(DataError, match="no song with id 'nope'"):
        hard_negatives_of(ctx.dataset, ctx.split.train, "nope", options)
    with pytest.raises(DataError, match="outside the catalogue"):
        hard_negatives_of(ctx.dataset, ctx.split.train, 999, options)


def test_min_cooccurrence_default_scales_with_the_corpus():
    options = HardNegOptions()
    assert min_cooccurrence_of(options, 1000) == 1
    assert min_cooccurrence_of(options, 50_000_000) == pytest.approx(5.0)
    assert min_cooccurrence_of(HardNegOptions(min_cooccurrence=3), 10**9) == 3
    assert critical_value(0.05) == pytest.approx(3.841, abs=1e-3)


def test_planted_chance_pairs_are_hard_negatives_and_true_neighbours_are_not():
    real, _ = planted()
    stats = bigram_statistics(real.split.train, real.dataset.n_songs)
    p_value = HardNegOptions(threshold="p_value")
    hard = hard_negative_mask(stats, p_value)
    hub = stats.second >= CORE  # a hub next to an ordinary song: adjacent by pure chance
    chance = hub & (stats.first < CORE)
    same_artist = (stats.second < CORE) & (
        stats.first // SONGS_PER_ARTIST == stats.second // SONGS_PER_ARTIST
    )
    assert chance.sum() > 200 and same_artist.sum() > 500
    assert hard[chance].mean() > 0.8
    frequent_true = same_artist & (stats.count >= 5)
    assert frequent_true.sum() > 500
    assert not hard[frequent_true].any()
    # A hub's hard negatives, as the CLI would list them: ordinary songs met by chance.
    table = hard_negatives_of(real.dataset, real.split.train, CORE + HUBS - 1, p_value)
    assert len(table) > 100 and table["artist"].notna().all()
