"""Dataset readers: canonical Parquet, Yes.com playlists, listening-event logs, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from embench.data.dataset import Dataset, Sequences
from embench.data.events import read_events
from embench.data.genres import GENRE_ALIASES, GENRES, genre_lookup, genre_of_tag
from embench.data.parquet import read_parquet, write_parquet
from embench.data.stats import dataset_stats
from embench.data.yes import read_yes
from embench.errors import DataError
from embench_plugins.datasets import (
    EventsDataset,
    EventsOptions,
    ParquetDataset,
    ParquetOptions,
    SyntheticOptions,
    YesDataset,
    YesOptions,
    register_datasets,
)

YES_BIG = Path(__file__).resolve().parents[2] / "shared" / "data" / "yes_big"


def sequence_lists(dataset: Dataset) -> list[list[str]]:
    ids = dataset.songs["song_id"].to_numpy(dtype=object)
    return [[ids[s] for s in seq] for seq in dataset.sequences]


def small_dataset(play_log: bool = True) -> Dataset:
    songs = pd.DataFrame(
        {
            "song_id": ["a", "b", "c", "d"],
            "title": ["A", "B w/ X", None, "D"],
            "artist": ["x", "x", "y", None],
            "genre": ["rock", "rock", "pop", None],
        }
    )
    log = (
        pd.DataFrame(
            {
                "seed_song": [0, 1],
                "recommended_song": [1, 2],
                "organic_plays": [10, 3],
                "successful_plays": [4, 0],
            }
        )
        if play_log
        else None
    )
    sequences = Sequences.from_lists([[0, 1, 2], [2], [3, 0]])
    return Dataset("small", sequences, songs, play_log=log, metadata={"note": "test"})


def write_canonical(directory: Path, sequences, songs: dict, play_log: dict | None = None):
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"songs": sequences}), directory / "sequences.parquet")
    pq.write_table(pa.table(songs), directory / "songs.parquet")
    if play_log is not None:
        pq.write_table(pa.table(play_log), directory / "play_log.parquet")
    return directory


# --- canonical Parquet ---------------------------------------------------------------------


def test_parquet_round_trip_keeps_everything(tmp_path):
    original = small_dataset()
    write_parquet(original, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "play_log.parquet",
        "sequences.parquet",
        "songs.parquet",
    ]
    loaded = read_parquet(tmp_path / "out")
    assert loaded.name == "small"
    assert sequence_lists(loaded) == sequence_lists(original)
    pd.testing.assert_frame_equal(loaded.songs, original.songs)
    assert loaded.play_log[["seed_song", "recommended_song"]].to_numpy().tolist() == [
        [0, 1],
        [1, 2],
    ]
    assert loaded.play_log["successful_plays"].tolist() == [4, 0]
    assert loaded.metadata["note"] == "test"


def test_write_parquet_replaces_files_and_removes_a_stale_play_log(tmp_path):
    write_parquet(small_dataset(), tmp_path)
    write_parquet(small_dataset(play_log=False), tmp_path)
    assert not (tmp_path / "play_log.parquet").exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert read_parquet(tmp_path).play_log is None


def test_parquet_integer_ids_in_both_files(tmp_path):
    directory = write_canonical(
        tmp_path,
        pa.array([[10, 20], [20, 30, 10], []], type=pa.list_(pa.int64())),
        {"song_id": pa.array([30, 20, 10], type=pa.int64()), "genre": ["g", "g", "h"]},
    )
    dataset = read_parquet(directory)
    assert sequence_lists(dataset) == [["10", "20"], ["20", "30", "10"]]  # the empty row dropped
    assert dataset.metadata["empty_sequences"] == 1
    assert dataset.songs["song_id"].tolist() == ["30", "20", "10"]
    assert dataset.songs["plays"].tolist() == [1, 2, 2]
    assert dataset.songs["artist"].isna().all()


def test_parquet_reads_large_and_chunked_lists(tmp_path):
    table = pa.concat_tables(
        [
            pa.table({"songs": pa.array([["a", "b"]], type=pa.large_list(pa.string()))}),
            pa.table({"songs": pa.array([["b"], ["a"]], type=pa.large_list(pa.string()))}),
        ]
    )
    pq.write_table(table, tmp_path / "sequences.parquet", row_group_size=1)
    pq.write_table(pa.table({"song_id": ["a", "b"]}), tmp_path / "songs.parquet")
    assert sequence_lists(read_parquet(tmp_path)) == [["a", "b"], ["b"], ["a"]]


def test_parquet_missing_directory_and_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_parquet(tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"sequences\.parquet: file not found"):
        read_parquet(tmp_path)
    pq.write_table(pa.table({"songs": [["a"]]}), tmp_path / "sequences.parquet")
    with pytest.raises(DataError, match=r"songs\.parquet: file not found"):
        read_parquet(tmp_path)


def test_parquet_corrupt_file(tmp_path):
    write_canonical(tmp_path, [["a"]], {"song_id": ["a"]})
    (tmp_path / "songs.parquet").write_bytes(b"this is not parquet at all")
    with pytest.raises(DataError, match=r"songs\.parquet: not a readable Parquet file"):
        read_parquet(tmp_path)


def test_parquet_truncated_file(tmp_path):
    write_canonical(tmp_path, [["a", "b"]] * 100, {"song_id": ["a", "b"]})
    path = tmp_path / "sequences.parquet"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError, match=r"sequences\.parquet: not a readable Parquet file"):
        read_parquet(tmp_path)


def test_parquet_unknown_song_names_file_row_and_song(tmp_path):
    write_canonical(tmp_path, [["a", "b"], ["a", "zz", "zz"]], {"song_id": ["a", "b"]})
    with pytest.raises(DataError) as info:
        read_parquet(tmp_path)
    message = str(info.value)
    assert "sequences.parquet: row 2" in message
    assert "'zz'" in message and "songs.parquet lacks" in message
    assert "2 occurrence(s) of 1 unknown" in message


@pytest.mark.parametrize(
    ("sequences", "songs", "expected"),
    [
        ([["a"]], {"id": ["a"]}, r"songs\.parquet: missing column\(s\) 'song_id' \(found: id\)"),
        (
            pa.array([["a"], None]),
            {"song_id": ["a"]},
            r"sequences\.parquet: row 2 has a null 'songs' list",
        ),
        ([["a", None]], {"song_id": ["a"]}, r"row 1 holds a null song id"),
        (pa.array([1.5, 2.5]), {"song_id": ["a"]}, r"must be list<string> or list<int64>.*double"),
        (
            pa.array([[1.5]]),
            {"song_id": ["a"]},
            r"must be list<string> or list<int64>.*found type list<.*double>",
        ),
        ([["a"]], {"song_id": ["a", "a"]}, r"song id 'a' appears twice"),
        ([["a"]], {"song_id": ["a", None]}, r"songs\.parquet: row 2 has no song_id"),
        (pa.array([], type=pa.list_(pa.string())), {"song_id": ["a"]}, r"no sequences"),
        ([[], []], {"song_id": ["a"]}, r"every sequence is empty"),
        ([["a"]], {"song_id": pa.array([], type=pa.string())}, r"the song table is empty"),
    ],
)
def test_parquet_bad_content(tmp_path, sequences, songs, expected):
    write_canonical(tmp_path, sequences, songs)
    with pytest.raises(DataError, match=expected):
        read_parquet(tmp_path)


def test_parquet_sequences_without_songs_column(tmp_path):
    pq.write_table(pa.table({"tracks": [["a"]]}), tmp_path / "sequences.parquet")
    pq.write_table(pa.table({"song_id": ["a"]}), tmp_path / "songs.parquet")
    with pytest.raises(DataError, match=r"missing column\(s\) 'songs' \(found: tracks\)"):
        read_parquet(tmp_path)


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (
            {"seed_song": ["a"], "recommended_song": ["q"], "organic_plays": [1]},
            r"play_log\.parquet: missing column\(s\) 'successful_plays'",
        ),
        (
            {
                "seed_song": ["a"],
                "recommended_song": ["q"],
                "organic_plays": [1],
                "successful_plays": [0],
            },
            r"play_log\.parquet: row 1 \(recommended_song\) mentions song 'q'",
        ),
        (
            {
                "seed_song": ["a", "b"],
                "recommended_song": ["b", "a"],
                "organic_plays": [1, -2],
                "successful_plays": [0, 0],
            },
            r"row 2: organic_plays is -2, expected a count >= 0",
        ),
        (
            {
                "seed_song": ["a"],
                "recommended_song": ["b"],
                "organic_plays": ["many"],
                "successful_plays": [0],
            },
            r"'organic_plays' must hold counts, found type string",
        ),
    ],
)
def test_parquet_bad_play_log(tmp_path, log, expected):
    write_canonical(tmp_path, [["a", "b"]], {"song_id": ["a", "b"]}, play_log=log)
    with pytest.raises(DataError, match=expected):
        read_parquet(tmp_path)


def test_parquet_loader_resolves_relative_paths(tmp_path):
    write_parquet(small_dataset(), tmp_path / "data" / "small")
    options = ParquetOptions(path="data/small")
    dataset = ParquetDataset().load(options, seed=0, base_dir=tmp_path)
    assert len(dataset.sequences) == 3
    with pytest.raises(ValidationError):
        ParquetOptions(path="x", unknown=1)


# --- Yes.com ------------------------------------------------------------------------------


def write_yes(directory: Path, *, train=None, song_hash=None, tags=None, tag_hash=None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "train.txt": train
        if train is not None
        else "901 902 903 904\n3 3 2 0\n0 1 2 \n2 1 \n0 \n\n1 0 \n",
        "song_hash.txt": song_hash
        if song_hash is not None
        else (
            "0\tGucci Time (w\\/ Swizz Beatz)\tGucci Mane\n"
            "1\tSong B\tArtist B\n"
            "2\tSong C\tArtist B\n"
            "3\tSong D\t\n"
        ),
        "tags.txt": tags if tags is not None else "2 0\n1 5\n#\n5\n",
        "tag_hash.txt": tag_hash
        if tag_hash is not None
        else "0, rock\n1, favorites\n2, Hip-Hop\n3, love\n4, pop\n5, 80s",
    }
    for name, text in files.items():
        if text is not False:
            (directory / name).write_text(text)
    return directory


def test_yes_reads_playlists_titles_and_genres(tmp_path):
    dataset = read_yes(write_yes(tmp_path / "yes"))
    assert dataset.name == "yes"
    assert sequence_lists(dataset) == [["0", "1", "2"], ["2", "1"], ["0"], ["1", "0"]]
    assert dataset.metadata["blank_playlists"] == 1
    assert dataset.metadata["header_counts_match"] is True
    songs = dataset.songs
    assert songs.loc[0, "title"] == "Gucci Time (w/ Swizz Beatz)"
    assert songs["artist"].tolist()[:3] == ["Gucci Mane", "Artist B", "Artist B"]
    assert pd.isna(songs.loc[3, "artist"])
    # song 0: tags 2 (hip-hop -> alias "hip hop") then 0 (rock): the first genre tag wins.
    assert songs["genre"].tolist()[:1] == ["hip hop"]
    assert songs["genre"].isna().tolist() == [False, True, True, True]


def test_yes_with_a_user_vocabulary(tmp_path):
    directory = write_yes(tmp_path)
    dataset = read_yes(directory, genres=["Rock", "80s"])
    assert dataset.songs["genre"].tolist()[:2] == ["rock", "80s"]
    loaded = YesDataset().load(
        YesOptions(path=".", genres=["pop", "80s"]), seed=0, base_dir=tmp_path
    )
    assert loaded.songs["genre"].tolist()[1] == "80s"


def test_yes_without_tags_has_no_genres(tmp_path):
    directory = write_yes(tmp_path, tags=False, tag_hash=False)
    assert read_yes(directory).songs["genre"].isna().all()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"train": False}, r"train\.txt: file not found"),
        ({"song_hash": False}, r"song_hash\.txt: file not found"),
        ({"tag_hash": False}, r"tag_hash\.txt: file not found"),
        (
            {"train": "1 2 3 4\n1 1 1 1\n0 1 \n2 x3 \n"},
            r"train\.txt line 4: song id 'x3' is not a non-negative integer",
        ),
        (
            {"train": "1 2 3 4\n1 1 1 1\n0 1 \n2 -1 \n"},
            r"train\.txt line 4: song id '-1' is not a non-negative integer",
        ),
        (
            {"train": "1 2 3 4\n1 1 1 1\n0 1 \n\n3 9 \n"},
            r"train\.txt line 5: song id 9 is not in song_hash\.txt",
        ),
        ({"train": "1 2 3 4\n1 1 1 1\n"}, r"train\.txt: expected two header lines"),
        ({"train": "1 2 3 4\n1 1 1 1\n\n \n"}, r"no playlists after the two header lines"),
        ({"train": "1 2 3\n1 1 1\n0 \n"}, r"line 1 lists 3 songs but song_hash\.txt has 4"),
        ({"train": "1 2 3 4\n1 1 1\n0 \n"}, r"line 1 lists 4 original song ids but line 2"),
        ({"song_hash": "0\tonly a title\n"}, r"song_hash\.txt line 1: expected 'id<TAB>title"),
        (
            {"song_hash": "0\tA\tB\n1\tA\tB\nzero\tC\tD\n3\tE\tF\n"},
            r"song_hash\.txt line 3: song id 'zero' is not a non-negative integer",
        ),
        (
            {"song_hash": "0\tA\tB\n1\tA\tB\n1\tC\tD\n3\tE\tF\n"},
            r"song_hash\.txt line 3: song id 1 was already given on line 2",
        ),
        ({"song_hash": "\n"}, r"song_hash\.txt: no songs"),
        ({"tags": "0\n#\n"}, r"tags\.txt: 2 line\(s\) for 4 songs"),
        ({"tags": "0\n1\n#\n7\n"}, r"tags\.txt line 4: tag id 7 is not in tag_hash\.txt"),
        (
            {"tags": "0\n1\n#\n99999999999\n"},
            r"tags\.txt line 4: tag id 99999999999 is not in tag_hash\.txt",
        ),
        (
            {"train": "1 2 3 4\n1 1 1 1\n0 99999999999 \n"},
            r"train\.txt line 3: song id 99999999999 is not in song_hash\.txt",
        ),
        ({"tags": "0\nrock\n#\n#\n"}, r"tags\.txt line 2: tag id 'rock' is not"),
        ({"tag_hash": "0 rock\n"}, r"tag_hash\.txt line 1: expected 'id, name'"),
    ],
)
def test_yes_bad_input(tmp_path, files, expected):
    directory = write_yes(tmp_path, **files)
    with pytest.raises(DataError, match=expected):
        read_yes(directory)


def test_yes_missing_directory(tmp_path):
    with pytest.raises(DataError, match="directory .* not found"):
        read_yes(tmp_path / "absent")


def test_yes_non_utf8_train(tmp_path):
    directory = write_yes(tmp_path)
    (directory / "train.txt").write_bytes(b"1 2 3 4\n1 1 1 1\n0 \xff\n")
    with pytest.raises(DataError, match=r"train\.txt line 3: not UTF-8"):
        read_yes(directory)


@pytest.mark.skipif(not YES_BIG.is_dir(), reason=f"the yes_big data is not at {YES_BIG}")
def test_yes_big_figures_match_its_readme():
    dataset = read_yes(YES_BIG)
    stats = dataset_stats(dataset)
    assert stats["songs"] == 9_775
    assert stats["sequences"] == 18_139
    assert stats["events"] == 190_649
    assert stats["artists"] == 3_294
    assert stats["songs_played"] == 9_775 - 10
    assert (stats["length_p25"], stats["length_p50"], stats["length_p75"]) == (1.0, 3.0, 9.0)
    assert stats["length_mean"] == pytest.approx(10.51, abs=0.005)
    assert stats["length_max"] == 322
    assert len(dataset.sequences.consecutive_pairs()[0]) == 172_510
    assert dataset.metadata["header_counts_match"] is True
    assert dataset.metadata["tagged_songs"] == 7_360
    assert 6_900 <= dataset.metadata["songs_with_genre"] <= 7_200  # README: about 7,060
    assert not dataset.songs["title"].str.contains(r"\\/", regex=True).any()
    assert dataset.songs["genre"].value_counts().index[0] == "rock"


@pytest.mark.skipif(not YES_BIG.is_dir(), reason=f"the yes_big data is not at {YES_BIG}")
def test_yes_big_through_parquet_round_trip(tmp_path):
    dataset = read_yes(YES_BIG)
    write_parquet(dataset, tmp_path)
    loaded = read_parquet(tmp_path)
    assert np.array_equal(loaded.sequences.songs, dataset.sequences.songs)
    assert np.array_equal(loaded.sequences.indptr, dataset.sequences.indptr)
    pd.testing.assert_frame_equal(loaded.songs, dataset.songs)


# --- genre vocabulary ---------------------------------------------------------------------


def test_genre_vocabulary_is_lower_case_and_aliases_point_into_it():
    assert len(set(GENRES)) == len(GENRES)
    assert all(g == g.lower().strip() for g in GENRES)
    assert set(GENRE_ALIASES.values()) <= set(GENRES)
    assert not set(GENRE_ALIASES) & set(GENRES)
    assert genre_of_tag(" Hip-Hop ") == "hip hop"
    assert genre_of_tag("favorites") is None
    assert genre_of_tag("80s") is None
    assert genre_lookup(["Foo  Bar"]) == {"foo bar": "foo bar"}


# --- listening-event logs -----------------------------------------------------------------

EVENTS = """user,timestamp,track,artist,genre
u1,2020-01-01T10:00:00Z,t1,A,rock
u1,2020-01-01T10:05:00Z,t2,B,
u2,2020-01-01T09:00:00Z,t3,,pop
u1,2020-01-01T11:00:00Z,t1,A2,rock
u1,2020-01-01T10:10:00+00:00,t3,C,jazz
u2,2020-01-01T09:29:00Z,t1,A,rock
u1,2020-01-01T11:20:00Z,t2,B,pop
"""


def test_events_csv_sessions_by_user_and_gap(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text(EVENTS)
    dataset = read_events(path)
    assert dataset.name == "plays"
    # u1: 10:00 10:05 10:10 | (50 min gap) 11:00 11:20; u2: 09:00 09:29.
    assert sequence_lists(dataset) == [["t1", "t2", "t3"], ["t1", "t2"], ["t3", "t1"]]
    songs = dataset.songs.set_index("song_id")
    assert songs.loc["t1", "artist"] == "A"  # the first row naming it
    assert songs.loc["t3", "artist"] == "C" and songs.loc["t3", "genre"] == "pop"
    assert songs.loc["t2", "genre"] == "pop"
    assert dataset.metadata["users"] == 2 and dataset.metadata["sessions_total"] == 3


def test_events_gap_and_min_length(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text(EVENTS)
    assert len(read_events(path, gap_minutes=60).sequences) == 2
    short = read_events(path, gap_minutes=10, min_length=2)
    assert sequence_lists(short) == [["t1", "t2", "t3"]]
    assert short.metadata["sessions_dropped_short"] == 4


def test_events_tsv_unix_seconds_without_header(tmp_path):
    path = tmp_path / "lfm.tsv"
    rows = [("7", 1000, "99"), ("7", 1100, "98"), ("7", 99_999, "99"), ("8", 50, "'quoted")]
    path.write_text("".join(f"{u}\t{t}\t{s}\n" for u, t, s in rows))
    dataset = read_events(path, column_names=["user", "timestamp", "track"])
    assert sequence_lists(dataset) == [["99", "98"], ["99"], ["'quoted"]]
    assert dataset.songs["artist"].isna().all()


def test_events_parquet_with_datetime_and_numeric_columns(tmp_path):
    frame = pd.DataFrame(
        {
            "listener": [1, 1, 2, 1],
            "when": pd.to_datetime(
                ["2021-05-01 08:00", "2021-05-01 08:20", "2021-05-01 08:00", "2021-05-01 07:59"]
            ),
            "song": [5, 6, 5, 7],
        }
    )
    frame.to_parquet(tmp_path / "log.parquet")
    dataset = read_events(
        tmp_path / "log.parquet",
        user_column="listener",
        timestamp_column="when",
        track_column="song",
    )
    assert sequence_lists(dataset) == [["7", "5", "6"], ["5"]]
    frame["when"] = frame["when"].astype("int64") // 10**9 * 1000  # unix milliseconds
    frame.to_parquet(tmp_path / "log_ms.pq")
    loaded = read_events(
        tmp_path / "log_ms.pq",
        user_column="listener",
        timestamp_column="when",
        track_column="song",
        timestamp_unit="ms",
    )
    assert sequence_lists(loaded) == [["7", "5", "6"], ["5"]]


def test_events_loader_options_and_required_label_columns(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "plays.csv").write_text(EVENTS.replace("artist", "performer"))
    loader = EventsDataset()
    dataset = loader.load(EventsOptions(path="logs/plays.csv"), seed=0, base_dir=tmp_path)
    assert dataset.songs["artist"].isna().all()  # no 'artist' column: no labels, no error
    named = EventsOptions(path="logs/plays.csv", artist_column="performer")
    assert loader.load(named, seed=0, base_dir=tmp_path).songs["artist"].notna().any()
    with pytest.raises(DataError, match=r"missing column\(s\) 'artist'"):
        loader.load(
            EventsOptions(path="logs/plays.csv", artist_column="artist"), seed=0, base_dir=tmp_path
        )
    ignored = EventsOptions(path="logs/plays.csv", genre_column="")
    assert loader.load(ignored, seed=0, base_dir=tmp_path).songs["genre"].isna().all()
    with pytest.raises(ValidationError):
        EventsOptions(path="x.csv", gap_minutes=0)
    with pytest.raises(ValidationError):
        EventsOptions(path="x.csv", sessions=3)


def test_events_drop_missing(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("user,timestamp,track\nu,1,a\nu,,b\n,3,c\nu,4,d\n")
    with pytest.raises(DataError, match=r"plays\.csv line 3: no timestamp \(an empty value\)"):
        read_events(path)
    dataset = read_events(path, drop_missing=True)
    assert sequence_lists(dataset) == [["a", "d"]]
    assert dataset.metadata["rows_dropped_missing"] == 2


@pytest.mark.parametrize(
    ("name", "text", "kwargs", "expected"),
    [
        (
            "e.csv",
            "user,time,track\nu,1,a\n",
            {},
            r"e\.csv: missing column\(s\) 'timestamp' \(found in the header line: user, time, track\)",
        ),
        ("e.csv", "user,timestamp,track\n", {}, r"no listening events"),
        ("e.csv", "", {}, r"e\.csv: cannot read the header line"),
        (
            "e.csv",
            "user,timestamp,track\nu,2020-01-01T00:00:00Z,a\nu,yesterday,b\n",
            {},
            r"e\.csv line 3: cannot parse the timestamp 'yesterday' \(expected an ISO 8601",
        ),
        (
            "e.csv",
            "user,timestamp,track\nu,1000,a\nu,1001,b\nu,2020-01-01,c\n",
            {},
            r"e\.csv line 4: cannot parse the timestamp '2020-01-01' \(expected a unix time in s",
        ),
        (
            "e.csv",
            "user,timestamp,track\nu,1,a\nu,2,b,extra\n",
            {},
            r"e\.csv: cannot parse the file as CSV .*Expected 3 fields in line 3, saw 4",
        ),
        (
            "e.csv",
            "user,timestamp\nu,1,a\nu,2,b\n",
            {"column_names": ["user", "timestamp"], "track_column": "user"},
            r"e\.csv: cannot parse the file as CSV .*Expected 2 fields in line 2, saw 3",
        ),
        (
            "e.csv",
            "u,1,a,x\nu,2,b,y\n",
            {"column_names": ["user", "timestamp", "track"]},
            r"the rows have 4 fields but 3 columns are named",
        ),
        (
            "e.txt",
            "user,timestamp,track\n",
            {},
            r"e\.txt: cannot tell the format from the extension '\.txt'",
        ),
        (
            "e.csv",
            "user,timestamp,track\nu,1,a\n",
            {"min_length": 2},
            r"no session has at least 2 plays",
        ),
    ],
)
def test_events_bad_input(tmp_path, name, text, kwargs, expected):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError, match=expected):
        read_events(path, **kwargs)


def test_events_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataError, match=r"absent\.csv: file not found"):
        read_events(tmp_path / "absent.csv")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(DataError, match=r"bad\.parquet: not a readable Parquet file"):
        read_events(tmp_path / "bad.parquet")
    pd.DataFrame({"user": [1], "track": [2]}).to_parquet(tmp_path / "cols.parquet")
    with pytest.raises(DataError, match=r"cols\.parquet: missing column\(s\) 'timestamp'"):
        read_events(tmp_path / "cols.parquet")
    (tmp_path / "latin.csv").write_bytes(b"user,timestamp,track\nu,1,caf\xe9\n")
    with pytest.raises(DataError, match=r"latin\.csv"):
        read_events(tmp_path / "latin.csv")


def test_events_explicit_format_overrides_the_extension(tmp_path):
    path = tmp_path / "plays.log"
    path.write_text("user\ttimestamp\ttrack\nu\t5\ta\n")
    assert sequence_lists(read_events(path, format="tsv")) == [["a"]]


# --- stats and plugin registration ----------------------------------------------------------


def test_dataset_stats_of_a_small_dataset():
    stats = dataset_stats(small_dataset())
    assert stats == {
        "songs": 4,
        "songs_played": 4,
        "events": 6,
        "sequences": 3,
        "length_mean": 2.0,
        "length_p25": 1.5,
        "length_p50": 2.0,
        "length_p75": 2.5,
        "length_max": 3,
        "artists": 2,
        "genres": 2,
        "play_log_pairs": 2,
    }
    assert all(type(v) in (int, float) for v in stats.values())


def test_register_datasets_registers_the_four_loaders():
    registered = []
    register_datasets(register=registered.append)
    assert [cls.name for cls in registered] == ["parquet", "yes", "events", "synthetic"]
    for cls in registered:
        for field in cls.Options.model_fields.values():
            assert field.description, f"{cls.name}: every option is documented"
        with pytest.raises(ValidationError):
            cls.Options.model_validate({"path": "x", "no_such_option": 1})
    with pytest.raises(ValidationError, match="must not exceed"):
        SyntheticOptions(songs=100, artists=5, genres=10)
