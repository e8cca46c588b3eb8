"""A seeded generator of stream-like listening sessions with planted artist and genre structure.

The model (every step vectorised with numpy; no Python loop per event or per session):

- **Catalogue.** ``genres`` genres with Zipf-like sizes; ``artists`` artists, each in one genre
  (every genre has one at least); songs spread over artists with lognormal productivity (every
  artist has one song at least). Song popularity is Zipf: the song of popularity rank ``r`` has
  weight ``r ** -zipf``, ranks shuffled over the catalogue.
- **Genre labels** (``genre_purity``). An artist plays in its genre, but its *label* (the
  ``genre`` column, as a tag service would give it) is that genre only with probability
  ``genre_purity``; otherwise it is a genre drawn by popularity (which may be the same one).
- **Sessions.** Lengths are lognormal, rounded, at least 1: ``exp(N(3.40, 0.955))``, whose
  25th/50th/75th percentiles are about 16/30/57 (the streaming data of the paper: 16/29/58).
  A session picks a genre (by the genre's total popularity) and plays *artist runs*: each event
  starts a new run with probability ``1 / artist_run`` (the mean run length). A run picks an
  artist of its genre by popularity, and each of its events a song of that artist by
  popularity. The run's genre is the session's, except in a *cross-genre session* (a share
  ``cross_genre`` of the sessions: shuffles, radio mixes), where every run draws its genre
  afresh, and for a run that wanders off (probability ``GENRE_SWITCH``). So the marginal song
  popularity is the Zipf law, and co-occurrence is mostly within artist and genre.
- **Chance co-occurrence** (``noise``). Each event is, with probability ``noise``, replaced by
  a song drawn from the global popularity: adjacency unrelated to artist or genre.
- **Play log** (``play_log=True``). Pairs (seed song, recommended song): seeds drawn by
  popularity, the recommendation from the seed's artist (25%), its genre (35%) or anywhere
  (40%). Organic plays are lognormal counts (about 1 pair in 7 has >= 100); the success
  probability is ``sigmoid(-2.2 + 1.4 * same_genre + 1.2 * same_artist + N(0, 0.35))`` (the
  genre an artist plays in, not its label) so the play rate rises with the planted similarity.
  Song columns hold *song indices*.

The defaults give data that looks like real playlists to the metrics (see
``docs/data-formats.md``): adjacent songs share their genre label about half the time and
their artist a few times in a hundred, so neighbour coherence, HardNeg and next-song hit rates
are all away from their bounds. Sessions are generated in chunks of ``CHUNK_SESSIONS``, so the
memory beyond the int32 event array stays bounded (100M plays take about 0.5 GB in all).

The same arguments and seed give an identical dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from embench.data.dataset import Dataset, Sequences
from embench.errors import ConfigError

LENGTH_MU = 3.40  # log of the median session length
LENGTH_SIGMA = 0.955
MAX_LENGTH = 1000
GENRE_SWITCH = 0.08  # chance that a run of a single-genre session leaves the session's genre
DEFAULT_SEQUENCES = 20_000
CHUNK_SESSIONS = 20_000  # sessions generated at once (about 1M events): bounds the memory
# Defaults of the realism parameters (chosen so the metrics land where real playlists do).
GENRE_PURITY = 0.5
ARTIST_RUN = 1.1
CROSS_GENRE = 0.4
NOISE = 0.2


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
    genre_purity: float = GENRE_PURITY,
    artist_run: float = ARTIST_RUN,
    cross_genre: float = CROSS_GENRE,
    noise: float = NOISE,
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
    if songs > np.iinfo(np.int32).max:
        problems.append(f"songs must fit int32 indices (got {songs})")
    if sequences < 1:
        problems.append(f"sequences must be >= 1 (got {sequences})")
    if not 1 <= genres <= artists:
        problems.append(f"genres must be in 1..artists ({artists}), got {genres}")
    if not artists <= songs:
        problems.append(f"artists must be <= songs ({songs}), got {artists}")
    for label, value in (
        ("genre_purity", genre_purity),
        ("cross_genre", cross_genre),
        ("noise", noise),
    ):
        if not 0 <= value <= 1:
            problems.append(f"{label} must be in [0, 1], got {value}")
    if not artist_run >= 1:
        problems.append(f"artist_run must be >= 1 (the mean run length), got {artist_run}")
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
    model = _Model(
        songs_of_artist=GroupSampler(artist_of_song, song_weight, artists),
        artists_of_genre=GroupSampler(genre_of_artist, artist_weight, genres),
        genre_cdf=np.cumsum(genre_weight) / genre_weight.sum(),
        song_cdf=np.cumsum(song_weight) / song_weight.sum(),
        new_run=1.0 / artist_run,
        cross_genre=cross_genre,
        noise=noise,
    )
    # Labels: an artist's tag is its genre with probability genre_purity.
    mislabelled = rng.random(artists) >= genre_purity
    label_of_artist = genre_of_artist.copy()
    label_of_artist[mislabelled] = _by_cdf(model.genre_cdf, int(mislabelled.sum()), rng)

    lengths = session_lengths(sequences, rng)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    events = np.empty(int(indptr[-1]), dtype=np.int32)
    for first in range(0, sequences, CHUNK_SESSIONS):
        last = min(sequences, first + CHUNK_SESSIONS)
        events[indptr[first] : indptr[last]] = _sessions(lengths[first:last], model, rng)

    digits = len(str(songs - 1))
    table = pd.DataFrame(
        {
            "song_id": [f"s{i:0{digits}d}" for i in range(songs)],
            "title": [f"Song {i}" for i in range(songs)],
            "artist": np.array([f"Artist {a}" for a in range(artists)], dtype=object)[
                artist_of_song
            ],
            "genre": np.array([f"Genre {g}" for g in range(genres)], dtype=object)[
                label_of_artist[artist_of_song]
            ],
        }
    )
    log = None
    if play_log:
        pairs = play_log_pairs if play_log_pairs is not None else min(4 * songs, 200_000)
        log = _play_log(
            pairs, rng, model.song_cdf, artist_of_song, genre_of_song, genres, song_weight
        )
    metadata = {
        "source": "synthetic",
        "seed": seed,
        "songs": songs,
        "sequences": sequences,
        "artists": artists,
        "genres": genres,
        "genre_purity": genre_purity,
        "artist_run": artist_run,
        "cross_genre": cross_genre,
        "noise": noise,
        "zipf": zipf,
    }
    return Dataset(name, Sequences(indptr, events), table, play_log=log, metadata=metadata)


@dataclass(frozen=True, eq=False)
class _Model:
    """What session generation draws from."""

    songs_of_artist: GroupSampler
    artists_of_genre: GroupSampler
    genre_cdf: np.ndarray
    song_cdf: np.ndarray
    new_run: float  # probability that an event starts an artist run
    cross_genre: float
    noise: float


def _by_cdf(cdf: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` draws of item indices from a cumulative distribution."""
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)


