"""The synthetic stream-like generator: determinism, session lengths, planted structure, play log."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from embench.data import synthetic
from embench.data.stats import dataset_stats
from embench.data.synthetic import GroupSampler, generate
from embench.errors import ConfigError
from embench_plugins.datasets import SyntheticDataset, SyntheticOptions


@pytest.fixture(scope="module")
def data():
    return generate(songs=5_000, sequences=20_000, seed=7)


def adjacent_share(dataset, column: str) -> float:
    labels = dataset.songs[column].to_numpy(dtype=object)
    first, second = dataset.sequences.consecutive_pairs()
    return float(np.mean(labels[first] == labels[second]))


def chance_share(dataset, column: str) -> float:
    """Probability that two plays drawn independently by popularity share the label."""
    plays = dataset.songs.groupby(column)["plays"].sum().to_numpy(dtype=float)
    return float(((plays / plays.sum()) ** 2).sum())


def test_same_seed_same_dataset_other_seed_other_dataset(data):
    again = generate(songs=5_000, sequences=20_000, seed=7)
    assert np.array_equal(again.sequences.indptr, data.sequences.indptr)
    assert np.array_equal(again.sequences.songs, data.sequences.songs)
    pd.testing.assert_frame_equal(again.songs, data.songs)
    pd.testing.assert_frame_equal(again.play_log, data.play_log)
    other = generate(songs=5_000, sequences=20_000, seed=8)
    assert not np.array_equal(other.sequences.indptr, data.sequences.indptr)


def test_session_length_percentiles_are_close_to_the_paper(data):
    stats = dataset_stats(data)
    assert stats["sequences"] == 20_000
    assert stats["length_p25"] == pytest.approx(16, abs=2)
    assert stats["length_p50"] == pytest.approx(29, abs=3)
    assert stats["length_p75"] == pytest.approx(58, abs=5)
    assert 35 < stats["length_mean"] < 60
    assert data.sequences.lengths.min() >= 1


def test_catalogue_has_the_requested_artists_and_genres(data):
    songs = data.songs
    assert len(songs) == 5_000 and songs["song_id"].is_unique
    assert songs["artist"].nunique() == 500  # songs / 10 by default
    assert songs["genre"].nunique() == 20
    assert songs.groupby("artist")["genre"].nunique().max() == 1  # an artist has one genre
    small = generate(songs=300, sequences=50, artists=40, genres=7, play_log=False, seed=1)
    assert small.songs["artist"].nunique() == 40 and small.songs["genre"].nunique() == 7
    assert small.play_log is None


def test_default_statistics_look_like_real_playlists(data):
    """Pinned: adjacent songs share their genre label about a quarter of the time (2.5x chance)
    and their artist about one time in ten (12x chance): structure to learn, far from
    saturated. (Yes.com radio playlists: 0.58 vs 0.31 chance, 0.010 vs 0.0015 chance.)"""
    same_genre, chance_genre = adjacent_share(data, "genre"), chance_share(data, "genre")
    same_artist, chance_artist = adjacent_share(data, "artist"), chance_share(data, "artist")
    assert 0.2 < same_genre < 0.3 and 0.08 < chance_genre < 0.12
    assert 0.07 < same_artist < 0.12 and 0.006 < chance_artist < 0.01
    assert data.metadata["genre_purity"] == 0.5 and data.metadata["cross_genre"] == 0.4
    assert data.metadata["artist_run"] == 1.1 and data.metadata["noise"] == 0.2


def test_artist_run_is_the_mean_run_length():
    """An event continues its run with probability 1 - 1/artist_run; a new run may pick the
    same artist by chance (probability c), so 1 - P(same artist) = (1 - c) / artist_run."""
    same = {
        run: adjacent_share(
            generate(songs=3_000, sequences=6_000, artist_run=run, noise=0, play_log=False, seed=2),
            "artist",
        )
        for run in (1, 2, 4)
    }
    assert 0.02 < same[1] < 0.15
    for run in (2, 4):
        assert 1 - same[run] == pytest.approx((1 - same[1]) / run, abs=0.01)


def other_artist_label_agreement(dataset) -> float:
    labels = dataset.songs["genre"].to_numpy(dtype=object)
    artists = dataset.songs["artist"].to_numpy(dtype=object)
    first, second = dataset.sequences.consecutive_pairs()
    other = artists[first] != artists[second]
    return float(np.mean(labels[first][other] == labels[second][other]))


def test_genre_purity_and_cross_genre_sessions():
    def make(purity, cross):
        return generate(
            songs=3_000,
            sequences=4_000,
            genre_purity=purity,
            cross_genre=cross,
            artist_run=1,
            noise=0,
            play_log=False,
            seed=5,
        )

    # Single-genre sessions with true labels: only wandering runs (8%) leave the genre.
    pure = make(1.0, 0.0)
    assert other_artist_label_agreement(pure) > 0.8
    # Labels drawn at random: a play next to another artist agrees only by chance.
    random_labels = make(0.0, 0.0)
    assert other_artist_label_agreement(random_labels) == pytest.approx(
        chance_share(random_labels, "genre"), abs=0.02
    )
    half = other_artist_label_agreement(make(0.5, 0.0))
    assert chance_share(random_labels, "genre") + 0.1 < half < 0.8
    # Every session mixing genres: true labels, but adjacent plays share them by chance only.
    mixed = make(1.0, 1.0)
    assert adjacent_share(mixed, "genre") == pytest.approx(chance_share(mixed, "genre"), abs=0.02)
    # The labels are per artist: an artist keeps one label whatever the purity.
    assert random_labels.songs.groupby("artist")["genre"].nunique().max() == 1


def test_noise_removes_the_structure():
    noisy = generate(songs=2_000, sequences=2_000, noise=1.0, play_log=False, seed=3)
    assert adjacent_share(noisy, "genre") == pytest.approx(chance_share(noisy, "genre"), abs=0.03)
    assert adjacent_share(noisy, "artist") < 0.02


def test_popularity_is_zipf_like(data):
    plays = np.sort(data.songs["plays"].to_numpy())[::-1].astype(float)
    ranks = np.arange(1, len(plays) + 1)
    window = slice(9, 1_000)
    slope = np.polyfit(np.log(ranks[window]), np.log(plays[window]), 1)[0]
    assert -1.1 < slope < -0.5
    assert plays[:50].sum() > 0.1 * plays.sum()  # a popular head
    assert (plays > 0).mean() > 0.95  # and a long tail that is still played


def test_play_log_rates_rise_with_planted_similarity():
    # The rates follow the genre an artist plays in; labels equal to it show that directly.
    data = generate(songs=5_000, sequences=2_000, genre_purity=1, seed=7)
    log = data.play_log
    assert list(log.columns) == [
        "seed_song",
        "recommended_song",
        "organic_plays",
        "successful_plays",
    ]
    assert log["seed_song"].between(0, data.n_songs - 1).all()
    assert log["recommended_song"].between(0, data.n_songs - 1).all()
    assert (log["seed_song"] != log["recommended_song"]).all()
    assert not log.duplicated(["seed_song", "recommended_song"]).any()
    assert (log["successful_plays"] <= log["organic_plays"]).all()
    assert (log["organic_plays"] >= 1).all()
    assert 0.05 < (log["organic_plays"] >= 100).mean() < 0.3
    artist = data.songs["artist"].to_numpy(dtype=object)
    genre = data.songs["genre"].to_numpy(dtype=object)
    seed, rec = log["seed_song"].to_numpy(), log["recommended_song"].to_numpy()
    rate = log["successful_plays"] / log["organic_plays"]
    same_artist = artist[seed] == artist[rec]
    same_genre = (genre[seed] == genre[rec]) & ~same_artist
    other = genre[seed] != genre[rec]
    assert min(same_artist.sum(), same_genre.sum(), other.sum()) > 1_000
    assert rate[same_artist].mean() > rate[same_genre].mean() + 0.1
    assert rate[same_genre].mean() > rate[other].mean() + 0.1


def test_plays_sets_the_number_of_sessions():
    dataset = generate(songs=1_000, plays=200_000, play_log=False, seed=0)
    assert dataset.sequences.n_events == pytest.approx(200_000, rel=0.1)
    assert len(generate(songs=100, play_log=False).sequences) == 20_000


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="genres must be in 1..artists"):
        generate(songs=100, artists=5, genres=10)
    with pytest.raises(ConfigError, match="artists must be <= songs"):
        generate(songs=10, artists=20, genres=2)
    with pytest.raises(ConfigError, match="noise must be in"):
        generate(songs=100, noise=1.5)
    with pytest.raises(ConfigError, match="genre_purity must be in"):
        generate(songs=100, genre_purity=-0.1)
    with pytest.raises(ConfigError, match="cross_genre must be in"):
        generate(songs=100, cross_genre=2)
    with pytest.raises(ConfigError, match="artist_run must be >= 1"):
        generate(songs=100, artist_run=0.5)
    with pytest.raises(ConfigError, match="not both"):
        generate(songs=100, sequences=10, plays=1_000)


def test_loader_uses_the_benchmark_seed_unless_the_options_fix_one():
    options = SyntheticOptions(songs=500, sequences=300)
    loader = SyntheticDataset()
    first = loader.load(options, seed=4, base_dir=None)
    expected = generate(songs=500, sequences=300, seed=4)
    assert np.array_equal(first.sequences.songs, expected.sequences.songs)
    assert first.play_log is not None
    fixed = SyntheticOptions(songs=500, sequences=300, seed=11, play_log=False)
    a = loader.load(fixed, seed=1, base_dir=None)
    b = loader.load(fixed, seed=2, base_dir=None)
    assert np.array_equal(a.sequences.songs, b.sequences.songs) and a.play_log is None
    with pytest.raises(ValidationError):
        SyntheticOptions(songs=1)
    with pytest.raises(ValidationError):
        SyntheticOptions(noise=2)
    with pytest.raises(ValidationError):
        SyntheticOptions(sessions=10)
    with pytest.raises(ValidationError):
        SyntheticOptions(artist_run=0.9)
    realistic = SyntheticOptions(songs=500, sequences=300, genre_purity=1, cross_genre=0.1)
    dataset = loader.load(realistic.model_copy(update={"artist_run": 3.0}), seed=4, base_dir=None)
    assert dataset.metadata["genre_purity"] == 1 and dataset.metadata["artist_run"] == 3.0
    assert dataset.metadata["cross_genre"] == 0.1


def test_group_sampler_draws_only_within_the_group_by_weight():
    groups = np.array([1, 0, 1, 0, 2, 1])
    weights = np.array([1.0, 1.0, 2.0, 3.0, 5.0, 0.0])
    sampler = GroupSampler(groups, weights, 3)
    rng = np.random.default_rng(0)
    wanted = rng.integers(0, 3, size=60_000)
    drawn = sampler.draw(wanted, rng.random(60_000))
    assert np.array_equal(groups[drawn], wanted)
    assert not (drawn == 5).any()  # zero weight
    share = np.bincount(drawn[wanted == 1], minlength=6)[[0, 2]] / (wanted == 1).sum()
    assert share == pytest.approx([1 / 3, 2 / 3], abs=0.02)


def test_generation_is_vectorised_and_fast():
    start = time.perf_counter()
    dataset = generate(songs=50_000, sequences=21_000, seed=0)
    elapsed = time.perf_counter() - start
    assert dataset.sequences.n_events > 900_000
    assert elapsed < 10  # about 0.7 s on 2 cores; 7M events take about 4 s


def test_memory_beyond_the_event_array_stays_bounded(monkeypatch):
    """Sessions are generated chunk by chunk: four times the plays need four times the int32
    event array, not four times every temporary array of the generation."""
    monkeypatch.setattr(synthetic, "CHUNK_SESSIONS", 2_000)

    def peak(plays: int) -> tuple[float, int]:
        tracemalloc.start()
        try:
            dataset = generate(songs=2_000, plays=plays, play_log=False, seed=0)
            return tracemalloc.get_traced_memory()[1], dataset.sequences.n_events
        finally:
            tracemalloc.stop()

    small, small_events = peak(300_000)
    large, large_events = peak(1_200_000)
    # The event array (int32) and the session offsets (int64 per ~47 events) grow; all else
    # is per chunk. Generating every event at once would grow by ~50 bytes per event.
    grown = (large_events - small_events) * (4 + 8 / 40)
    assert large - small < 2 * grown
