"""Sampled metrics: seeded samples from the data, exact below the cap, intervals that cover."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import embench
from embench.context import EvalContext
from embench.data.dataset import Dataset
from embench.data.split import Split, make_split
from embench.data.tiny import make_tiny_dataset
from embench.errors import PluginError
from embench.evaluation import evaluate
from embench.sampling import HELD_OUT_PAIRS, Interval, cluster_ratio, combine, draw, mean
from embench_plugins.coherence import (
    ArtistCoherence,
    ArtistCoherenceOptions,
    GenreCoherence,
    GenreCoherenceOptions,
)
from embench_plugins.hardneg import HardNeg, HardNegOptions
from embench_plugins.health import Health, HealthOptions
from embench_plugins.next_song import NextSong, NextSongOptions
from embench_plugins.popularity import PopularityBuckets, PopularityOptions
from tests.test_metric_coherence import labelled_catalogue


# -- the estimators ------------------------------------------------------------------------------
def test_mean_interval_is_the_finite_population_normal_interval():
    x = np.array([1.0, 0, 0, 1, 1, 0, 1, 1])
    estimate = mean(x, 20)
    s2 = x.var(ddof=1)
    assert estimate.value == pytest.approx(x.mean())
    assert estimate.variance == pytest.approx(s2 / 8 * (1 - 8 / 20))
    interval = estimate.interval()
    assert (interval.n, interval.population, interval.sampled) == (8, 20, True)
    half = 1.959964 * math.sqrt(s2 / 8 * 12 / 20)
    assert interval.low == pytest.approx(x.mean() - half)
    assert interval.high == pytest.approx(x.mean() + half)


def test_the_whole_population_is_exact():
    interval = mean(np.array([0.2, 0.4, 0.9]), 3).interval()
    assert interval.low == interval.high == pytest.approx(0.5)
    assert not interval.sampled


def test_combined_parts_add_variances_with_squared_weights():
    a, b = mean(np.array([0.0, 1, 1, 0]), 10), mean(np.array([1.0, 1, 0]), 9)
    both = combine([(0.5, a), (0.5, b)])
    assert both.value == pytest.approx((a.value + b.value) / 2)
    assert both.variance == pytest.approx((a.variance + b.variance) / 4)
    assert (both.n, both.population) == (7, 19)


def test_cluster_ratio_of_one_unit_per_cluster_is_the_plain_variance():
    """With one unit per cluster, the ultimate-cluster variance is s^2 / n (no correction)."""
    x = np.array([0.1, 0.5, 0.3, 0.9, 0.4])
    estimate = cluster_ratio(x, np.arange(5), np.zeros(5), population=100)
    assert estimate.variance == pytest.approx(x.var(ddof=1) / 5)
    exact = cluster_ratio(x, np.arange(5), np.zeros(5), population=5, exact_strata=[0])
    assert exact.variance == 0


def test_draw_takes_everything_up_to_the_cap():
    rng = np.random.default_rng(0)
    assert draw(rng, 5, 5).tolist() == [0, 1, 2, 3, 4]
    chosen = draw(rng, 100, 10)
    assert len(chosen) == len(np.unique(chosen)) == 10 and (np.diff(chosen) > 0).all()


def test_samples_of_one_population_nest_and_other_populations_differ():
    ctx = clustered_context(sequences=50)
    small, large = ctx.sample("songs", 1000, 100), ctx.sample("songs", 1000, 300)
    assert len(small) == 100 and len(large) == 300 and set(small) < set(large)
    assert set(small) != set(ctx.sample("pairs", 1000, 100))
    keys = ctx.sample_keys("songs", 1000)
    assert set(small) == set(np.argsort(keys)[:100])  # the smallest permanent keys


def test_metrics_on_one_population_ask_neighbours_for_overlapping_samples():
    """Health's queries are HardNeg's songs; a popularity cell takes next-song's out-of-set
    pairs first: the shared neighbour search answers fewer songs."""
    ctx = clustered_context(sequences=400)
    hardneg = HardNeg().neighbours(ctx, HardNegOptions(max_songs=40)).songs
    health = Health().neighbours(ctx, HealthOptions(max_songs=25)).songs
    assert len(health) > 0 and set(health) <= set(hardneg)

    cap = 60
    next_song = NextSong().pairs(ctx, NextSongOptions(max_queries=cap))["out"]
    queries, targets = ctx.held_out_pairs
    assert len(queries) > cap  # sampled
    popularity = PopularityBuckets()
    options = PopularityOptions(k=10, buckets=2, pairs_per_cell=cap)
    _, _, cells = popularity.all_pairs(ctx, options)
    chosen = set(zip(*popularity.pairs(ctx, options)[:2], strict=True))
    in_next_song = ctx.sample(HELD_OUT_PAIRS, len(queries), cap)
    assert set(zip(*next_song, strict=True)) == set(
        zip(queries[in_next_song], targets[in_next_song], strict=True)
    )
    for cell in np.unique(cells):
        mine = in_next_song[cells[in_next_song] == cell]
        assert set(zip(queries[mine], targets[mine], strict=True)) <= chosen, cell


@pytest.mark.parametrize(
    "arguments",
    [(5, 4, 0.0, 1.0), (-1, 4, 0.0, 1.0), (2, 4, 1.0, 0.0), (2, 4, math.nan, 1.0), (2.5, 4, 0, 1)],
)
def test_bad_intervals_are_refused(arguments):
    with pytest.raises(embench.ContractError):
        Interval(*arguments)


# -- next-song sampling --------------------------------------------------------------------------
@functools.cache
def clustered_catalogue(sequences: int) -> tuple[Dataset, Split, embench.Embedding]:
    """Genre-pure sequences and genre-clustered vectors: hits happen, far from 0 and 1."""
    dataset = make_tiny_dataset(songs=150, sequences=sequences, genres=3, artists=15, seed=0)
    split = make_split(dataset, (0.5, 0.25, 0.25), seed=0)
    rng = np.random.default_rng(7)
    genre = np.arange(150) % 3
    vectors = np.eye(3)[genre] * 2 + rng.normal(size=(150, 3))
    return dataset, split, embench.Embedding(np.arange(150), vectors)


def clustered_context(seed: int = 0, sequences: int = 3000) -> EvalContext:
    dataset, split, embedding = clustered_catalogue(sequences)
    return EvalContext(dataset=dataset, split=split, embedding=embedding, seed=seed, threads=1)


def score(ctx: EvalContext, options: NextSongOptions) -> embench.MetricResult:
    return evaluate(ctx, [("next_song", NextSong(), options)]).results["next_song"]


def brute_force_hitrates(ctx: EvalContext, k: int) -> dict[str, float]:
    out = {}
    for label, (queries, targets) in (("in", ctx.split.in_set), ("out", ctx.held_out_pairs)):
        neighbours = ctx.song_neighbours(queries, k)
        out[label] = float(np.mean([t in row for t, row in zip(targets, neighbours, strict=True)]))
    out["both"] = (out["in"] + out["out"]) / 2
    return out


def test_a_cap_above_the_population_gives_the_exact_figures():
    ctx = clustered_context()
    population = len(ctx.held_out_pairs[0])
    reference = brute_force_hitrates(clustered_context(), k=10)
    for cap in (population, population + 1, 10**9):
        result = score(clustered_context(), NextSongOptions(k=10, max_queries=cap))
        if cap >= max(population, len(ctx.split.in_set[0])):
            assert result.values["hitrate_out"] == pytest.approx(reference["out"], abs=1e-12)
            assert result.values["hitrate_in"] == pytest.approx(reference["in"], abs=1e-12)
            assert result.values["hitrate"] == pytest.approx(reference["both"], abs=1e-12)
            for key, interval in result.intervals.items():
                assert not interval.sampled, key
                assert interval.low == interval.high == pytest.approx(result.values[key])
        assert result.intervals["hitrate_out"].population == population


def test_the_sample_depends_on_the_seed_and_the_data_not_on_the_embedding():
    first = score(clustered_context(seed=3), NextSongOptions(k=10, max_queries=200))
    ctx = clustered_context(seed=3)
    ctx.embedding = embench.Embedding(
        np.arange(150), np.random.default_rng(99).normal(size=(150, 8))
    )
    second = score(ctx, NextSongOptions(k=10, max_queries=200))
    keys = ["set", "query_song", "target_song"]
    assert len(first.per_query) == 400
    assert first.per_query[keys].equals(second.per_query[keys])
    assert first.values["hitrate"] != second.values["hitrate"]
    other_seed = score(clustered_context(seed=4), NextSongOptions(k=10, max_queries=200))
    assert not first.per_query[keys].equals(other_seed.per_query[keys])
    interval = first.intervals["hitrate_out"]
    assert (interval.n, interval.sampled) == (200, True)


def test_the_95_percent_interval_covers_the_exact_figure_about_95_percent_of_the_time():
    """200 seeded resamples (fixed seeds 0..199: the outcome is deterministic, not flaky)."""
    exact = score(clustered_context(), NextSongOptions(k=10, max_queries=10**9)).values
    covered = dict.fromkeys(
        ["hitrate", "hitrate_in", "hitrate_out", "ndcg", "ndcg_in", "ndcg_out"], 0
    )
    widths = []
    for seed in range(200):
        result = score(clustered_context(seed=seed), NextSongOptions(k=10, max_queries=150))
        for key in covered:
            interval = result.intervals[key]
            covered[key] += interval.low <= exact[key] <= interval.high
        widths.append(result.intervals["hitrate"].half_width)
    for key, count in covered.items():
        assert 0.9 <= count / 200 <= 0.99, (key, count)
    assert np.mean(widths) > 0.01  # a real interval, not a degenerate one


def test_a_cap_of_zero_is_refused():
    with pytest.raises(ValueError, match="max_queries"):
        NextSongOptions(max_queries=0)


# -- the contract of intervals -------------------------------------------------------------------
class Reporting(embench.Metric):
    name = "reporting"
    values = {"reporting": embench.Value("max")}
    intervals: dict = {}

    def compute(self, ctx, options):
        return embench.MetricResult(values={"reporting": 0.5}, intervals=self.intervals)


@pytest.mark.parametrize(
    ("intervals", "message"),
    [
        ({"other": Interval(1, 2, 0.0, 1.0)}, "does not report"),
        ({"reporting": Interval(1, 2, 0.6, 0.7)}, "does not hold the value"),
        ({"reporting": (1, 2, 0.0, 1.0)}, "must be an embench.Interval"),
    ],
)
def test_a_bad_interval_names_the_metric(intervals, message):
    metric = Reporting()
    metric.intervals = intervals
    with pytest.raises(PluginError, match=f"metric 'reporting'.*{message}"):
        evaluate(clustered_context(sequences=50), [("reporting", metric, embench.Options())])


# -- the other sampled metrics -------------------------------------------------------------------
SAMPLED = [
    (
        HardNeg(),
        HardNegOptions(k=5, max_songs=10**6, min_cooccurrence=1, threshold="p_value"),
        HardNegOptions(k=5, max_songs=20, min_cooccurrence=1, threshold="p_value"),
        "hardneg",
    ),
    (
        GenreCoherence(),
        GenreCoherenceOptions(k=5, genres=4, pool=8, songs_per_genre=8),
        GenreCoherenceOptions(k=5, genres=4, pool=8, songs_per_genre=3),
        "coherence_genre",
    ),
    (
        ArtistCoherence(),
        ArtistCoherenceOptions(k=5, strata=2, artists_per_stratum=99, songs_per_artist=99),
        ArtistCoherenceOptions(k=5, strata=2, artists_per_stratum=4, songs_per_artist=1),
        "coherence_artist",
    ),
    (
        PopularityBuckets(),
        PopularityOptions(k=20, buckets=2, pairs_per_cell=10**6),  # k 20: hits in a sample
        PopularityOptions(k=20, buckets=2, pairs_per_cell=6),
        "hitrate_pop_diag",
    ),
]


@pytest.mark.parametrize(("metric", "whole", "capped", "key"), SAMPLED, ids=[s[3] for s in SAMPLED])
def test_every_sampled_metric_is_exact_above_its_cap_and_sampled_below(metric, whole, capped, key):
    exact = evaluate(labelled_catalogue(), [(metric.name, metric, whole)]).results[metric.name]
    for name, interval in exact.intervals.items():
        assert not interval.sampled, name
        if not math.isnan(exact.values[name]):
            assert interval.low == interval.high == pytest.approx(exact.values[name]), name
    sampled = evaluate(labelled_catalogue(), [(metric.name, metric, capped)]).results[metric.name]
    interval = sampled.intervals[key]
    assert interval.sampled and interval.population == exact.intervals[key].population
    assert interval.low < sampled.values[key] < interval.high


def test_hardneg_population_is_the_played_songs_with_a_vector():
    ctx = labelled_catalogue()
    result = HardNeg().compute(ctx, HardNegOptions(k=5, max_songs=10))
    played_with_vector = int(((ctx.popularity > 0) & (ctx.rows >= 0)).sum())
    assert result.intervals["hardneg"].population == played_with_vector
    assert result.intervals["hardneg"].n == result.per_query["hardneg"].notna().sum()