def _sessions(lengths: np.ndarray, model: _Model, rng: np.random.Generator) -> np.ndarray:
    """The events of sessions of the given lengths, concatenated (int32 song indices)."""
    n_sessions = len(lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    n_events = int(lengths.sum())
    session_genre = _by_cdf(model.genre_cdf, n_sessions, rng)
    mixed = rng.random(n_sessions) < model.cross_genre
    new_run = rng.random(n_events) < model.new_run
    new_run[starts] = True
    run_start = np.flatnonzero(new_run)
    run_of_event = np.cumsum(new_run, dtype=np.int64) - 1
    del new_run
    session_of_run = np.searchsorted(starts, run_start, side="right") - 1
    del run_start
    run_genre = session_genre[session_of_run]
    switch = rng.random(len(run_genre)) < np.where(mixed[session_of_run], 1.0, GENRE_SWITCH)
    run_genre[switch] = _by_cdf(model.genre_cdf, int(switch.sum()), rng)
    run_artist = model.artists_of_genre.draw(run_genre, rng.random(len(run_genre)))
    events = model.songs_of_artist.draw(run_artist[run_of_event], rng.random(n_events))
    noisy = rng.random(n_events) < model.noise
    events[noisy] = _by_cdf(model.song_cdf, int(noisy.sum()), rng)
    return events.astype(np.int32)


def _play_log(
    pairs: int,
    rng: np.random.Generator,
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
    seed_song = _by_cdf(song_cdf, pairs, rng)
    kind = rng.random(pairs)
    recommended = _by_cdf(song_cdf, pairs, rng)
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
