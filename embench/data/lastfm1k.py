"""Reader of Last.fm 1K (Celma, "Music Recommendation and Discovery", 2010): the listening
histories of about 1,000 users, 19 million plays.

``userid-timestamp-artid-artname-traid-traname.tsv``: tab-separated, no header line, no
quoting, one play per line, six fields::

    user_000639<TAB>2009-04-08T01:57:47Z<TAB>artist MBID<TAB>The Dogs D'Amour<TAB>track MBID<TAB>Fall in Love Again?

(user, time in ISO 8601 UTC, MusicBrainz artist id, artist name, MusicBrainz track id, track
name; either MBID may be empty). Each user's plays, ordered by time, are cut into sessions at
pauses longer than ``gap_minutes`` (the listening-event reader's sessionisation).

A song is, with ``song_key = "names"`` (the default), its artist and track name
(``"artist — track"``): every play has them, while a track MBID is missing for about one play
in nine; with ``song_key = "mbid"``, its track MBID, and plays without one are left out (they
are counted). Title and artist come from a song's first play. Last.fm 1K has no genres.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from embench.data.dataset import Dataset, Sequences
from embench.data.events import CHUNK_ROWS, _blank, _open_chunks, _stamps_of
from embench.data.parquet import require_file
from embench.data.sessions import _Encoder, _FirstLabels, sessionise
from embench.errors import DataError

FILE_NAME = "userid-timestamp-artid-artname-traid-traname.tsv"
COLUMNS = ["user", "timestamp", "artist_mbid", "artist", "track_mbid", "track"]
SEPARATOR = " — "  # between artist and track name in a song id


def malformed_line(path: Path, fields: int, block: int = 1 << 24) -> tuple[int, int] | None:
    """(line number, fields found) of the first line of a tab-separated file that has not
    ``fields`` fields (None when every line has); vectorised over blocks of bytes."""
    line, tabs_before = 1, 0  # tabs_before: tabs of the unfinished line of earlier blocks
    pending = False  # the last block ended inside a line
    with open(path, "rb") as handle:
        while data := handle.read(block):
            raw = np.frombuffer(data, dtype=np.uint8)
            ends = np.flatnonzero(raw == 10)
            tabs = np.flatnonzero(raw == 9)
            starts = np.concatenate([[-1], ends[:-1]])
            per_line = np.searchsorted(tabs, ends) - np.searchsorted(tabs, starts)
            if len(per_line):
                per_line[0] += tabs_before
                wrong = np.flatnonzero(per_line + 1 != fields)
                if len(wrong):
                    return line + int(wrong[0]), int(per_line[wrong[0]]) + 1
                tail = len(tabs) - int(np.searchsorted(tabs, ends[-1]))
                tabs_before, line = tail, line + len(ends)
            else:
                tabs_before += len(tabs)
            pending = len(ends) == 0 or int(ends[-1]) != len(raw) - 1
    if pending and tabs_before + 1 != fields:
        return line, tabs_before + 1
    return None


def malformed_error(path: Path, fields: int, exc: DataError) -> DataError:
    """``exc`` (a parse error), naming the first line with a wrong number of fields."""
    found = malformed_line(path, fields)
    if found is None:
        return exc
    line, got = found
    return DataError(
        f"{path} line {line}: {got} tab-separated field(s), expected {fields} (a truncated "
        "file, or a file of another format?)"
    )


def find_file(path: Path) -> Path:
    """``path`` itself, or the plays file inside the folder ``path``."""
    if path.is_dir():
        path = path / FILE_NAME
    return require_file(path, f"Last.fm 1K plays ({FILE_NAME})")


def read_lastfm1k(
    path: str | os.PathLike,
    *,
    gap_minutes: float = 30.0,
    min_length: int = 1,
    song_key: Literal["names", "mbid"] = "names",
    name: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Dataset:
    """Read Last.fm 1K (the file, or the folder holding it) and cut it into sessions.

    A line with another number of fields (a truncated file, a file of another format), an
    empty user, time, artist or track name, or a time that is not ISO 8601 is a DataError
    naming the file and, where it can, the line.
    """
    path = find_file(Path(path))
    if gap_minutes <= 0:
        raise DataError(f"{path}: gap_minutes must be > 0, got {gap_minutes}")
    keys = ["user", "timestamp", "artist", "track"]
    wanted = [*keys, "track_mbid"] if song_key == "mbid" else keys
    chunks, first_line = _open_chunks(path, "tsv", wanted, [], COLUMNS, "utf-8", chunk_rows)
    users, songs = _Encoder(), _Encoder()
    labels = {"title": _FirstLabels(), "artist": _FirstLabels()}
    user_codes: list[np.ndarray] = []
    song_codes: list[np.ndarray] = []
    stamp_chunks: list[np.ndarray] = []
    n_rows = n_without_mbid = 0
    for batch in _named(chunks, path, len(COLUMNS)):
        line_of = np.arange(batch.num_rows) + first_line + n_rows
        n_rows += batch.num_rows
        columns = {column: batch.column(column) for column in wanted}
        for column in keys:
            blank = _blank(columns[column])
            if blank.any():
                row = int(np.flatnonzero(blank)[0])
                raise DataError(
                    f"{path} line {line_of[row]}: no {column} (an empty field); every play "
                    f"of Last.fm 1K has a user, a time, an artist and a track name"
                )
        if song_key == "mbid":
            has_mbid = ~_blank(columns["track_mbid"])
            n_without_mbid += int((~has_mbid).sum())
            keep = pa.array(has_mbid)
            columns = {column: array.filter(keep) for column, array in columns.items()}
            line_of = line_of[has_mbid]
            song = columns["track_mbid"]
        else:
            song = pc.binary_join_element_wise(columns["artist"], columns["track"], SEPARATOR)
        if len(song) == 0:
            continue
        stamps, bad = _stamps_of(columns["timestamp"], "s", "iso")
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path} line {line_of[row]}: cannot parse the time "
                f"{columns['timestamp'][row].as_py()!r} (expected ISO 8601 such as "
                f"2009-05-04T23:08:57Z); {int(bad.sum())} unparsable value(s) in this block"
            )
        user_codes.append(users.encode(columns["user"]))
        song_codes.append(songs.encode(song))
        stamp_chunks.append(stamps)
        labels["title"].add(song, columns["track"])
        labels["artist"].add(song, columns["artist"])
    if n_rows == 0:
        raise DataError(f"{path}: no plays (the file is empty)")
    if not stamp_chunks:
        raise DataError(f"{path}: no play has a track MBID (song_key = 'mbid')")
    n_users = len(users)
    sessions = sessionise(
        user_codes,
        stamp_chunks,
        song_codes,
        gap=int(round(gap_minutes * 60 * 1_000_000)),
        min_length=min_length,
    )
    if len(sessions.lengths) == 0:
        raise DataError(
            f"{path}: no session has at least {min_length} plays (gap {gap_minutes:g} minutes)"
        )
    used = np.zeros(len(songs), dtype=bool)
    used[sessions.tracks] = True
    new_index = (np.cumsum(used) - 1).astype(np.int32)  # songs in order of first appearance
    song_ids = songs.values
    assert song_ids is not None
    table = pd.DataFrame(
        {"song_id": song_ids.filter(pa.array(used)).to_numpy(zero_copy_only=False)}
    )
    for label, firsts in labels.items():
        table[label] = firsts.per_song(song_ids)[used]
    sequences = Sequences(
        np.concatenate([[0], np.cumsum(sessions.lengths)]), new_index[sessions.tracks]
    )
    metadata = {
        "source": "lastfm1k",
        "path": str(path),
        "rows": n_rows,
        "rows_without_mbid": n_without_mbid if song_key == "mbid" else None,
        "users": n_users,
        "sessions_total": sessions.total,
        "sessions_dropped_short": sessions.dropped_short,
        "gap_minutes": gap_minutes,
        "song_key": song_key,
    }
    return Dataset(name or "lastfm1k", sequences, table, metadata=metadata)


def _named(chunks: Iterator[pa.RecordBatch], path: Path, fields: int) -> Iterator[pa.RecordBatch]:
    """The batches; a parse error names the first line with a wrong number of fields."""
    try:
        yield from chunks
    except DataError as exc:
        raise malformed_error(path, fields, exc) from None
