"""Tests of the example plugin, using the fixtures embench ships for plugin authors."""

import numpy as np
from embench_baselines import Coverage, CoverageOptions, RandomBaseline, RandomOptions

from embench.api import TrainingMonitor
from embench.data.split import make_split
from embench.evaluation import EvalContext


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
    small = Coverage().compute(ctx, CoverageOptions(k=1)).values["coverage"]
    large = Coverage().compute(ctx, CoverageOptions(k=50)).values["coverage"]
    assert 0 < small <= large <= 1
