"""Readers of the public datasets on small files written in their published layouts: the
Million Playlist Dataset, Last.fm 1K and LFM-1b, against plain-Python readings of the same
files; truncated and wrong-format files give errors naming the file and the line."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from embench.data.lastfm1k import FILE_NAME, malformed_line, read_lastfm1k
from embench.data.lfm1b import read_lfm1b
from embench.data.mpd import read_mpd
from embench.errors import DataError
from embench.plugins import get_plugin_manager
from embench_plugins.public_datasets import (
    LastFm1kDataset,
    LastFm1kOptions,
    Lfm1bDataset,
    Lfm1bOptions,
    MpdDataset,
    MpdOptions,
)


def sequences_as_ids(dataset) -> list[list[str]]:
    ids = dataset.songs["song_id"].tolist()
    return [[ids[s] for s in sequence] for sequence in dataset.sequences]


def labels_of(dataset, column: str) -> dict[str, str]:
    return dict(zip(dataset.songs["song_id"], dataset.songs[column], strict=True))


# -- Million Playlist Dataset --------------------------------------------------------------


def mpd_track(rng, song: int, pos: int) -> dict:
    artist = song % 7
    return {
        "pos": pos,
        "artist_name": f"Artist {artist % 5}",  # two artists share each name
        "track_uri": f"spotify:track:{song:022d}",
        "artist_uri": f"spotify:artist:{artist:022d}",
        "track_name": f"Track {song}",
        "album_uri": f"spotify:album:{song // 3:022d}",
        "duration_ms": int(rng.integers(100_000, 300_000)),
        "album_name": f"Album {song // 3}",
    }


def mpd_playlists(first: int, count: int, seed: int) -> list[dict]:
    """Playlists ``first .. first + count - 1``; tracks listed out of ``pos`` order."""
    rng = np.random.default_rng(seed)
    playlists = []
    for pid in range(first, first + count):
        songs = rng.choice(40, size=int(rng.integers(1, 9)), replace=False)
        tracks = [mpd_track(rng, int(s), pos) for pos, s in enumerate(songs)]
        listed = [tracks[i] for i in rng.permutation(len(tracks))]
        playlists.append(
            {
                "name": f"playlist {pid}",
                "collaborative": "false",
                "pid": pid,
                "modified_at": 1493424000,
                "num_tracks": len(tracks),
                "num_albums": len({t["album_uri"] for t in tracks}),
                "num_followers": 1,
                "tracks": listed,
                "num_edits": 2,
                "duration_ms": sum(t["duration_ms"] for t in tracks),
                "num_artists": len({t["artist_uri"] for t in tracks}),
            }
        )
    return playlists


def write_slice(folder: Path, first: int, playlists: list[dict]) -> Path:
    last = first + 999
    path = folder / f"mpd.slice.{first}-{last}.json"
    content = {
        "info": {
            "generated_on": "2017-12-03 08:41:42.057563",
            "slice": f"{first}-{last}",
            "version": "v1",
        },
        "playlists": playlists,
    }
    path.write_text(json.dumps(content, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def mpd_folder(tmp_path):
    data = tmp_path / "mpd" / "data"
    data.mkdir(parents=True)
    # Numeric order 0, 2000, 10000; by name "10000" sorts before "2000".
    slices = {first: mpd_playlists(first, 6, seed=first) for first in (0, 2000, 10000)}
    for first, playlists in slices.items():
        write_slice(data, first, playlists)
    return tmp_path / "mpd", slices


def reference_mpd(slices: dict[int, list[dict]], min_length: int = 1):
    sequences, title, artist = [], {}, {}
    for first in sorted(slices):
        for playlist in slices[first]:
            tracks = sorted(playlist["tracks"], key=lambda t: t["pos"])
            if len(tracks) >= min_length:
                sequences.append([t["track_uri"] for t in tracks])
                for t in tracks:
                    title.setdefault(t["track_uri"], t["track_name"])
                    artist.setdefault(t["track_uri"], t["artist_name"])
    return sequences, title, artist


def test_mpd_reads_playlists_in_slice_and_pos_order(mpd_folder):
    folder, slices = mpd_folder
    dataset = read_mpd(folder)
    sequences, title, artist = reference_mpd(slices)
    assert sequences_as_ids(dataset) == sequences
    assert labels_of(dataset, "title") == title
    assert labels_of(dataset, "artist") == artist
    assert dataset.songs["song_id"].is_unique and not dataset.has_labels("genre")
    assert dataset.metadata["slices"] == 3 and dataset.metadata["playlists"] == 18
    # One slice file on its own, the first slice only, a length floor, artist URIs.
    one = read_mpd(folder / "data" / "mpd.slice.10000-10999.json")
    assert sequences_as_ids(one) == reference_mpd({10000: slices[10000]})[0]
    first = read_mpd(folder, slices=1)
    assert sequences_as_ids(first) == reference_mpd({0: slices[0]})[0]
    long = read_mpd(folder, min_length=4)
    assert sequences_as_ids(long) == reference_mpd(slices, min_length=4)[0]
    assert long.metadata["playlists_dropped_short"] == len(sequences) - len(
        reference_mpd(slices, min_length=4)[0]
    )
    uris = read_mpd(folder, artist="uri")
    assert uris.songs["artist"].nunique() == 7 > dataset.songs["artist"].nunique() == 5


def test_mpd_errors_name_the_file_playlist_and_track(tmp_path, mpd_folder):
    folder, slices = mpd_folder
    with pytest.raises(DataError, match="no mpd.slice"):
        read_mpd(tmp_path)
    path = folder / "data" / "mpd.slice.2000-2999.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(
        DataError, match=r"2000-2999.json line \d+ column \d+: not valid JSON.*truncated"
    ):
        read_mpd(folder)
    path.write_text(json.dumps(slices[2000]))  # the playlists without the envelope
    with pytest.raises(DataError, match="expected a JSON object with a 'playlists' list"):
        read_mpd(folder)
    broken = json.loads(text)
    del broken["playlists"][1]["tracks"][0]["track_uri"]
    path.write_text(json.dumps(broken))
    with pytest.raises(DataError, match=r"playlist 1 \(pid 2001\) track 0: missing 'track_uri'"):
        read_mpd(folder)
    broken = json.loads(text)
    tracks = broken["playlists"][3]["tracks"]
    tracks[0]["pos"] = tracks[1]["pos"] if len(tracks) > 1 else 5
    path.write_text(json.dumps(broken))
    with pytest.raises(DataError, match="playlist 3 has track positions"):
        read_mpd(folder)


# -- Last.fm 1K ----------------------------------------------------------------------------


def lastfm_rows(seed: int = 0) -> list[list[str]]:
    """Plays of three users, newest first per user (as in the file); some tracks lack an
    MBID, and two artists have a track called "Intro"."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in ("user_000003", "user_000001", "user_000002"):
        t = datetime(2009, 5, 4, 12, 0, tzinfo=UTC).timestamp()
        plays = []
        for _ in range(int(rng.integers(15, 30))):
            t += float(rng.choice([120, 240, 3600 * 3]))  # within a session, or a pause
            song = int(rng.integers(0, 12))
            artist = song % 4
            track_name = "Intro" if song in (0, 1) else f"Song {song}"
            track_mbid = "" if song % 5 == 0 else f"mbid-{song:04d}"
            stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            plays.append([user, stamp, f"amb-{artist}", f"Artist {artist}", track_mbid, track_name])
        rows += plays[::-1]
    return rows


