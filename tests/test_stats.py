"""Paired t-tests, Bonferroni correction and significance marks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ttest_rel

from embench.stats import (
    bonferroni,
    is_better,
    paired_t_test,
    per_query_arrays,
    significance_marks,
)


def test_paired_t_test_is_scipy_ttest_rel_without_nans():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    b = a + rng.normal(0.1, 1.0, size=200)
    a[[3, 50]] = np.nan
    b[7] = np.nan
    keep = ~(np.isnan(a) | np.isnan(b))
    expected = ttest_rel(a[keep], b[keep])
    test = paired_t_test(a, b)
    assert test.n == 197
    assert test.statistic == pytest.approx(expected.statistic)
    assert test.p_value == pytest.approx(expected.pvalue)
    assert test.mean_difference == pytest.approx(np.mean(a[keep] - b[keep]))


def test_paired_t_test_degenerate_cases():
    same = np.array([1.0, 0.0, 1.0, 1.0])
    assert paired_t_test(same, same).p_value == 1.0
    shifted = paired_t_test(same + 0.5, same)
    assert shifted.p_value == 0.0 and shifted.statistic == np.inf
    assert np.isnan(paired_t_test(np.array([1.0]), np.array([0.0])).p_value)
    with pytest.raises(ValueError, match="aligned"):
        paired_t_test(np.zeros(3), np.zeros(4))


def test_bonferroni():
    np.testing.assert_allclose(bonferroni([0.001, 0.02, 0.5]), [0.003, 0.06, 1.0])
    np.testing.assert_allclose(bonferroni([0.001], n_tests=10), [0.01])
    assert np.isnan(bonferroni([np.nan])[0])
    with pytest.raises(ValueError):
        bonferroni([])


def test_is_better_respects_direction_and_level():
    up = paired_t_test(np.arange(10.0) + np.linspace(1, 2, 10), np.arange(10.0))
    assert is_better(up, "max", 0.001, 0.01)
    assert not is_better(up, "min", 0.001, 0.01)
    assert not is_better(up, "max", 0.02, 0.01)
    with pytest.raises(ValueError):
        is_better(up, "up", 0.001, 0.01)


def planted_configurations(n: int = 500, seed: int = 0):
    """hits (max) and hardneg shares (min) per query for five configurations."""
    rng = np.random.default_rng(seed)
    base_hits = (rng.random(n) < 0.3).astype(float)
    base_hardneg = rng.random(n) * 0.2

    def flip(values, rate):  # turn misses into hits at `rate`
        return np.where((values == 0) & (rng.random(n) < rate), 1.0, values)

    return {
        "default": {"hits": base_hits, "hardneg": base_hardneg},
        # single-objective on HitRate: more hits, but more hard negatives
        "so_hits": {"hits": flip(base_hits, 0.3), "hardneg": base_hardneg + 0.05},
        # single-objective on HardNeg
        "so_hardneg": {"hits": base_hits, "hardneg": base_hardneg * 0.5},
        # multi-objective: best of both
        "multi": {"hits": flip(flip(base_hits, 0.3), 0.3), "hardneg": base_hardneg * 0.4},
        # barely different from the default: never significant
        "noise": {"hits": base_hits, "hardneg": base_hardneg + rng.normal(0, 1e-3, n)},
    }


def test_significance_marks_on_planted_configurations():
    per_query = planted_configurations()
    marks = significance_marks(
        per_query,
        {"hits": "max", "hardneg": "min"},
        default="default",
        single_objective=["so_hits", "so_hardneg"],
    ).set_index(["configuration", "metric"])
    better_default = marks["better_than_default"]
    assert better_default["so_hits", "hits"] and better_default["multi", "hits"]
    assert better_default["so_hardneg", "hardneg"] and better_default["multi", "hardneg"]
    assert not better_default["so_hits", "hardneg"]  # significantly *worse* there
    assert not better_default["noise"].any() and not better_default["default"].any()
    assert marks.loc[("multi", "hits"), "best_single"] == "so_hits"
    assert marks.loc[("multi", "hardneg"), "best_single"] == "so_hardneg"
    assert marks.loc[("multi", "hits"), "marks"] == "*\u2020"
    assert marks.loc[("multi", "hardneg"), "marks"] == "*\u2020"
    assert marks.loc[("so_hits", "hits"), "marks"] == "*"  # not tested against itself
    assert np.isnan(marks.loc[("so_hits", "hits"), "p_best_single"])
    # Every p-value is Bonferroni-corrected by the number of tests made (4 x 2 + 3 x 2 = 14).
    a, b = per_query["noise"]["hardneg"], per_query["default"]["hardneg"]
    raw = ttest_rel(a, b).pvalue
    assert marks.loc[("noise", "hardneg"), "p_default"] == pytest.approx(min(1.0, raw * 14))


def test_correction_can_remove_a_mark():
    rng = np.random.default_rng(4)
    default = rng.normal(size=300)
    noise = rng.normal(size=300)
    noise = (noise - noise.mean()) / noise.std(ddof=1)
    better = default + 3.0 / np.sqrt(300) + noise  # t = 3 exactly: p ~ 0.003
    p = ttest_rel(better, default).pvalue
    assert 0.001 < p < 0.01  # significant alone, not after correcting for 10 tests
    per_query = {"default": {"m": default}, "other": {"m": better}}
    alone = significance_marks(per_query, {"m": "max"}, default="default")
    assert alone.set_index("configuration").loc["other", "better_than_default"]
    many = significance_marks(per_query, {"m": "max"}, default="default", n_tests=10)
    assert not many.set_index("configuration").loc["other", "better_than_default"]


def test_significance_marks_rejects_unknown_configurations():
    per_query = planted_configurations(50)
    with pytest.raises(ValueError, match="default"):
        significance_marks(per_query, {"hits": "max"}, default="nope")
    with pytest.raises(ValueError, match="single-objective"):
        significance_marks(per_query, {"hits": "max"}, default="default", single_objective=["x"])


def test_per_query_arrays_align_rows_by_key():
    frame = pd.DataFrame(
        {
            "configuration": ["a", "a", "a", "b", "b", "b", "b"],
            "query_song": ["s1", "s2", "s1", "s2", "s1", "s1", "s9"],
            "hit": [1.0, 0.0, 0.5, 10.0, 11.0, 10.5, 99.0],
        }
    )
    arrays = per_query_arrays(frame, "hit", ["query_song"])
    assert set(arrays) == {"a", "b"}
    # s1 (1st), s1 (2nd), s2 pair up; s9 exists for b only and is dropped.
    pairs = sorted(zip(arrays["a"], arrays["b"], strict=True))
    assert pairs == [(0.0, 10.0), (0.5, 10.5), (1.0, 11.0)]


def test_per_query_arrays_skip_missing_values():
    frame = pd.DataFrame(
        {
            "configuration": ["a", "a", "a", "b", "b", "b"],
            "song_id": ["s1", "s2", "s3", "s1", "s2", "s3"],
            "share": [0.1, np.nan, 0.3, 0.4, 0.5, 0.6],
        }
    )
    arrays = per_query_arrays(frame, "share", ["song_id"])
    np.testing.assert_allclose(arrays["a"], [0.1, 0.3])
    np.testing.assert_allclose(arrays["b"], [0.4, 0.6])


def test_every_metric_declares_per_query_columns_it_writes():
    from embench_plugins import coherence, hardneg, popularity
    from tests.test_metric_coherence import labelled_catalogue

    ctx = labelled_catalogue()
    for metric in (
        hardneg.HardNeg(),
        coherence.GenreCoherence(),
        coherence.ArtistCoherence(),
        popularity.PopularityBuckets(),
    ):
        options = metric.Options(buckets=2) if metric.name == "popularity" else metric.Options()
        result = metric.compute(ctx, options)
        columns = {k: v.per_query for k, v in metric.values.items() if v.per_query}
        assert columns, metric.name
        for key, column in columns.items():
            assert key in result.values and column in result.per_query, (metric.name, key)
        assert metric.query_keys and set(metric.query_keys) <= set(result.per_query.columns)
        arrays = per_query_arrays(
            result.per_query.assign(configuration="c"),
            next(iter(columns.values())),
            metric.query_keys,
        )
        assert len(arrays["c"]) > 0
