"""Dataset plugins for public music datasets: the Spotify Million Playlist Dataset (``mpd``),
Last.fm 1K (``lastfm1k``) and LFM-1b (``lfm1b``).

The parsing lives in ``embench.data.mpd``, ``embench.data.lastfm1k`` and
``embench.data.lfm1b``; the formats are documented in docs/data-formats.md. Relative paths
resolve against the benchmark file's folder.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

import embench
from embench.data.dataset import Dataset
from embench.data.lastfm1k import read_lastfm1k
from embench.data.lfm1b import read_lfm1b
from embench.data.mpd import read_mpd
from embench_plugins.datasets import resolve_path


class MpdOptions(embench.Options):
    path: str = Field(
        description="the MPD folder (slices in it or in its data/ folder), or one "
        "mpd.slice.*.json file (relative to the benchmark file)"
    )
    slices: int | None = Field(
        None, ge=1, description="read only the first this many slices (by playlist number)"
    )
    artist: Literal["name", "uri"] = Field(
        "name", description="artist label: artist_name, or artist_uri (names are not unique)"
    )
    min_length: int = Field(1, ge=1, description="playlists with fewer tracks are dropped")


class MpdDataset(embench.DatasetLoader):
    """Spotify Million Playlist Dataset: playlists of track URIs, in pos order."""

    name = "mpd"
    Options = MpdOptions

    def load(self, options: MpdOptions, *, seed: int, base_dir) -> Dataset:
        return read_mpd(
            resolve_path(options.path, base_dir),
            slices=options.slices,
            artist=options.artist,
            min_length=options.min_length,
        )


class LastFm1kOptions(embench.Options):
    path: str = Field(
        description="userid-timestamp-artid-artname-traid-traname.tsv, or the folder holding it "
        "(relative to the benchmark file)"
    )
    gap_minutes: float = Field(
        30.0, gt=0, description="a pause longer than this (minutes) starts a new session"
    )
    min_length: int = Field(1, ge=1, description="sessions with fewer plays are dropped")
    song_key: Literal["names", "mbid"] = Field(
        "names",
        description='a song: "names" (artist and track name) or "mbid" (track MBID; plays '
        "without one are left out)",
    )


class LastFm1kDataset(embench.DatasetLoader):
    """Last.fm 1K listening histories cut into sessions by an inactivity gap."""

    name = "lastfm1k"
    Options = LastFm1kOptions

    def load(self, options: LastFm1kOptions, *, seed: int, base_dir) -> Dataset:
        return read_lastfm1k(
            resolve_path(options.path, base_dir),
            gap_minutes=options.gap_minutes,
            min_length=options.min_length,
            song_key=options.song_key,
        )


class Lfm1bOptions(embench.Options):
    path: str = Field(
        description="folder with LFM-1b_LEs.txt, LFM-1b_tracks.txt and LFM-1b_artists.txt "
        "(relative to the benchmark file)"
    )
    gap_minutes: float = Field(
        30.0, gt=0, description="a pause longer than this (minutes) starts a new session"
    )
    min_length: int = Field(1, ge=1, description="sessions with fewer plays are dropped")
    artist_genres: str | None = Field(
        None,
        description="LFM-1b_artist_genres_allmusic.txt of the UGP add-on: songs get their "
        "artist's first genre (with genre_names)",
    )
    genre_names: str | None = Field(
        None, description="genres_allmusic.txt of the UGP add-on: the genre names, by line"
    )
    max_rows: int | None = Field(
        None, ge=1, description="read only the first this many listening events"
    )

    @model_validator(mode="after")
    def _genres_together(self) -> Lfm1bOptions:
        if (self.artist_genres is None) != (self.genre_names is None):
            raise ValueError("artist_genres and genre_names go together: set both or neither")
        return self


class Lfm1bDataset(embench.DatasetLoader):
    """LFM-1b listening events (streamed), sessionised, genres from the UGP files."""

    name = "lfm1b"
    Options = Lfm1bOptions

    def load(self, options: Lfm1bOptions, *, seed: int, base_dir) -> Dataset:
        def path_of(value: str | None):
            return None if value is None else resolve_path(value, base_dir)

        return read_lfm1b(
            resolve_path(options.path, base_dir),
            gap_minutes=options.gap_minutes,
            min_length=options.min_length,
            artist_genres=path_of(options.artist_genres),
            genre_names=path_of(options.genre_names),
            max_rows=options.max_rows,
        )


@embench.hookimpl
def register_datasets(register):
    for loader in (MpdDataset, LastFm1kDataset, Lfm1bDataset):
        register(loader)
