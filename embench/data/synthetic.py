"""A seeded generator of stream-like listening sessions with planted artist and genre structure.

The model (every step vectorised with numpy; no Python loop per event):

- **Catalogue.** ``genres`` genres with Zipf-like sizes; ``artists`` artists, each in one genre
  (every genre has one at least); songs spread over artists with lognormal productivity (every
  artist has one song at least). Song popularity is Zipf: the song of popularity rank ``r`` has
  weight ``r ** -zipf``, ranks shuffled over the catalogue.
- **Sessions.** Lengths are lognormal, rounded, at least 1: ``exp(N(3.40, 0.955))``, whose
  25th/50th/75th percentiles are about 16/30/57 (the streaming data of the paper: 16/29/58).
  A session picks a genre (by the genre's total popularity) and plays *artist runs*: each event
  starts a new run with probability ``1 / RUN_LENGTH``; a run keeps the session's genre (with
  probability ``1 - GENRE_SWITCH``, else a genre drawn afresh), picks an artist of that genre by
  popularity, and each of its events a song of that artist by popularity. So the marginal song
  popularity is the Zipf law, and co-occurrence is mostly within artist and genre.
- **Noise.** Each event is, with probability ``noise``, replaced by a song drawn from the
  global popularity: chance co-occurrence unrelated to artist or genre.
- **Play log** (``play_log=True``). Pairs (seed song, recommended song): seeds drawn by
  popularity, the recommendation from the seed's artist (25%), its genre (35%) or anywhere
  (40%). Organic plays are lognormal counts (about 1 pair in 7 has >= 100); the success
  probability is ``sigmoid(-2.2 + 1.4 * same_genre + 1.2 * same_artist + N(0, 0.35))`` so the
  play rate rises with the planted similarity. Song columns hold *song indices*.

The same arguments and seed give an identical dataset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from embench.data.dataset import Dataset, Sequences
from embench.errors import ConfigError

LENGTH_MU = 3.40  # log of the median session length
LENGTH_SIGMA = 0.955
MAX_LENGTH = 1000
RUN_LENGTH = 3.0  # mean length of an artist run
GENRE_SWITCH = 0.08  # chance that a run leaves the session's genre
DEFAULT_SEQUENCES = 20_000


class GroupSampler:
    """Draws, for each requested group, an item of that group with probability ∝ its weight.

    Items are sorted by group; a cumulative distribution offset by the group number (group
    ``g`` spans ``[g, g + 1)``) lets one ``searchsorted`` serve every group at once.
    """

    def __init__(self, group_of_item: np.ndarray, weight: np.ndarray, n_groups: int) -> None:
        order = np.argsort(group_of_item, kind="stable")
        groups = group_of_item[order]
        w = weight[order].astype(np.float64)
        totals = np.bincount(groups, weights=w, minlength=n_groups)
        if np.any(totals <= 0):
            raise ValueError("every group needs an item of positive weight")
        before = np.concatenate([[0.0], np.cumsum(totals)])[:-1]
        within = np.cumsum(w) - before[groups]
        self.cum = groups + np.minimum(within / totals[groups], 1.0)
        self.items = order
        self.end = np.cumsum(np.bincount(groups, minlength=n_groups))  # one past each group
        self.start = self.end - np.bincount(groups, minlength=n_groups)

    def draw(self, groups: np.ndarray, u: np.ndarray) -> np.ndarray:
        position = np.searchsorted(self.cum, groups + u, side="right")
        position = np.clip(position, self.start[groups], self.end[groups] - 1)
        return self.items[position]


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Weights ``rank ** -exponent`` with the ranks shuffled over the ``n`` items."""
    return rng.permutation(np.arange(1, n + 1, dtype=np.float64)) ** -exponent


