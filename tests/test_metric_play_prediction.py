"""Play prediction: Pearson correlation of play rate with cosine similarity, and a malformed or
missing play log."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from embench.errors import DataError
from embench.evaluation import evaluate
from embench_plugins.play_prediction import PlayPrediction, PlayPredictionOptions
from tests.test_metric_clustering import make_context


def reference_pearson(x: list[float], y: list[float]) -> float:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def context_with_log(seed: int = 0, n: int = 50, rows: int = 400):
    rng = np.random.default_rng(seed)
    lists = [rng.integers(0, n, size=6).tolist() for _ in range(40)]
    songs = pd.DataFrame({"song_id": [f"q{i}" for i in range(n)]})
    known = np.sort(rng.choice(n, size=n - 5, replace=False))
    vectors = rng.normal(size=(len(known), 4))
    ctx = make_context(lists, songs, known, vectors)
    seeds = rng.integers(0, n, size=rows)
    recommended = rng.integers(0, n, size=rows)
    organic = rng.integers(1, 300, size=rows)
    organic[:5] = 0  # no rate
    # Play rate driven by the true cosine, plus noise.
    unit = {
        int(s): v / np.linalg.norm(v) for s, v in zip(known, ctx.embedding.vectors, strict=True)
    }
    cosine = np.array(
        [
            float(unit[a] @ unit[b]) if a in unit and b in unit else 0.0
            for a, b in zip(seeds, recommended, strict=True)
        ]
    )
    rate = np.clip(0.5 + 0.3 * cosine + rng.normal(0, 0.1, size=rows), 0, 1)
    successful = np.round(rate * organic).astype(int)
    ctx.dataset.play_log = pd.DataFrame(
        {
            "seed_song": seeds,
            "recommended_song": recommended,
            "organic_plays": organic,
            "successful_plays": successful,
        }
    )
    return ctx


def test_correlations_match_python_loops():
    ctx = context_with_log()
    result = PlayPrediction().compute(ctx, PlayPredictionOptions(min_organic=150))
    vectors = {
        int(s): v.astype(float).tolist()
        for s, v in zip(ctx.embedding.song_index, ctx.embedding.vectors, strict=True)
    }
    rates, cosines, frequent_rates, frequent_cosines = [], [], [], []
    for seed, rec, organic, successful in ctx.dataset.play_log.itertuples(index=False):
        if organic == 0 or seed not in vectors or rec not in vectors:
            continue
        a, b = vectors[seed], vectors[rec]
        cosine = sum(x * y for x, y in zip(a, b, strict=True)) / (
            math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
        )
        rates.append(successful / organic)
        cosines.append(cosine)
        if organic >= 150:
            frequent_rates.append(successful / organic)
            frequent_cosines.append(cosine)
    assert 50 < len(frequent_rates) < len(rates) < 400
    assert result.values["play_corr_all"] == pytest.approx(reference_pearson(rates, cosines))
    assert result.values["play_corr_frequent"] == pytest.approx(
        reference_pearson(frequent_rates, frequent_cosines)
    )
    assert result.values["play_corr_frequent"] > 0.5  # the planted relation is found
    table = result.tables["play_prediction"].set_index("pairs")
    assert table.loc["all", "scored"] == len(rates)
    assert table.loc["all", "no_organic_play"] == 5


def test_too_few_pairs_give_nan():
    ctx = context_with_log()
    result = PlayPrediction().compute(ctx, PlayPredictionOptions(min_organic=10**6))
    assert np.isnan(result.values["play_corr_frequent"])
    assert not np.isnan(result.values["play_corr_all"])


def test_missing_play_log_is_an_error_when_listed():
    ctx = context_with_log()
    ctx.dataset.play_log = None
    with pytest.raises(DataError, match="needs a play log.*has none"):
        evaluate(ctx, [("play_prediction", PlayPrediction(), PlayPredictionOptions())])
    quiet = PlayPrediction().compute(ctx, PlayPredictionOptions(missing_play_log="nan"))
    assert all(np.isnan(v) for v in quiet.values.values())
    assert set(quiet.values) == set(PlayPrediction.values)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda log: log.drop(columns=["organic_plays"]), "lacks the column"),
        (lambda log: log.assign(recommended_song=log["recommended_song"] + 1000), "unknown song"),
        (lambda log: log.assign(seed_song=log["seed_song"] - 1000), "negative"),
        (lambda log: log.assign(successful_plays=-log["successful_plays"] - 1), "negative"),
        (
            lambda log: log.assign(
                organic_plays=log["organic_plays"].astype(float).where(log.index > 3)
            ),
            "missing",
        ),
        (lambda log: log.assign(seed_song=log["seed_song"] + 0.5), "song indices"),
    ],
)
def test_malformed_play_log_is_a_data_error(change, message):
    ctx = context_with_log()
    ctx.dataset.play_log = change(ctx.dataset.play_log)
    with pytest.raises(DataError, match=message):
        PlayPrediction().compute(ctx, PlayPredictionOptions())
