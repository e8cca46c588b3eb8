"""Reader of the Yes.com playlist format (Chen et al., KDD 2012: yes_small, yes_big, yes_complete).

A directory with:

``train.txt``
    line 1: the original Yes.com song ids, space-separated; line 2: how often each song occurs;
    from line 3: one playlist per line, integer song ids ``0..N-1`` separated by spaces (each
    line ends with a space). Blank playlist lines are skipped.
``song_hash.txt``
    ``id<TAB>title<TAB>artist`` per song; JSON-style escapes (``w\\/`` for "w/") are undone.
``tags.txt`` and ``tag_hash.txt`` (optional, together)
    one line per song in id order with space-separated tag ids, or ``#`` when untagged; and
    ``id, name`` per tag. The song's genre is its first tag in the genre vocabulary
    (:mod:`embench.data.genres`, or the caller's own list).

Song ids in the dataset are the integer ids as strings ("0", "1", ...).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd

from embench.data.dataset import Dataset, Sequences
from embench.data.genres import genre_lookup, normalise_tag
from embench.data.parquet import require_directory, require_file
from embench.errors import DataError

_ESCAPE = re.compile(r"\\([/\\\"'])")


def _read_text(path: Path, *, lenient: bool = False) -> str:
    """The file as text (UTF-8; Latin-1 as a fallback when ``lenient``)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if lenient:
            return data.decode("latin-1")
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path} line {line}: not UTF-8 text (byte {data[exc.start]:#04x}); "
            "expected plain text with space-separated integers"
        ) from None


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _integers(tokens: list[str], path: Path, line_of, what: str) -> np.ndarray:
    """Tokens -> int64 array; a DataError naming the first token that is not an integer >= 0."""
    try:
        values = np.array(tokens).astype(np.int64) if tokens else np.zeros(0, dtype=np.int64)
        if not len(values) or values.min() >= 0:  # no tokens: no ids (e.g. no song tagged)
            return values
    except (ValueError, OverflowError):
        pass
    for position, token in enumerate(tokens):
        if not (token.isascii() and token.isdigit()):
            raise DataError(
                f"{path} line {line_of(position)}: {what} '{token}' is not a non-negative "
                "integer (expected space-separated integer ids)"
            )
    raise DataError(f"{path}: {what}s out of range")  # pragma: no cover - isdigit covers it


def read_song_hash(path: Path) -> pd.DataFrame:
    """``song_hash.txt`` -> song table (song_id, title, artist), sorted by integer id."""
    ids, titles, artists, lines_of = [], [], [], []
    for number, line in enumerate(_lines(_read_text(path, lenient=True)), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise DataError(
                f"{path} line {number}: expected 'id<TAB>title<TAB>artist', found "
                f"{len(fields)} tab-separated field(s): {line[:80]!r}"
            )
        ids.append(fields[0].strip())
        titles.append(_ESCAPE.sub(r"\1", "\t".join(fields[1:-1])))
        artists.append(_ESCAPE.sub(r"\1", fields[-1]))
        lines_of.append(number)
    if not ids:
        raise DataError(f"{path}: no songs (expected one 'id<TAB>title<TAB>artist' line per song)")
    numbers = _integers(ids, path, lambda p: lines_of[p], "song id")
    order = np.argsort(numbers, kind="stable")
    sorted_ids = numbers[order]
    repeated = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if len(repeated):
        first, again = sorted(order[repeated[0] : repeated[0] + 2])
        raise DataError(
            f"{path} line {lines_of[again]}: song id {numbers[again]} was already given on line "
            f"{lines_of[first]} (song ids must be unique)"
        )
    table = pd.DataFrame(
        {
            "number": sorted_ids,
            "song_id": sorted_ids.astype(str),
            "title": np.asarray(titles, dtype=object)[order],
            "artist": np.asarray(artists, dtype=object)[order],
        }
    )
    for column in ("title", "artist"):
        table[column] = table[column].where(table[column].str.strip() != "", None)
    return table


def read_train(path: Path, n_songs: int, numbers: np.ndarray, hash_name: str):
    """``train.txt`` -> (CSR sequences of song indices, header counts, blank lines skipped)."""
    lines = _lines(_read_text(path))
    if len(lines) < 3:
        raise DataError(
            f"{path}: expected two header lines (original song ids, song counts) and then one "
            f"playlist per line, found {len(lines)} line(s)"
        )
    originals = lines[0].split()
    counts = _integers(lines[1].split(), path, lambda _: 2, "song count")
    if len(originals) != len(counts):
        raise DataError(
            f"{path}: line 1 lists {len(originals)} original song ids but line 2 gives "
            f"{len(counts)} counts (one per song expected)"
        )
    if len(originals) != n_songs:
        raise DataError(
            f"{path}: line 1 lists {len(originals)} songs but {hash_name} has {n_songs}; "
            "are the files from the same dataset?"
        )
    playlists = [line.split() for line in lines[2:]]
    lengths = np.fromiter((len(p) for p in playlists), dtype=np.int64, count=len(playlists))
    line_numbers = np.flatnonzero(lengths) + 3
    blank = int((lengths == 0).sum())
    lengths = lengths[lengths > 0]
    if len(lengths) == 0:
        raise DataError(f"{path}: no playlists after the two header lines (the dataset is empty)")
    indptr = np.concatenate([[0], np.cumsum(lengths)])

    def line_of(position: int) -> int:
        return int(line_numbers[np.searchsorted(indptr, position, side="right") - 1])

    flat = _integers(list(chain.from_iterable(playlists)), path, line_of, "song id")
    # song_hash ids need not be contiguous: map each id to its row through a lookup table.
    lookup = np.full(int(numbers.max()) + 1, -1, dtype=np.int64)
    lookup[numbers] = np.arange(len(numbers))
    songs = lookup[np.minimum(flat, len(lookup) - 1)]
    songs[flat >= len(lookup)] = -1
    unknown = np.flatnonzero(songs < 0)
    if len(unknown):
        position = int(unknown[0])
        raise DataError(
            f"{path} line {line_of(position)}: song id {flat[position]} is not in {hash_name} "
            f"(which lists {n_songs} songs, ids {numbers.min()}..{numbers.max()}); "
            f"{len(unknown)} unknown occurrence(s) in all"
        )
    return Sequences(indptr, songs), counts, blank


def read_tags(
    tags_path: Path, tag_hash_path: Path, n_songs: int, vocabulary: Iterable[str] | None
) -> tuple[np.ndarray, dict]:
    """The primary genre of each song (object array, None when it has no genre tag)."""
    names: dict[int, str] = {}
    for number, line in enumerate(_lines(_read_text(tag_hash_path, lenient=True)), start=1):
        if not line.strip():
            continue
        key, sep, name = line.partition(",")
        if not sep or not key.strip().isdigit():
            raise DataError(
                f"{tag_hash_path} line {number}: expected 'id, name', found {line[:80]!r}"
            )
        names[int(key)] = name.strip()
    lines = _lines(_read_text(tags_path))
    if len(lines) != n_songs:
        raise DataError(
            f"{tags_path}: {len(lines)} line(s) for {n_songs} songs (expected one line per song, "
            "in song id order, with tag ids or '#')"
        )
    per_song = [[] if line.strip() == "#" else line.split() for line in lines]
    lengths = np.fromiter((len(t) for t in per_song), dtype=np.int64, count=n_songs)
    indptr = np.concatenate([[0], np.cumsum(lengths)])

    def line_of(position: int) -> int:
        return int(np.searchsorted(indptr, position, side="right"))

    flat = _integers(list(chain.from_iterable(per_song)), tags_path, line_of, "tag id")
    size = max(names, default=-1) + 1
    known = np.zeros(size + 1, dtype=bool)  # the extra last slot stands for ids beyond the table
    known[list(names)] = True
    unknown = np.flatnonzero(~known[np.minimum(flat, size)])
    if len(unknown):
        position = int(unknown[0])
        raise DataError(
            f"{tags_path} line {line_of(position)}: tag id {flat[position]} is not in "
            f"{tag_hash_path.name}"
        )
    lookup = genre_lookup(vocabulary)
    labels = sorted(
        {lookup[normalise_tag(n)] for n in names.values() if normalise_tag(n) in lookup}
    )
    code_of_label = {label: i for i, label in enumerate(labels)}
    code_of_tag = np.full(size, -1, dtype=np.int64)
    for tag, name in names.items():
        label = lookup.get(normalise_tag(name))
        if label is not None:
            code_of_tag[tag] = code_of_label[label]
    codes = code_of_tag[flat]
    positions = np.flatnonzero(codes >= 0)
    song_of = np.searchsorted(indptr, positions, side="right") - 1
    songs_with, first = np.unique(song_of, return_index=True)
    genre = np.full(n_songs, None, dtype=object)
    genre[songs_with] = np.asarray(labels, dtype=object)[codes[positions[first]]]
    info = {
        "tags": len(names),
        "genre_tags": int((code_of_tag >= 0).sum()),
        "tagged_songs": int((lengths > 0).sum()),
        "songs_with_genre": len(songs_with),
    }
    return genre, info


def read_yes(
    directory: str | os.PathLike, genres: Iterable[str] | None = None, name: str | None = None
) -> Dataset:
    """Read a Yes.com playlist directory (``train.txt``, ``song_hash.txt``, optional
    ``tags.txt`` + ``tag_hash.txt``). ``genres``: the genre tag vocabulary (default
    :data:`embench.data.genres.GENRES` with its aliases)."""
    directory = require_directory(Path(directory), "Yes.com playlist dataset")
    train_path = require_file(directory / "train.txt", "Yes.com playlists")
    hash_path = require_file(directory / "song_hash.txt", "Yes.com song titles and artists")
    songs = read_song_hash(hash_path)
    numbers = songs.pop("number").to_numpy()
    sequences, counts, blank = read_train(train_path, len(songs), numbers, hash_path.name)
    metadata: dict = {
        "source": "yes",
        "path": str(directory),
        "blank_playlists": blank,
        # Line 2 of train.txt counts each song's occurrences: a mismatch hints at edited files.
        "header_counts_match": bool(np.array_equal(counts, sequences.counts(len(songs)))),
    }
    tags_path, tag_hash_path = directory / "tags.txt", directory / "tag_hash.txt"
    if tags_path.exists() or tag_hash_path.exists():
        require_file(tags_path, "tags.txt comes with tag_hash.txt")
        require_file(tag_hash_path, "tag_hash.txt comes with tags.txt")
        if not np.array_equal(numbers, np.arange(len(numbers))):
            raise DataError(
                f"{hash_path}: song ids are not 0..{len(numbers) - 1}, so the lines of "
                f"{tags_path.name} cannot be matched to songs"
            )
        genre, info = read_tags(tags_path, tag_hash_path, len(songs), genres)
        songs["genre"] = genre
        metadata.update(info)
    return Dataset(name or directory.name, sequences, songs, metadata=metadata)
