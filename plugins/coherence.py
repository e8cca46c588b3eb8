"""Local genre and artist coherence: how many of a song's neighbours share its label.

For each sampled query song, the share of its top-``k`` neighbours (default 50) that carry the
query's genre (artist). Neighbours without the label never match. The denominator is ``k`` (or
the number of other embedded songs when the catalogue is smaller): a query the model never saw
has no neighbours and scores 0, a miss, as in next-song prediction. The value is the mean share
over the sampled queries; a table gives it per genre (per artist-popularity stratum).

Samples are drawn from songs played in the training corpus with the metric's seeded generator,
so that every configuration of a benchmark is scored on the same songs:

- **genre**: the ``genres`` genres with the most training plays; in each, the ``pool`` most played
  songs are the genre's popular songs, of which ``songs_per_genre`` are drawn.
- **artist**: artists with at least ``min_songs`` played songs, ranked by their training plays and
  cut into ``strata`` equal-count strata (stratum 0 the most popular); ``artists_per_stratum``
  artists are drawn in each, and ``songs_per_artist`` of each artist's played songs.

Each value carries its sample size and 95% confidence interval (:mod:`embench.sampling`):
genre coherence is a stratified sample (the genres' pools are the strata, weighted by the
queries drawn in each); artist coherence a two-stage sample (artists within strata, then songs),
whose interval comes from the drawn artists' spread (on the wide side). With every song of every
pool (artist) drawn, the value is exact and the interval has width 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

import embench
from embench.errors import DataError
from embench.sampling import Estimate, cluster_ratio, combine, mean


class GenreCoherenceOptions(embench.Options):
    k: int = Field(50, ge=1, description="neighbours of each query inspected")
    genres: int = Field(10, ge=1, description="top genres (by training plays) sampled")
    pool: int = Field(1000, ge=1, description="a genre's popular songs: its most played songs")
    songs_per_genre: int = Field(100, ge=1, description="queries drawn from each genre's pool")


class ArtistCoherenceOptions(embench.Options):
    k: int = Field(50, ge=1, description="neighbours of each query inspected")
    min_songs: int = Field(2, ge=2, description="artists with fewer played songs are left out")
    strata: int = Field(5, ge=1, description="artist-popularity strata (equal numbers of artists)")
    artists_per_stratum: int = Field(100, ge=1, description="artists drawn in each stratum")
    songs_per_artist: int = Field(3, ge=1, description="songs drawn from each drawn artist")


def group_ranks(groups: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal values (``groups`` sorted)."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))


def draw_within_groups(
    items: np.ndarray, groups: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Up to ``size`` items drawn uniformly without replacement within each group."""
    order = np.lexsort((rng.random(len(items)), groups))
    keep = order[group_ranks(groups[order]) < size]
    return items[np.sort(keep)]


