"""Reader of the Spotify Million Playlist Dataset (MPD; Chen et al., RecSys Challenge 2018).

The dataset is 1,000 JSON files ``mpd.slice.<first>-<last>.json`` (in a ``data/`` folder of
the download), each an object::

    {"info": {"generated_on": ..., "slice": "0-999", "version": "v1"},
     "playlists": [
        {"name": "Throwbacks", "collaborative": "false", "pid": 0, "modified_at": 1493424000,
         "num_tracks": 52, "num_albums": 47, "num_followers": 1, "num_edits": 6,
         "duration_ms": 11532414, "num_artists": 37,
         "tracks": [
            {"pos": 0, "artist_name": "Missy Elliott",
             "track_uri": "spotify:track:0UaMYEvWZi0ZqiDOoHU3YI",
             "artist_uri": "spotify:artist:2wIVse2owClT7go1WT98tk",
             "track_name": "Lose Control (feat. Ciara & Fat Man Scoop)",
             "album_uri": "spotify:album:6vV5UrXcfyQD1wu4Qo2I9K", "duration_ms": 226863,
             "album_name": "The Cookbook"},
            ...]},
        ...]}

A playlist is a sequence, its tracks in ``pos`` order; slices are read in the order of their
first playlist number. A song is a ``track_uri`` (its id); its title and artist come from its
first occurrence (the artist's name, or its ``artist_uri`` with ``artist = "uri"``: names are
not unique). The MPD has no genres.

Slices are parsed one at a time and their track URIs encoded to int32 codes before the next is
read, so memory holds the codes of the plays, not the JSON of the whole dataset.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from embench.data.dataset import Dataset, Sequences
from embench.data.sessions import _concatenate, _Encoder, _FirstLabels
from embench.errors import DataError

SLICE = re.compile(r"^mpd\.slice\.(\d+)-(\d+)\.json$")
TRACK_KEYS = ("pos", "track_uri", "track_name", "artist_name", "artist_uri")


def slice_files(path: Path) -> list[Path]:
    """The slice files of ``path`` (a slice file, or a directory holding them directly or in
    its ``data/`` folder), in the order of their first playlist number."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"{path}: not found (the Million Playlist Dataset: a folder of slices)")
    found = [p for p in path.iterdir() if SLICE.match(p.name)]
    if not found and (path / "data").is_dir():
        found = [p for p in (path / "data").iterdir() if SLICE.match(p.name)]
    if not found:
        raise DataError(
            f"{path}: no mpd.slice.<first>-<last>.json files here or in {path / 'data'} "
            "(the Million Playlist Dataset's layout)"
        )
    return sorted(found, key=_first_playlist)


def _first_playlist(path: Path) -> int:
    match = SLICE.match(path.name)
    return int(match.group(1)) if match else -1


def _load_slice(path: Path) -> list[dict[str, Any]]:
    """The playlists of one slice file, with its format checked."""
    try:
        with open(path, "rb") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path} line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}); "
            "a truncated or damaged slice file?"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("playlists"), list):
        found = type(data).__name__ if not isinstance(data, dict) else f"keys {sorted(data)}"
        raise DataError(
            f"{path}: expected a JSON object with a 'playlists' list (a Million Playlist "
            f"Dataset slice), found {found}"
        )
    return data["playlists"]


def _problem(path: Path, playlists: list) -> str:
    """Where the first malformed playlist or track of a slice is, and what is wrong."""
    for i, playlist in enumerate(playlists):
        where = f"{path}: playlist {i}"
        if not isinstance(playlist, dict) or not isinstance(playlist.get("tracks"), list):
            return f"{where}: expected an object with a 'tracks' list"
        where += f" (pid {playlist.get('pid')})"
        for j, track in enumerate(playlist["tracks"]):
            if not isinstance(track, dict):
                return f"{where} track {j}: expected an object"
            missing = [key for key in TRACK_KEYS if key not in track]
            if missing:
                return f"{where} track {j}: missing {', '.join(repr(k) for k in missing)}"
            if not isinstance(track["pos"], int) or isinstance(track["pos"], bool):
                return f"{where} track {j}: 'pos' must be an integer, found {track['pos']!r}"
            for key in TRACK_KEYS[1:]:
                if not isinstance(track[key], str) or not track[key]:
                    return f"{where} track {j}: '{key}' must be a non-empty string"
    return f"{path}: malformed playlists"  # pragma: no cover - the checks above find it


