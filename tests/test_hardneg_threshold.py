"""HardNeg's two threshold readings against a slow reference: the paper's (chi-squared below
1e-7 x the song occurrences) and the p-value one; their options and their errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy.stats import chi2 as chi2_distribution

from embench.benchmark import validate_options
from embench.data.dataset import Sequences
from embench.errors import ConfigError
from embench_plugins.hardneg import (
    HardNeg,
    HardNegOptions,
    bigram_statistics,
    chi2_threshold,
    hard_negative_mask,
    hard_negatives_of,
)
from tests.test_metric_clustering import make_context
from tests.test_metric_coherence import reference_neighbours
from tests.test_metric_hardneg import reference_pairs


def sessions(seed: int = 0, n: int = 24) -> list[list[int]]:
    """Short random sessions over ``n`` Zipf-popular songs."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n + 1)
    weights /= weights.sum()
    return [rng.choice(n, size=int(rng.integers(2, 9)), p=weights).tolist() for _ in range(300)]


def context(seed: int = 0, n: int = 24):
    songs = pd.DataFrame(
        {
            "song_id": [f"t{i}" for i in range(n)],
            "title": [f"title {i}" for i in range(n)],
            "artist": [f"a{i % 3}" for i in range(n)],
        }
    )
    vectors = np.random.default_rng(seed + 1).normal(size=(n, 4))
    return make_context(sessions(seed, n), songs, np.arange(n), vectors)


def reference_hard_pairs(corpus, rule: str, parameter: float, floor: float) -> set:
    """The hard-negative pairs by brute force: scipy's statistic of every pair, then the rule."""
    n_events = sum(len(sequence) for sequence in corpus)
    if rule == "paper":
        threshold = parameter * n_events
    else:
        threshold = chi2_distribution.ppf(1 - parameter, df=1)
    return {
        pair
        for pair, (co, chi2) in reference_pairs(corpus).items()
        if co >= floor and chi2 < threshold
    }


def test_the_paper_threshold_is_the_rate_times_the_song_occurrences():
    paper = HardNegOptions()
    assert paper.threshold == "paper"
    assert chi2_threshold(paper, 190_649) == pytest.approx(0.0190649)
    assert chi2_threshold(HardNegOptions(chi2_rate=1e-3), 5_000) == pytest.approx(5.0)
    assert chi2_threshold(HardNegOptions(threshold="p_value"), 10**9) == pytest.approx(3.8415, 1e-4)
    assert chi2_threshold(HardNegOptions(threshold="p_value", p_value=0.01), 7) == pytest.approx(
        6.6349, 1e-4
    )


@pytest.mark.parametrize(
    ("options", "rule", "parameter", "floor"),
    [
        (HardNegOptions(chi2_rate=2e-4, min_cooccurrence=2), "paper", 2e-4, 2),
        (HardNegOptions(chi2_rate=4e-4, min_cooccurrence=1), "paper", 4e-4, 1),
        (HardNegOptions(threshold="p_value", p_value=0.2, min_cooccurrence=2), "p_value", 0.2, 2),
    ],
)
def test_mask_and_metric_match_the_brute_force_reference(options, rule, parameter, floor):
    ctx = context()
    corpus = ctx.split.train
    expected = reference_hard_pairs(corpus, rule, parameter, floor)
    assert 5 < len(expected) < len(reference_pairs(corpus)) / 2  # a real selection
    stats = bigram_statistics(corpus, ctx.dataset.n_songs)
    mask = hard_negative_mask(stats, options)
    got = {(int(a), int(b)) for a, b in zip(stats.first[mask], stats.second[mask], strict=True)}
    assert got == expected

    result = HardNeg().compute(ctx, options.model_copy(update={"k": 5}))
    shares = []
    for song_id, share in zip(
        result.per_query["song_id"], result.per_query["hardneg"], strict=True
    ):
        song = int(song_id[1:])
        neighbours = reference_neighbours(ctx, song, 5)
        found = sum((min(song, s), max(song, s)) in expected for s in neighbours)
        assert share == pytest.approx(found / len(neighbours)), song_id
        shares.append(share)
    assert result.values["hardneg"] == pytest.approx(np.mean(shares))
    summary = result.tables["hardneg_pairs"].iloc[0]
    assert summary["hard_negative_pairs"] == len(expected)
    assert summary["threshold"] == rule

    for song in (0, 2, 11):
        table = hard_negatives_of(ctx.dataset, corpus, song, options)
        partners = {int(i[1:]) for i in table["song_id"]}
        assert partners == {a if b == song else b for a, b in expected if song in (a, b)}


def test_the_paper_reading_scales_with_the_data_and_the_p_value_reading_does_not():
    """Every session played twice: each statistic doubles (chi2 = 2N phi^2), and so does the
    paper's threshold, so the same pairs are chance pairs; at a fixed p-value fewer are."""
    lists = sessions(seed=3)
    small = bigram_statistics(Sequences.from_lists(lists), 24)
    large = bigram_statistics(Sequences.from_lists(lists + lists), 24)
    assert np.array_equal(small.keys, large.keys)
    assert large.chi2 == pytest.approx(2 * small.chi2)
    # The floor is 1 co-occurrence in both; only the statistic's threshold decides.
    paper = HardNegOptions(chi2_rate=1e-3)
    assert chi2_threshold(paper, large.n_events) == pytest.approx(
        2 * chi2_threshold(paper, small.n_events)
    )
    # Strict inequality on doubled values: compare away from float ties.
    close = np.isclose(small.chi2, chi2_threshold(paper, small.n_events))
    small_mask = hard_negative_mask(small, paper)
    assert small_mask.sum() > 5
    assert np.array_equal(small_mask[~close], hard_negative_mask(large, paper)[~close])
    p_value = HardNegOptions(threshold="p_value", p_value=0.2)
    fewer = hard_negative_mask(large, p_value)
    assert fewer.sum() < hard_negative_mask(small, p_value).sum()


def test_unknown_threshold_and_options_of_the_other_reading_are_clear_errors():
    with pytest.raises(ConfigError, match=r"threshold.*'paper' or 'p_value'"):
        validate_options(HardNegOptions, {"threshold": "pvalue"}, "b.toml", ("metrics", "hardneg"))
    with pytest.raises(ValidationError, match='p_value = 0.01 applies to threshold = "p_value"'):
        HardNegOptions(p_value=0.01)
    with pytest.raises(ValidationError, match='chi2_rate = 1e-06 applies to threshold = "paper"'):
        HardNegOptions(threshold="p_value", chi2_rate=1e-6)
    with pytest.raises(ValidationError, match="chi2_rate"):
        HardNegOptions(chi2_rate=0)
    # A resolved configuration (every default written out) validates again.
    for options in (HardNegOptions(), HardNegOptions(threshold="p_value", p_value=0.01)):
        assert HardNegOptions.model_validate(options.model_dump(mode="json")) == options
