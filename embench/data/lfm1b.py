"""Reader of LFM-1b (Schedl, ICMR 2016): 1.1 billion listening events of 120,000 Last.fm users.

A folder with three tab-separated files without header lines:

``LFM-1b_LEs.txt``
    one listening event per line: ``user-id, artist-id, album-id, track-id, timestamp``
    (integers; the time in unix seconds);
``LFM-1b_tracks.txt``
    ``track-id, track-name, artist-id``;
``LFM-1b_artists.txt``
    ``artist-id, artist-name``.

Genres, when the caller supplies the genre files of the LFM-1b UGP add-on:
``LFM-1b_artist_genres_allmusic.txt`` (``artist-name`` then its genre ids, tab-separated; an
artist without genres has its name only) and ``genres_allmusic.txt`` (one genre name per line;
the id of a genre is its line number counted from 0). A song's genre is its artist's first
genre; artists are matched by name, as the UGP files name them.

Each user's events, ordered by time, are cut into sessions at pauses longer than
``gap_minutes`` (the listening-event reader's sessionisation). Song ids are the LFM-1b track
ids (as strings); songs are in track-id order.

Streaming: the events are read in blocks by pyarrow's CSV reader with integer column types, so
memory holds 16 bytes per event (int32 user and song, int64 time) and the track and artist
names of the songs played only, never the text of the file. The whole of LFM-1b (1.1 billion
events) needs about 40 GB for the sort; ``max_rows`` reads the first events only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from embench.data.dataset import Dataset, Sequences
from embench.data.events import BYTES_PER_ROW, CHUNK_ROWS
from embench.data.lastfm1k import malformed_line
from embench.data.parquet import require_directory, require_file
from embench.data.sessions import sessionise
from embench.errors import DataError

EVENTS = "LFM-1b_LEs.txt"
TRACKS = "LFM-1b_tracks.txt"
ARTISTS = "LFM-1b_artists.txt"
EVENT_COLUMNS = ["user", "artist", "album", "track", "timestamp"]


def _blocks(
    path: Path,
    columns: list[str],
    types: dict[str, pa.DataType],
    chunk_rows: int,
) -> Iterator[pa.RecordBatch]:
    """The columns ``types`` names of a headerless TSV file with ``columns``, in blocks.

    A line with another number of fields, or a value of the wrong type, is a DataError naming
    the file and the line.
    """
    try:
        reader = pcsv.open_csv(
            str(path),
            read_options=pcsv.ReadOptions(
                column_names=columns,
                block_size=min(max(1, chunk_rows * BYTES_PER_ROW), 1 << 30),
            ),
            parse_options=pcsv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pcsv.ConvertOptions(
                column_types=types, include_columns=list(types), strings_can_be_null=False
            ),
        )
        yield from reader
    except (pa.ArrowException, OSError) as exc:
        found = malformed_line(path, len(columns))
        if found is not None:
            line, got = found
            raise DataError(
                f"{path} line {line}: {got} tab-separated field(s), expected {len(columns)} "
                f"({', '.join(columns)}); a truncated file, or a file of another format?"
            ) from None
        message = " ".join(str(exc).split())[:300]
        column = re.search(r"CSV column #(\d+)", message)
        index = int(column.group(1)) if column else -1
        bad = _first_non_integer(path, columns, index) if 0 <= index < len(columns) else None
        if bad is not None:
            line, value = bad
            raise DataError(
                f"{path} line {line}: {columns[index]} {value!r} is not an integer (expected "
                "tab-separated integer ids and times)"
            ) from None
        raise DataError(
            f"{path}: cannot read it as tab-separated {', '.join(columns)} ({message})"
        ) from None


def _first_non_integer(path: Path, columns: list[str], index: int) -> tuple[int, str] | None:
    """(line, value) of the first value of column ``index`` that is not an integer."""
    reader = pcsv.open_csv(
        str(path),
        read_options=pcsv.ReadOptions(column_names=columns),
        parse_options=pcsv.ParseOptions(delimiter="\t", quote_char=False),
        convert_options=pcsv.ConvertOptions(
            column_types={columns[index]: pa.string()}, include_columns=[columns[index]]
        ),
    )
    line = 1
    for batch in reader:
        values = batch.column(0)
        good = pc.fill_null(pc.match_substring_regex(values, r"^\s*[+-]?\d+\s*$"), False)
        wrong = np.flatnonzero(~good.to_numpy(zero_copy_only=False))
        if len(wrong):
            return line + int(wrong[0]), str(values[int(wrong[0])].as_py())
        line += batch.num_rows
    return None


def _read_genres(mapping: Path, names: Path) -> dict[str, str]:
    """Artist name -> its first genre name, from the UGP files."""
    require_file(names, "LFM-1b genre names (genres_allmusic.txt)")
    require_file(mapping, "LFM-1b artist genres (LFM-1b_artist_genres_allmusic.txt)")
    try:
        genre_names = names.read_text(encoding="utf-8").splitlines()
        lines = mapping.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the LFM-1b genre files ({exc})") from None
    genre_names = [g.strip() for g in genre_names]
    out: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        fields = line.rstrip("\r").split("\t")
        if len(fields) < 2 or not fields[1].strip():
            continue  # an artist without genres
        first = fields[1].strip()
        if not first.isdigit() or int(first) >= len(genre_names):
            raise DataError(
                f"{mapping} line {number}: genre id {first!r} is not a line of {names.name} "
                f"(which names {len(genre_names)} genres, ids 0..{len(genre_names) - 1})"
            )
        out.setdefault(fields[0], genre_names[int(first)])
    return out


def read_lfm1b(
    path: str | os.PathLike,
    *,
    gap_minutes: float = 30.0,
    min_length: int = 1,
    artist_genres: str | os.PathLike | None = None,
    genre_names: str | os.PathLike | None = None,
    max_rows: int | None = None,
    name: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Dataset:
    """Read LFM-1b from its folder and cut the events into sessions.

    ``artist_genres`` and ``genre_names`` (both or neither) are the UGP genre files. An event
    naming a track missing from the tracks file, a track whose artist the artists file lacks,
    a truncated line or a non-integer id is a DataError naming the file and the line.
    """
    if (artist_genres is None) != (genre_names is None):
        raise DataError(
            "LFM-1b genres need both files: artist_genres (LFM-1b_artist_genres_allmusic.txt) "
            "and genre_names (genres_allmusic.txt)"
        )
    if gap_minutes <= 0:
        raise DataError(f"LFM-1b: gap_minutes must be > 0, got {gap_minutes}")
    if max_rows is not None and max_rows < 1:
        raise DataError(f"max_rows must be >= 1, got {max_rows}")
    folder = require_directory(Path(path), "LFM-1b")
    events = require_file(folder / EVENTS, "LFM-1b listening events")
    tracks_file = require_file(folder / TRACKS, "LFM-1b tracks")
    artists_file = require_file(folder / ARTISTS, "LFM-1b artists")

    # Every track id -> its artist id (dense arrays over the track ids, -1: no such track).
    track_columns = ["track", "name", "artist"]
    ids, artist_ids = [], []
    for batch in _blocks(
        tracks_file, track_columns, {"track": pa.int64(), "artist": pa.int64()}, chunk_rows
    ):
        ids.append(batch.column("track").to_numpy())
        artist_ids.append(batch.column("artist").to_numpy())
    track_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    if len(track_ids) == 0:
        raise DataError(f"{tracks_file}: no tracks (the file is empty)")
    if track_ids.min() < 0 or track_ids.max() >= np.iinfo(np.int32).max:
        raise DataError(f"{tracks_file}: track ids must be in 0..2^31-2")
    artist_of = np.full(int(track_ids.max()) + 1, -1, dtype=np.int64)
    artist_of[track_ids] = np.concatenate(artist_ids)
    del ids, artist_ids, track_ids

    users: list[np.ndarray] = []
    songs: list[np.ndarray] = []
    stamps: list[np.ndarray] = []
    n_rows = 0
    types = {"user": pa.int64(), "track": pa.int64(), "timestamp": pa.int64()}
    for batch in _blocks(events, EVENT_COLUMNS, types, chunk_rows):
        if max_rows is not None and n_rows + batch.num_rows > max_rows:
            batch = batch.slice(0, max_rows - n_rows)
        track = batch.column("track").to_numpy()
        unknown = (track < 0) | (track >= len(artist_of))
        unknown[~unknown] = artist_of[track[~unknown]] < 0
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            raise DataError(
                f"{events} line {n_rows + row + 1}: track id {int(track[row])} is not in "
                f"{TRACKS} ({int(unknown.sum())} such event(s) in this block)"
            )
        user = batch.column("user").to_numpy()
        if user.min() < 0 or user.max() >= np.iinfo(np.int32).max:
            raise DataError(f"{events}: user ids must be in 0..2^31-2")
        users.append(user.astype(np.int32))
        songs.append(track.astype(np.int32))
        stamps.append(batch.column("timestamp").to_numpy())
        n_rows += batch.num_rows
        if max_rows is not None and n_rows >= max_rows:
            break
    if n_rows == 0:
        raise DataError(f"{events}: no listening events (the file is empty)")
    n_users = len(np.unique(np.concatenate([np.unique(u) for u in users])))
    sessions = sessionise(users, stamps, songs, gap=gap_minutes * 60, min_length=min_length)
    if len(sessions.lengths) == 0:
        raise DataError(
            f"{events}: no session has at least {min_length} plays (gap {gap_minutes:g} minutes)"
        )
    used = np.zeros(len(artist_of), dtype=bool)
    used[sessions.tracks] = True
    new_index = (np.cumsum(used) - 1).astype(np.int32)  # songs in track-id order
    played = np.flatnonzero(used)

    titles = np.full(len(played), None, dtype=object)
    for batch in _blocks(
        tracks_file, track_columns, {"track": pa.int64(), "name": pa.string()}, chunk_rows
    ):
        track = batch.column("track").to_numpy()
        wanted = used[track]
        if wanted.any():
            titles[new_index[track[wanted]]] = (
                batch.column("name").filter(pa.array(wanted)).to_numpy(zero_copy_only=False)
            )
    song_artist = artist_of[played]
    wanted_artists = np.unique(song_artist)
    found_ids, found_names = [], []
    for batch in _blocks(
        artists_file, ["artist", "name"], {"artist": pa.int64(), "name": pa.string()}, chunk_rows
    ):
        keep = pc.is_in(batch.column("artist"), value_set=pa.array(wanted_artists))
        found_ids.append(batch.column("artist").filter(keep).to_numpy())
        found_names.append(batch.column("name").filter(keep).to_numpy(zero_copy_only=False))
    listed = np.concatenate(found_ids) if found_ids else np.zeros(0, dtype=np.int64)
    known_ids, first = np.unique(listed, return_index=True)  # the first line of each id
    missing = wanted_artists[~np.isin(wanted_artists, known_ids)]
    if len(missing):
        raise DataError(
            f"{artists_file}: artist id {int(missing[0])} (of a played track in {TRACKS}) is "
            f"not in the file ({len(missing)} such artist(s)); a truncated file?"
        )
    all_names = np.concatenate(found_names) if found_names else np.zeros(0, dtype=object)
    artist_names = all_names[first][np.searchsorted(known_ids, song_artist)]
    table = pd.DataFrame({"song_id": played.astype(str), "title": titles, "artist": artist_names})
    genres_found = None
    if artist_genres is not None and genre_names is not None:
        genre_of = _read_genres(Path(artist_genres), Path(genre_names))
        table["genre"] = table["artist"].map(genre_of)
        genres_found = int(table["genre"].notna().sum())
    sequences = Sequences(
        np.concatenate([[0], np.cumsum(sessions.lengths)]), new_index[sessions.tracks]
    )
    metadata = {
        "source": "lfm1b",
        "path": str(folder),
        "rows": n_rows,
        "users": n_users,
        "sessions_total": sessions.total,
        "sessions_dropped_short": sessions.dropped_short,
        "gap_minutes": gap_minutes,
        "songs_with_genre": genres_found,
    }
    return Dataset(name or "lfm1b", sequences, table, metadata=metadata)
