"""The embedded benchmark (benchmarks/stream.toml) stays informative: its data has the
popularity head and the learnable structure of real playlists, so that a search does not win by
leaving Word2Vec untrained (its best at VRC 1, never recommending a tail song)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from embench.cli import main
from embench_plugins.datasets import SyntheticDataset, SyntheticOptions

STREAM = Path(__file__).resolve().parents[1] / "benchmarks" / "stream.toml"


def stream_dataset():
    config = tomllib.loads(STREAM.read_text())
    assert config["dataset"]["plugin"] == "synthetic"
    options = SyntheticOptions(**config["dataset"]["options"])
    return SyntheticDataset().load(options, seed=config["benchmark"]["seed"], base_dir=None)


def popularity_hitrate(dataset, k: int = 100) -> float:
    """HitRate@k of recommending the k most played songs (the query left out) for the next
    song of every consecutive pair: what a space that learnt only popularity scores."""
    first, second = dataset.sequences.consecutive_pairs()
    plays = np.bincount(dataset.sequences.songs, minlength=dataset.n_songs)
    ranked = np.argsort(-plays, kind="stable")
    rank = np.empty(len(ranked), dtype=np.int64)
    rank[ranked] = np.arange(len(ranked))
    # the target's rank among the songs other than the query
    target_rank = rank[second] - (rank[first] < rank[second])
    return float(np.mean(target_rank < k))


def test_stream_data_has_the_popularity_head_of_real_playlists():
    """yes_big (Yes.com radio playlists, 210k plays): the 100 most played songs hold 14.4% of
    the plays and are the next song 12.7% of the time. A heavier head makes recommending
    popular songs beat learning the data's structure, and a HitRate search then finds it."""
    dataset = stream_dataset()
    plays = np.sort(np.bincount(dataset.sequences.songs, minlength=dataset.n_songs))[::-1]
    assert 0.11 < plays[:100].sum() / plays.sum() < 0.17
    assert 0.10 < popularity_hitrate(dataset) < 0.15


CONFIGURATIONS = """
[[configuration]]
name = "default"

[[configuration]]
name = "untrained"        # Table 3's lowest learning rate: vectors barely leave their init
[configuration.params]
alpha = 0.001

"""

# Each value of the default configuration stays inside (low, high), well away from the bound
# a saturated or collapsed metric sits at (measured on stream.toml: see its [thresholds]).
INSIDE = {
    "hitrate": (0.05, 0.5),
    "ndcg": (0.01, 0.3),
    "hardneg": (0.0, 0.05),  # "HardNeg 0.0000" was the complaint
    "vrc_genre": (10, 1e4),  # 1: no more clustered than random labels
    "vrc_artist": (10, 1e4),
    "coherence_genre": (0.15, 0.7),  # 0.999 was the complaint
    "coherence_artist": (0.005, 0.3),
    **{f"hitrate_pop_diag_b{b}": (0.05, 0.9) for b in range(5)},
    "play_corr_all": (0.1, 0.95),
    "play_corr_frequent": (0.1, 0.95),
    "k_skewness": (-1.0, 3.0),
    "antihubs": (0.0, 0.2),
    "hub_slots": (0.01, 0.2),
    "mean_cosine": (0.05, 0.95),
    "neighbour_popularity": (-0.3, 0.3),
}


@pytest.mark.slow
def test_stream_default_is_away_from_every_bound_and_beats_a_barely_trained_space(tmp_path):
    """On stream.toml's data, split and metrics, every value of the default configuration is
    away from its bounds, and the default predicts the next song better than a barely trained
    space (VRC about 1: the random init plus a shared popularity direction) and than the most
    played songs, as on real data (yes_big: HitRate 0.156 against 0.152 for the 100 most played
    songs). Measured: default HitRate 0.163, VRC genre 141; learning rate 0.001: 0.02, 1.0."""
    text = STREAM.read_text()
    head = text[: text.index("[[configuration]]")]  # benchmark, dataset, split, embedders
    metrics = text[text.index("[metrics.") : text.index("[[study]]")]
    bench = tmp_path / "stream-small.toml"
    bench.write_text(head + CONFIGURATIONS + metrics)
    assert main(["run", str(bench), "--output", str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    rows = {c["name"]: c["metrics"] for c in summary["configurations"]}
    default, untrained = rows["default"], rows["untrained"]
    for key, (low, high) in INSIDE.items():
        assert low < default[key] < high, (key, default[key])
    assert untrained["vrc_genre"] < 2  # what the bound looks like
    assert default["hitrate"] > untrained["hitrate"] + 0.03
    assert default["hitrate"] > popularity_hitrate(stream_dataset())