def read_mpd(
    path: str | os.PathLike,
    *,
    slices: int | None = None,
    artist: Literal["name", "uri"] = "name",
    min_length: int = 1,
    name: str | None = None,
) -> Dataset:
    """Read the Million Playlist Dataset (or its first ``slices`` slice files).

    Playlists shorter than ``min_length`` tracks are dropped. A file that is not a slice (bad
    JSON, a truncated file, missing keys, positions that are not ``0..n-1``) is a DataError
    naming the file, the playlist and the track.
    """
    path = Path(path)
    files = slice_files(path)
    if slices is not None:
        if slices < 1:
            raise DataError(f"slices must be >= 1, got {slices}")
        files = files[:slices]
    tracks = _Encoder()
    labels = {"title": _FirstLabels(), "artist": _FirstLabels()}
    codes: list[np.ndarray] = []
    length_chunks: list[np.ndarray] = []
    artist_key = "artist_name" if artist == "name" else "artist_uri"
    n_playlists = 0
    for file in files:
        playlists = _load_slice(file)
        try:
            lengths = np.fromiter(
                (len(p["tracks"]) for p in playlists), dtype=np.int64, count=len(playlists)
            )
            flat = [t for p in playlists for t in p["tracks"]]
            uris = pa.array([t["track_uri"] for t in flat], type=pa.string())
            titles = pa.array([t["track_name"] for t in flat], type=pa.string())
            artists = pa.array([t[artist_key] for t in flat], type=pa.string())
            pos = np.fromiter((t["pos"] for t in flat), dtype=np.int64, count=len(flat))
        except (KeyError, TypeError, pa.ArrowException, ValueError):
            raise DataError(_problem(file, playlists)) from None
        if uris.null_count or pc.any(pc.equal(uris, "")).as_py():
            raise DataError(_problem(file, playlists))
        del flat, playlists
        # Tracks in pos order within each playlist; the positions must be 0..n-1.
        playlist_of = np.repeat(np.arange(len(lengths)), lengths)
        order = np.lexsort((pos, playlist_of))
        expected = np.arange(len(pos)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        if not np.array_equal(pos[order], expected):
            bad = int(np.flatnonzero(pos[order] != expected)[0])
            raise DataError(
                f"{file}: playlist {int(playlist_of[bad])} has track positions "
                f"{sorted(pos[playlist_of == playlist_of[bad]].tolist())[:10]}..., expected "
                "0..n-1 (each position once)"
            )
        take = pa.array(order)
        uris, titles, artists = uris.take(take), titles.take(take), artists.take(take)
        codes.append(tracks.encode(uris))
        labels["title"].add(uris, titles)
        labels["artist"].add(uris, artists)
        length_chunks.append(lengths)
        n_playlists += len(lengths)

    lengths = _concatenate(length_chunks) if length_chunks else np.zeros(0, dtype=np.int64)
    songs_of = _concatenate(codes) if codes else np.zeros(0, dtype=np.int32)
    keep = lengths >= max(min_length, 1)
    if not keep.any():
        raise DataError(f"{path}: no playlist has at least {max(min_length, 1)} tracks")
    kept = np.repeat(keep, lengths)
    songs_of = songs_of[kept]
    used = np.zeros(len(tracks), dtype=bool)
    used[songs_of] = True
    new_index = (np.cumsum(used) - 1).astype(np.int32)  # songs in order of first appearance
    song_ids = tracks.values
    assert song_ids is not None
    songs = pd.DataFrame(
        {"song_id": song_ids.filter(pa.array(used)).to_numpy(zero_copy_only=False)}
    )
    for label, firsts in labels.items():
        songs[label] = firsts.per_song(song_ids)[used]
    kept_lengths = lengths[keep]
    sequences = Sequences(np.concatenate([[0], np.cumsum(kept_lengths)]), new_index[songs_of])
    metadata = {
        "source": "mpd",
        "path": str(path),
        "slices": len(files),
        "playlists": n_playlists,
        "playlists_dropped_short": int((~keep).sum()),
        "artist": artist,
    }
    return Dataset(name or "mpd", sequences, songs, metadata=metadata)
