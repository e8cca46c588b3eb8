"""Built-in dataset plugins: canonical Parquet, Yes.com playlists, listening-event logs, synthetic.

Each loader validates its ``[dataset.options]`` with a pydantic model; relative paths resolve
against the benchmark file's folder (``base_dir``). The formats are documented in
docs/data-formats.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

import embench
from embench.data import synthetic
from embench.data.dataset import Dataset


def resolve_path(path: str, base_dir) -> Path:
    """``path`` with ``~`` expanded; relative paths are taken from ``base_dir`` (or the cwd)."""
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        resolved = Path(base_dir if base_dir is not None else ".") / resolved
    return resolved


class ParquetOptions(embench.Options):
    path: str = Field(
        description="directory holding sequences.parquet, songs.parquet and optionally "
        "play_log.parquet (relative to the benchmark file)"
    )


class ParquetDataset(embench.DatasetLoader):
    """Canonical Parquet directory (what `embench data prepare` writes)."""

    name = "parquet"
    Options = ParquetOptions

    def load(self, options: ParquetOptions, *, seed: int, base_dir) -> Dataset:
        from embench.data.parquet import read_parquet

        return read_parquet(resolve_path(options.path, base_dir))


class YesOptions(embench.Options):
    path: str = Field(
        description="directory with train.txt, song_hash.txt and optionally tags.txt + "
        "tag_hash.txt (relative to the benchmark file)"
    )
    genres: list[str] | None = Field(
        None,
        description="genre tag vocabulary: a song's genre is its first tag in this list "
        "(default: embench.data.genres.GENRES with spelling aliases)",
    )


class YesDataset(embench.DatasetLoader):
    """Yes.com radio playlists (Chen et al. 2012), genres from Last.fm tags."""

    name = "yes"
    Options = YesOptions

    def load(self, options: YesOptions, *, seed: int, base_dir) -> Dataset:
        from embench.data.yes import read_yes

        return read_yes(resolve_path(options.path, base_dir), genres=options.genres)


class EventsOptions(embench.Options):
    path: str = Field(description="the event log file (relative to the benchmark file)")
    format: Literal["auto", "csv", "tsv", "parquet"] = Field(
        "auto", description="file format; auto: from the extension (.csv, .tsv/.tab, .parquet/.pq)"
    )
    user_column: str = Field("user", description="column naming the listener")
    timestamp_column: str = Field(
        "timestamp", description="column with the time of the play (ISO 8601 or unix time)"
    )
    track_column: str = Field("track", description="column identifying the song")
    artist_column: str = Field(
        "artist",
        description="column with the song's artist, used when present; naming it explicitly "
        "makes it required; empty string: ignore",
    )
    genre_column: str = Field(
        "genre",
        description="column with the song's genre, used when present; naming it explicitly "
        "makes it required; empty string: ignore",
    )
    column_names: list[str] | None = Field(
        None, description="names of the columns of a CSV/TSV file that has no header line"
    )
    timestamp_unit: Literal["s", "ms", "us", "ns"] = Field(
        "s", description="unit of numeric (unix) timestamps"
    )
    gap_minutes: float = Field(
        30.0, gt=0, description="a pause longer than this (minutes) starts a new session"
    )
    min_length: int = Field(1, ge=1, description="sessions with fewer plays are dropped")
    drop_missing: bool = Field(
        False,
        description="skip rows without a user, timestamp or track instead of failing",
    )
    encoding: str = Field("utf-8", description="text encoding of CSV/TSV files")


class EventsDataset(embench.DatasetLoader):
    """Listening-event logs (Last.fm, LFM-1b) cut into sessions by an inactivity gap."""

    name = "events"
    Options = EventsOptions

    def load(self, options: EventsOptions, *, seed: int, base_dir) -> Dataset:
        from embench.data.events import read_events

        required = [
            label
            for label in ("artist", "genre")
            if f"{label}_column" in options.model_fields_set and getattr(options, f"{label}_column")
        ]
        return read_events(
            resolve_path(options.path, base_dir),
            format=options.format,
            user_column=options.user_column,
            timestamp_column=options.timestamp_column,
            track_column=options.track_column,
            artist_column=options.artist_column or None,
            genre_column=options.genre_column or None,
            required=required,
            column_names=options.column_names,
            timestamp_unit=options.timestamp_unit,
            gap_minutes=options.gap_minutes,
            min_length=options.min_length,
            drop_missing=options.drop_missing,
            encoding=options.encoding,
        )


class SyntheticOptions(embench.Options):
    songs: int = Field(20_000, ge=2, description="number of songs in the catalogue")
    sequences: int = Field(20_000, ge=1, description="number of listening sessions")
    artists: int | None = Field(
        None, ge=1, description="number of artists (default: songs / 10, at least genres)"
    )
    genres: int = Field(20, ge=1, description="number of genres")
    genre_purity: float = Field(
        synthetic.GENRE_PURITY,
        ge=0,
        le=1,
        description="share of artists whose genre label is the genre they are played in "
        "(the others get a genre drawn by popularity)",
    )
    artist_run: float = Field(
        synthetic.ARTIST_RUN, ge=1, description="mean number of consecutive plays of one artist"
    )
    cross_genre: float = Field(
        synthetic.CROSS_GENRE,
        ge=0,
        le=1,
        description="share of sessions whose artist runs each draw their genre afresh",
    )
    noise: float = Field(
        synthetic.NOISE,
        ge=0,
        le=1,
        description="chance co-occurrence: share of plays replaced by a song drawn by "
        "popularity alone",
    )
    zipf: float = Field(0.8, ge=0, description="exponent of the Zipf law of song popularity")
    play_log: bool = Field(
        True, description="also generate a play log (seed song, recommendation, plays)"
    )
    play_log_pairs: int | None = Field(
        None, ge=1, description="(seed, recommendation) pairs drawn (default: 4 x songs, <= 200k)"
    )
    seed: int | None = Field(
        None,
        ge=0,
        le=2**32 - 1,
        description="seed of the data only (default: the benchmark's seed)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SyntheticOptions:
        artists = self.artists if self.artists is not None else max(self.genres, self.songs // 10)
        if self.genres > artists:
            raise ValueError(f"genres ({self.genres}) must not exceed artists ({artists})")
        if artists > self.songs:
            raise ValueError(f"artists ({artists}) must not exceed songs ({self.songs})")
        return self


class SyntheticDataset(embench.DatasetLoader):
    """Seeded stream-like sessions: Zipf popularity, artist runs within genres, a play log."""

    name = "synthetic"
    Options = SyntheticOptions

    def load(self, options: SyntheticOptions, *, seed: int, base_dir) -> Dataset:
        return synthetic.generate(
            songs=options.songs,
            sequences=options.sequences,
            artists=options.artists,
            genres=options.genres,
            genre_purity=options.genre_purity,
            artist_run=options.artist_run,
            cross_genre=options.cross_genre,
            noise=options.noise,
            zipf=options.zipf,
            play_log=options.play_log,
            play_log_pairs=options.play_log_pairs,
            seed=options.seed if options.seed is not None else seed,
        )


@embench.hookimpl
def register_datasets(register):
    for loader in (ParquetDataset, YesDataset, EventsDataset, SyntheticDataset):
        register(loader)