def session_lengths(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` lognormal session lengths (p25/p50/p75 about 16/30/57), in 1..MAX_LENGTH."""
    raw = np.exp(rng.normal(LENGTH_MU, LENGTH_SIGMA, size=n))
    return np.clip(np.rint(raw), 1, MAX_LENGTH).astype(np.int64)


def generate(
    *,
    songs: int = 20_000,
    sequences: int | None = None,
    artists: int | None = None,
    genres: int = 20,
    noise: float = 0.05,
    zipf: float = 0.8,
    play_log: bool = True,
    play_log_pairs: int | None = None,
    plays: int | None = None,
    seed: int = 0,
    name: str = "synthetic",
) -> Dataset:
    """Generate a stream-like :class:`Dataset` (see the module docstring for the model).

    ``sequences`` defaults to 20,000; ``plays``, when given instead, sets it to about
    ``plays / 47`` (the mean session length) so the dataset has about ``plays`` events.
    ``artists`` defaults to ``songs // 10`` (at least ``genres``).
    ``play_log_pairs`` defaults to ``min(4 * songs, 200_000)``.
    """
    if sequences is None:
        sequences = (
            DEFAULT_SEQUENCES
            if plays is None
            else max(1, int(round(plays / np.exp(LENGTH_MU + LENGTH_SIGMA**2 / 2))))
        )
    elif plays is not None:
        raise ConfigError("synthetic dataset: give the number of sequences or of plays, not both")
    if artists is None:
        artists = max(genres, songs // 10)
    problems = []
    if songs < 2:
        problems.append(f"songs must be >= 2 (got {songs})")
    if sequences < 1:
        problems.append(f"sequences must be >= 1 (got {sequences})")
    if not 1 <= genres <= artists:
        problems.append(f"genres must be in 1..artists ({artists}), got {genres}")
    if not artists <= songs:
        problems.append(f"artists must be <= songs ({songs}), got {artists}")
    if not 0 <= noise <= 1:
        problems.append(f"noise must be in [0, 1], got {noise}")
    if zipf < 0:
        problems.append(f"zipf must be >= 0, got {zipf}")
    if problems:
        raise ConfigError("synthetic dataset: " + "; ".join(problems))

    rng = np.random.default_rng([seed, 0x5EED])
    # Catalogue: genres -> artists -> songs, each level covering the next.
    genre_share = _zipf_weights(genres, 0.6, rng)
    genre_of_artist = np.concatenate(
        [np.arange(genres), rng.choice(genres, artists - genres, p=genre_share / genre_share.sum())]
    )
    productivity = rng.lognormal(0.0, 0.8, size=artists)
    artist_of_song = rng.permutation(
        np.concatenate(
            [
                np.arange(artists),
                rng.choice(artists, songs - artists, p=productivity / productivity.sum()),
            ]
        )
    )
    genre_of_song = genre_of_artist[artist_of_song]
    song_weight = _zipf_weights(songs, zipf, rng)
    artist_weight = np.bincount(artist_of_song, weights=song_weight, minlength=artists)
    genre_weight = np.bincount(genre_of_artist, weights=artist_weight, minlength=genres)
    songs_of_artist = GroupSampler(artist_of_song, song_weight, artists)
    artists_of_genre = GroupSampler(genre_of_artist, artist_weight, genres)
    genre_cdf = np.cumsum(genre_weight) / genre_weight.sum()
    song_cdf = np.cumsum(song_weight) / song_weight.sum()

    def by_cdf(cdf: np.ndarray, size: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)

    # Sessions: a genre each, cut into artist runs.
    lengths = session_lengths(sequences, rng)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    n_events = int(indptr[-1])
    session_genre = by_cdf(genre_cdf, sequences)
    new_run = rng.random(n_events) < 1.0 / RUN_LENGTH
    new_run[indptr[:-1]] = True
    run_of_event = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    n_runs = len(run_start)
    session_of_run = np.searchsorted(indptr, run_start, side="right") - 1
    run_genre = session_genre[session_of_run]
    switch = rng.random(n_runs) < GENRE_SWITCH
    run_genre[switch] = by_cdf(genre_cdf, int(switch.sum()))
    run_artist = artists_of_genre.draw(run_genre, rng.random(n_runs))
    events = songs_of_artist.draw(run_artist[run_of_event], rng.random(n_events))
    noisy = rng.random(n_events) < noise
    events[noisy] = by_cdf(song_cdf, int(noisy.sum()))

    digits = len(str(songs - 1))
    table = pd.DataFrame(
        {
            "song_id": [f"s{i:0{digits}d}" for i in range(songs)],
            "title": [f"Song {i}" for i in range(songs)],
            "artist": np.array([f"Artist {a}" for a in range(artists)], dtype=object)[
                artist_of_song
            ],
            "genre": np.array([f"Genre {g}" for g in range(genres)], dtype=object)[genre_of_song],
        }
    )
    log = None
    if play_log:
        pairs = play_log_pairs if play_log_pairs is not None else min(4 * songs, 200_000)
        log = _play_log(
            pairs, rng, by_cdf, song_cdf, artist_of_song, genre_of_song, genres, song_weight
        )
    metadata = {
        "source": "synthetic",
        "seed": seed,
        "songs": songs,
        "sequences": sequences,
        "artists": artists,
        "genres": genres,
        "noise": noise,
        "zipf": zipf,
    }
    return Dataset(name, Sequences(indptr, events), table, play_log=log, metadata=metadata)


def _play_log(
    pairs: int,
    rng: np.random.Generator,
    by_cdf,
    song_cdf: np.ndarray,
    artist_of_song: np.ndarray,
    genre_of_song: np.ndarray,
    n_genres: int,
    song_weight: np.ndarray,
) -> pd.DataFrame:
    """(seed_song, recommended_song, organic_plays, successful_plays) with planted play rates."""
    n_artists = int(artist_of_song.max()) + 1
    same_artist = GroupSampler(artist_of_song, song_weight, n_artists)
    same_genre = GroupSampler(genre_of_song, song_weight, n_genres)
    seed_song = by_cdf(song_cdf, pairs)
    kind = rng.random(pairs)
    recommended = by_cdf(song_cdf, pairs)
    from_artist = kind < 0.25
    from_genre = (kind >= 0.25) & (kind < 0.60)
    u = rng.random(pairs)
    recommended[from_artist] = same_artist.draw(
        artist_of_song[seed_song[from_artist]], u[from_artist]
    )
    recommended[from_genre] = same_genre.draw(genre_of_song[seed_song[from_genre]], u[from_genre])
    organic = np.maximum(1, np.rint(rng.lognormal(np.log(20.0), 1.5, size=pairs))).astype(np.int64)
    is_same_genre = genre_of_song[seed_song] == genre_of_song[recommended]
    is_same_artist = artist_of_song[seed_song] == artist_of_song[recommended]
    logit = -2.2 + 1.4 * is_same_genre + 1.2 * is_same_artist + rng.normal(0.0, 0.35, size=pairs)
    successful = rng.binomial(organic, 1.0 / (1.0 + np.exp(-logit)))
    log = pd.DataFrame(
        {
            "seed_song": seed_song.astype(np.int64),
            "recommended_song": recommended.astype(np.int64),
            "organic_plays": organic,
            "successful_plays": successful.astype(np.int64),
        }
    )
    log = log[log["seed_song"] != log["recommended_song"]]
    return log.drop_duplicates(["seed_song", "recommended_song"]).reset_index(drop=True)