def write_tsv(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def reference_sessions(rows, user_of, time_of, song_of, gap_seconds):
    """Users in order of first appearance, each one's plays by time (ties: file order)."""
    plays = defaultdict(list)
    for position, row in enumerate(rows):
        plays[user_of(row)].append((time_of(row), position, row))
    sessions = []
    for user in plays:  # dict order: first appearance
        current, last = [], None
        for stamp, _, row in sorted(plays[user]):
            if last is not None and stamp - last > gap_seconds:
                sessions.append(current)
                current = []
            current.append(song_of(row))
            last = stamp
        sessions.append(current)
    return sessions


def iso_seconds(row) -> float:
    return datetime.strptime(row[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize("chunk_rows", [3, 1 << 20])
def test_lastfm1k_sessions_match_the_reference(tmp_path, chunk_rows):
    rows = lastfm_rows()
    write_tsv(tmp_path / FILE_NAME, rows)
    dataset = read_lastfm1k(tmp_path, chunk_rows=chunk_rows)  # the folder holding the file
    expected = reference_sessions(
        rows, lambda r: r[0], iso_seconds, lambda r: f"{r[3]} — {r[5]}", 30 * 60
    )
    assert sequences_as_ids(dataset) == expected
    assert {"Artist 0 — Intro", "Artist 1 — Intro"} <= set(dataset.songs["song_id"])
    assert labels_of(dataset, "title")["Artist 1 — Intro"] == "Intro"
    assert labels_of(dataset, "artist")["Artist 1 — Intro"] == "Artist 1"
    assert dataset.metadata["users"] == 3 and dataset.metadata["rows"] == len(rows)

    by_mbid = read_lastfm1k(tmp_path / FILE_NAME, song_key="mbid", gap_minutes=300)
    kept = [r for r in rows if r[4]]
    assert sequences_as_ids(by_mbid) == reference_sessions(
        kept, lambda r: r[0], iso_seconds, lambda r: r[4], 300 * 60
    )
    assert by_mbid.metadata["rows_without_mbid"] == len(rows) - len(kept) > 0


def test_lastfm1k_errors_name_the_line(tmp_path):
    rows = lastfm_rows()
    path = write_tsv(tmp_path / FILE_NAME, rows)
    text = path.read_text()
    path.write_text(text[: text.index("\n", len(text) // 2) + 25])  # cut inside a line
    line = text[: len(text) // 2].count("\n") + 2
    with pytest.raises(DataError, match=rf"{FILE_NAME} line {line}: [1-5] tab-separated field"):
        read_lastfm1k(path, chunk_rows=4)
    path.write_text("".join(",".join(r) + "\n" for r in rows))  # comma-separated
    with pytest.raises(DataError, match="line 1: 1 tab-separated field"):
        read_lastfm1k(path)
    write_tsv(path, [["userid", "timestamp", "artid", "artname", "traid", "traname"], *rows])
    with pytest.raises(DataError, match="line 1: cannot parse the time 'timestamp'"):
        read_lastfm1k(path)
    bad = [list(r) for r in rows]
    bad[5][5] = ""
    write_tsv(path, bad)
    with pytest.raises(DataError, match="line 6: no track"):
        read_lastfm1k(path)
    with pytest.raises(DataError, match="file not found"):
        read_lastfm1k(tmp_path / "elsewhere")


@pytest.mark.parametrize("block", [1, 5, 64, 1 << 20])
def test_malformed_line_finds_the_first_short_line_across_blocks(tmp_path, block):
    path = tmp_path / "x.tsv"
    path.write_text("a\tb\tc\nd\te\tf\ng\th\ni\tj\tk")
    assert malformed_line(path, 3, block=block) == (3, 2)
    path.write_text("a\tb\tc\nd\te\tf\ng\th\ti\n")
    assert malformed_line(path, 3, block=block) is None
    path.write_text("a\tb\tc\nd\te")  # a last line cut short, without its newline
    assert malformed_line(path, 3, block=block) == (2, 2)


# -- LFM-1b --------------------------------------------------------------------------------


def lfm1b_folder(tmp_path: Path, seed: int = 0):
    """LEs (user, artist, album, track, unix time; users interleaved, times unordered),
    tracks (id, name, artist id), artists (id, name) and the UGP genre files."""
    rng = np.random.default_rng(seed)
    folder = tmp_path / "LFM-1b"
    folder.mkdir()
    track_ids = [3, 7, 10, 11, 25, 40, 41, 99]
    artist_of = {t: 100 + (t % 3) for t in track_ids}
    artist_name = {100: "Alpha", 101: "Beta", 102: "Gamma"}
    events = []
    for user in (31, 5, 12):
        t = 1_200_000_000
        for _ in range(int(rng.integers(10, 20))):
            t += int(rng.choice([60, 200, 7200]))
            track = int(rng.choice(track_ids[:-1]))  # track 99 is never played
            events.append([user, artist_of[track], 9, track, t])
    events = [events[i] for i in rng.permutation(len(events))]
    write_tsv(folder / "LFM-1b_LEs.txt", [[str(v) for v in e] for e in events])
    write_tsv(
        folder / "LFM-1b_tracks.txt",
        [[str(t), f"Track {t}", str(artist_of[t])] for t in track_ids],
    )
    write_tsv(folder / "LFM-1b_artists.txt", [[str(a), n] for a, n in artist_name.items()])
    ugp = tmp_path / "LFM-1b_UGP"
    ugp.mkdir()
    (ugp / "genres_allmusic.txt").write_text("rnb\nrap\nelectronic\nrock\n")
    (ugp / "LFM-1b_artist_genres_allmusic.txt").write_text("Alpha\t3\t1\nGamma\nBeta\t2\n")
    return folder, events, artist_of, artist_name, ugp


def test_lfm1b_sessions_labels_and_genres_match_the_reference(tmp_path):
    folder, events, artist_of, artist_name, ugp = lfm1b_folder(tmp_path)
    dataset = read_lfm1b(
        folder,
        artist_genres=ugp / "LFM-1b_artist_genres_allmusic.txt",
        genre_names=ugp / "genres_allmusic.txt",
        chunk_rows=7,
    )
    # Users by id (the ids are integers), each one's events by time.
    ordered = sorted(range(len(events)), key=lambda i: (events[i][0], events[i][4], i))
    rows = [events[i] for i in ordered]
    expected = reference_sessions(rows, lambda r: r[0], lambda r: r[4], lambda r: str(r[3]), 1800)
    expected_users = {r[0]: None for r in rows}
    assert list(expected_users) == sorted(expected_users)
    assert sequences_as_ids(dataset) == expected
    played = sorted({e[3] for e in events})
    assert dataset.songs["song_id"].tolist() == [str(t) for t in played]  # track-id order
    assert labels_of(dataset, "title") == {str(t): f"Track {t}" for t in played}
    assert labels_of(dataset, "artist") == {str(t): artist_name[artist_of[t]] for t in played}
    genre = {"Alpha": "rock", "Beta": "electronic", "Gamma": None}
    got = {k: (None if pd.isna(v) else v) for k, v in labels_of(dataset, "genre").items()}
    assert got == {str(t): genre[artist_name[artist_of[t]]] for t in played}
    assert dataset.metadata["users"] == 3 and dataset.metadata["rows"] == len(events)
    plain = read_lfm1b(folder)
    assert sequences_as_ids(plain) == expected and not plain.has_labels("genre")
    head = read_lfm1b(folder, max_rows=10, chunk_rows=3)
    assert head.sequences.n_events == 10 and head.metadata["rows"] == 10


def test_lfm1b_errors_name_the_file_and_line(tmp_path):
    folder, events, _, _, ugp = lfm1b_folder(tmp_path)
    les = folder / "LFM-1b_LEs.txt"
    text = les.read_text()
    les.write_text(text + "5\t100\t9\t3")  # a last line cut short
    with pytest.raises(DataError, match=rf"LFM-1b_LEs.txt line {len(events) + 1}: 4 tab-sep"):
        read_lfm1b(folder, chunk_rows=5)
    les.write_text(text + "5\t100\t9\t12345\t1200000000\n")
    with pytest.raises(DataError, match=rf"line {len(events) + 1}: track id 12345 is not in"):
        read_lfm1b(folder, chunk_rows=5)
    les.write_text(text + "5\t100\t9\tx\t1200000000\n")
    with pytest.raises(DataError, match=rf"LFM-1b_LEs.txt line {len(events) + 1}: track 'x' is"):
        read_lfm1b(folder, chunk_rows=4)
    les.write_text(text)
    artists = folder / "LFM-1b_artists.txt"
    artists.write_text("100\tAlpha\n101\tBeta\n")  # Gamma (102) lost
    with pytest.raises(DataError, match="artist id 102 .* is not in the file"):
        read_lfm1b(folder)
    artists.unlink()
    with pytest.raises(DataError, match="LFM-1b_artists.txt: file not found"):
        read_lfm1b(folder)
    with pytest.raises(DataError, match="need both files"):
        read_lfm1b(folder, genre_names=ugp / "genres_allmusic.txt")


def test_lfm1b_genre_ids_must_name_a_genre(tmp_path):
    folder, _, _, _, ugp = lfm1b_folder(tmp_path)
    (ugp / "LFM-1b_artist_genres_allmusic.txt").write_text("Alpha\t9\n")
    with pytest.raises(DataError, match=r"line 1: genre id '9' is not a line of genres_allmusic"):
        read_lfm1b(
            folder,
            artist_genres=ugp / "LFM-1b_artist_genres_allmusic.txt",
            genre_names=ugp / "genres_allmusic.txt",
        )


# -- the plugins ---------------------------------------------------------------------------


def test_the_plugins_are_registered_and_resolve_relative_paths(tmp_path, mpd_folder):
    plugins = get_plugin_manager()
    for name in ("mpd", "lastfm1k", "lfm1b"):
        assert plugins.datasets.get(name).origin.plugin == "public_datasets"
    folder, slices = mpd_folder
    dataset = MpdDataset().load(
        MpdOptions(path=folder.name, slices=2), seed=0, base_dir=folder.parent
    )
    assert sequences_as_ids(dataset) == reference_mpd({k: slices[k] for k in (0, 2000)})[0]
    write_tsv(tmp_path / FILE_NAME, lastfm_rows())
    options = LastFm1kOptions(path=FILE_NAME, gap_minutes=10, song_key="mbid")
    lastfm = LastFm1kDataset().load(options, seed=0, base_dir=tmp_path)
    assert lastfm.metadata["gap_minutes"] == 10 and lastfm.metadata["song_key"] == "mbid"
    lfm_folder, *_ = lfm1b_folder(
        tmp_path / "lfm" if (tmp_path / "lfm").mkdir() is None else tmp_path
    )
    lfm = Lfm1bDataset().load(
        Lfm1bOptions(
            path="LFM-1b",
            artist_genres="LFM-1b_UGP/LFM-1b_artist_genres_allmusic.txt",
            genre_names="LFM-1b_UGP/genres_allmusic.txt",
        ),
        seed=0,
        base_dir=lfm_folder.parent,
    )
    assert lfm.has_labels("genre")
    with pytest.raises(ValidationError, match="set both or neither"):
        Lfm1bOptions(path="x", genre_names="g.txt")
    with pytest.raises(ValidationError):
        MpdOptions(path="x", artist="id")
    with pytest.raises(ValidationError):
        LastFm1kOptions(path="x", song_key="isrc")