def shares_with_label(ctx, queries: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """Share of each query's top-k neighbours whose label code equals the query's (-1: none)."""
    k_eff = min(k, len(ctx.embedding) - 1)
    if len(queries) == 0 or k_eff <= 0:
        return np.zeros(len(queries))
    neighbours = ctx.song_neighbours(queries, k)
    neighbour_codes = np.where(neighbours >= 0, codes[np.maximum(neighbours, 0)], -1)
    query_codes = codes[queries][:, None]
    match = (neighbour_codes == query_codes) & (query_codes >= 0) & (neighbours >= 0)
    return match.sum(axis=1) / k_eff


def stratified(shares: np.ndarray, strata: np.ndarray, sizes: np.ndarray) -> Estimate:
    """The mean of ``shares`` drawn within ``strata`` (a simple random sample of each stratum,
    ``sizes[h]`` its population), the strata weighted by their share of the queries."""
    n = len(shares)
    parts = [
        (float((strata == h).sum()) / n, mean(shares[strata == h], int(sizes[h])))
        for h in np.unique(strata)
    ]
    return combine(parts)


def two_stage(
    shares: np.ndarray,
    codes: np.ndarray,
    queries: np.ndarray,
    strata: np.ndarray,
    stratum_of_artist: np.ndarray,
    population: np.ndarray,
) -> Estimate:
    """The mean of ``shares`` of ``queries`` drawn artist by artist within strata
    (:func:`~embench.sampling.cluster_ratio`). A stratum where every artist and every song of
    each was drawn contributes no variance."""
    all_artists = np.bincount(stratum_of_artist[stratum_of_artist >= 0])
    drawn_artists = np.bincount(
        stratum_of_artist[np.unique(codes[queries])], minlength=len(all_artists)
    )
    songs_in = np.bincount(stratum_of_artist[codes[population]], minlength=len(all_artists))
    queries_in = np.bincount(strata, minlength=len(all_artists))
    exact = np.flatnonzero((drawn_artists == all_artists) & (queries_in == songs_in))
    return cluster_ratio(shares, codes[queries], strata, len(population), exact)


class GenreCoherence(embench.Metric[GenreCoherenceOptions]):
    """Share of the top-k neighbours with the query's genre, over popular songs of top genres."""

    name = "coherence_genre"
    Options = GenreCoherenceOptions
    values = {
        "coherence_genre": embench.Value(
            "max", per_query="coherence", description="share of neighbours with the genre"
        )
    }
    query_keys = ("song_id",)
    requires = frozenset({"genre"})

    def neighbours(
        self, ctx: embench.EvalContext, options: GenreCoherenceOptions
    ) -> embench.NeighbourRequest:
        return embench.NeighbourRequest(options.k, self.sample(ctx, options)[0])

    def sample(
        self, ctx: embench.EvalContext, options: GenreCoherenceOptions
    ) -> tuple[np.ndarray, np.ndarray, list]:
        """(query songs, their genre codes, genre names)."""
        pool, codes, names = self.pools(ctx, options)
        queries = draw_within_groups(
            pool, codes[pool], options.songs_per_genre, ctx.rng("coherence_genre")
        )
        return queries, codes, names

    def pools(
        self, ctx: embench.EvalContext, options: GenreCoherenceOptions
    ) -> tuple[np.ndarray, np.ndarray, list]:
        """(the songs of every genre's pool, the genre codes of all songs, genre names)."""
        codes, names = pd.factorize(ctx.dataset.songs["genre"])
        plays = ctx.popularity
        eligible = np.flatnonzero((codes >= 0) & (plays > 0))
        if len(eligible) == 0:
            raise DataError(
                f"coherence_genre: no song of dataset '{ctx.dataset.name}' has both a genre "
                "and a play in the training corpus"
            )
        genre_plays = np.bincount(codes[eligible], weights=plays[eligible], minlength=len(names))
        top = np.argsort(-genre_plays, kind="stable")[: options.genres]
        top = top[genre_plays[top] > 0]
        candidates = eligible[np.isin(codes[eligible], top)]
        # Each genre's `pool` most played songs (ties: lower song index first).
        order = np.lexsort((candidates, -plays[candidates], codes[candidates]))
        ranked = candidates[order]
        pool = ranked[group_ranks(codes[ranked]) < options.pool]
        return pool, codes, list(names)

    def compute(
        self, ctx: embench.EvalContext, options: GenreCoherenceOptions
    ) -> embench.MetricResult:
        queries, codes, names = self.sample(ctx, options)
        shares = shares_with_label(ctx, queries, codes, options.k)
        pool_sizes = np.bincount(codes[self.pools(ctx, options)[0]], minlength=len(names))
        estimate = stratified(shares, codes[queries], pool_sizes)
        genre = np.asarray(names, dtype=object)[codes[queries]]
        per_query = pd.DataFrame(
            {
                "song_id": ctx.dataset.songs["song_id"].to_numpy()[queries],
                "genre": pd.array(genre, dtype="string"),
                "coherence": shares,
            }
        )
        by_genre = (
            per_query.groupby("genre", sort=False)["coherence"]
            .agg(["mean", "size"])
            .rename(columns={"mean": "coherence", "size": "queries"})
            .reset_index()
        )
        return embench.MetricResult(
            values={"coherence_genre": float(shares.mean())},
            per_query=per_query,
            tables={"coherence_by_genre": by_genre},
            intervals={"coherence_genre": estimate.interval()},
        )


class ArtistCoherence(embench.Metric[ArtistCoherenceOptions]):
    """Share of the top-k neighbours by the query's artist, stratified by artist popularity."""

    name = "coherence_artist"
    Options = ArtistCoherenceOptions
    values = {
        "coherence_artist": embench.Value(
            "max", per_query="coherence", description="share of neighbours by the artist"
        )
    }
    query_keys = ("song_id",)
    requires = frozenset({"artist"})

    def neighbours(
        self, ctx: embench.EvalContext, options: ArtistCoherenceOptions
    ) -> embench.NeighbourRequest:
        return embench.NeighbourRequest(options.k, self.sample(ctx, options)[0])

    def sample(
        self, ctx: embench.EvalContext, options: ArtistCoherenceOptions
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query songs, artist codes of all songs, popularity stratum of each query)."""
        queries, codes, stratum_of_artist, _ = self.design(ctx, options)
        return queries, codes, stratum_of_artist[codes[queries]]

    def design(
        self, ctx: embench.EvalContext, options: ArtistCoherenceOptions
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(query songs, artist codes of all songs, stratum of each artist (-1: none), the
        songs the queries are drawn from: those of the artists of some stratum)."""
        codes, names = pd.factorize(ctx.dataset.songs["artist"])
        plays = ctx.popularity
        eligible = np.flatnonzero((codes >= 0) & (plays > 0))
        songs_of = np.bincount(codes[eligible], minlength=len(names))
        artists = np.flatnonzero(songs_of >= options.min_songs)
        if len(artists) == 0:
            raise DataError(
                f"coherence_artist: no artist of dataset '{ctx.dataset.name}' has "
                f"{options.min_songs} or more songs played in the training corpus"
            )
        artist_plays = np.bincount(codes[eligible], weights=plays[eligible], minlength=len(names))
        artists = artists[np.lexsort((artists, -artist_plays[artists]))]  # most played first
        stratum_of_artist = np.full(len(names), -1, dtype=np.int64)
        stratum_of_artist[artists] = (
            np.arange(len(artists)) * min(options.strata, len(artists)) // len(artists)
        )
        rng = ctx.rng("coherence_artist")
        drawn = draw_within_groups(
            artists, stratum_of_artist[artists], options.artists_per_stratum, rng
        )
        candidates = eligible[np.isin(codes[eligible], drawn)]
        queries = draw_within_groups(candidates, codes[candidates], options.songs_per_artist, rng)
        population = eligible[stratum_of_artist[codes[eligible]] >= 0]
        return queries, codes, stratum_of_artist, population

    def compute(
        self, ctx: embench.EvalContext, options: ArtistCoherenceOptions
    ) -> embench.MetricResult:
        queries, codes, stratum_of_artist, population = self.design(ctx, options)
        strata = stratum_of_artist[codes[queries]]
        shares = shares_with_label(ctx, queries, codes, options.k)
        estimate = two_stage(shares, codes, queries, strata, stratum_of_artist, population)
        songs = ctx.dataset.songs
        per_query = pd.DataFrame(
            {
                "song_id": songs["song_id"].to_numpy()[queries],
                "artist": songs["artist"].array[queries],
                "stratum": strata,
                "coherence": shares,
            }
        )
        by_stratum = (
            per_query.groupby("stratum")
            .agg(
                coherence=("coherence", "mean"),
                queries=("coherence", "size"),
                artists=("artist", "nunique"),
            )
            .reset_index()
        )
        return embench.MetricResult(
            values={"coherence_artist": float(shares.mean())},
            per_query=per_query,
            tables={"coherence_by_stratum": by_stratum},
            intervals={"coherence_artist": estimate.interval()},
        )


@embench.hookimpl
def register_metrics(register):
    register(GenreCoherence)
    register(ArtistCoherence)
