"""Tests of the example plugin, using the checks and fixtures embench ships for plugin authors."""

import numpy as np
from embench_baselines import Coverage, CoverageOptions, RandomBaseline, RandomOptions

from embench import EvalContext, TrainingMonitor, check_embedder, check_metric
from embench.data.split import make_split


def test_random_baseline_keeps_the_contract():
    report = check_embedder(RandomBaseline)  # raises CheckFailed on a broken rule
    assert not report.warnings, report


def test_coverage_keeps_the_contract():
    for k in (1, 10):
        report = check_metric("coverage", {"k": k})  # by its registered name
        assert not report.warnings, report


def test_plugins_are_registered_through_the_entry_point(embench_plugins):
    plugins = embench_plugins()
    assert plugins.embedders.get("random-baseline").origin.package == "embench-baselines"
    assert plugins.metrics.get("coverage").origin.package == "embench-baselines"


def test_random_baseline_covers_training_songs_and_is_seeded(tiny_dataset):
    split = make_split(tiny_dataset, (0.8, 0.1, 0.1), seed=0)
    fit = RandomBaseline().fit
    a = fit(split.train, RandomOptions(), seed=1, threads=1, monitor=TrainingMonitor())
    b = fit(split.train, RandomOptions(), seed=1, threads=1, monitor=TrainingMonitor())
    assert set(a.song_index) == set(np.unique(split.train.songs))
    np.testing.assert_array_equal(a.vectors, b.vectors)


def test_coverage_is_a_share_and_grows_with_k(tiny_dataset):
    split = make_split(tiny_dataset, (0.8, 0.1, 0.1), seed=0)
    embedding = RandomBaseline().fit(
        split.train, RandomOptions(), seed=0, threads=1, monitor=TrainingMonitor()
    )
    ctx = EvalContext(dataset=tiny_dataset, split=split, embedding=embedding)
    small = Coverage().compute(ctx, CoverageOptions(k=1))
    large = Coverage().compute(ctx, CoverageOptions(k=50)).values["coverage"]
    assert 0 < small.values["coverage"] <= large <= 1
    assert small.per_query["reached"].mean() == small.values["coverage"]
    assert len(small.per_query) == tiny_dataset.n_songs
