"""Readers on chunked input: the same Dataset whatever the chunk size, bounded memory, the same
errors (first offending row, counts over the whole file); vectorised sequence selection."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embench.data import events, parquet
from embench.data.dataset import Dataset, Sequences
from embench.data.events import read_events
from embench.data.parquet import read_parquet, write_parquet
from embench.errors import DataError

CHUNKS = [1, 2, 5, 1 << 20]


def random_log(seed: int, n: int = 80) -> pd.DataFrame:
    """Plays of a few users, unix seconds, some labels missing or blank."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user": rng.choice(["u1", "u2", "u3", "u4"], n),
            "timestamp": 1_600_000_000 + rng.integers(0, 30_000, n),
            "track": rng.choice([f"t{i}" for i in range(15)], n),
            "artist": rng.choice(["A", "B", "", " ", "C"], n),
            "genre": rng.choice(["rock", "", "pop"], n),
        }
    )


def reference_sessions(frame: pd.DataFrame, gap_minutes: float, min_length: int) -> dict:
    """The reader's contract in plain pandas on the whole log (one Python step per session)."""
    users = pd.factorize(frame["user"])[0]
    order = np.lexsort((frame["timestamp"].to_numpy(), users))  # stable: ties keep file order
    sessions, current, last = [], [], None
    for row in order:
        key = (users[row], frame["timestamp"].iloc[row])
        if current and (key[0] != last[0] or key[1] - last[1] > gap_minutes * 60):
            sessions.append(current)
            current = []
        current.append(frame["track"].iloc[row])
        last = key
    sessions.append(current)
    kept = [s for s in sessions if len(s) >= min_length]
    used = {t for s in kept for t in s}
    song_ids = [t for t in pd.unique(frame["track"]) if t in used]
    labels = {}
    for label in ("artist", "genre"):
        named = frame[frame[label].str.strip() != ""]
        first = named.drop_duplicates("track").set_index("track")[label]
        labels[label] = [first.get(t) for t in song_ids]
    return {"sessions": kept, "song_ids": song_ids, **labels}


def as_reference(dataset: Dataset) -> dict:
    ids = dataset.songs["song_id"].tolist()
    out = {"sessions": [[ids[s] for s in seq] for seq in dataset.sequences], "song_ids": ids}
    for label in ("artist", "genre"):
        out[label] = [None if pd.isna(v) else v for v in dataset.songs[label]]
    return out


def write_log(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    return path


def assert_same_dataset(a: Dataset, b: Dataset) -> None:
    assert a.name == b.name
    assert np.array_equal(a.sequences.indptr, b.sequences.indptr)
    assert np.array_equal(a.sequences.songs, b.sequences.songs)
    assert a.sequences.songs.dtype == np.int32
    pd.testing.assert_frame_equal(a.songs, b.songs)
    assert a.metadata == b.metadata


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_event_logs_read_in_chunks_give_one_dataset(tmp_path, suffix, seed, monkeypatch):
    frame = random_log(seed)
    path = write_log(frame, tmp_path / f"log{suffix}")
    batches = []
    opened = events._open_chunks

    def counting(*args):
        chunks, first = opened(*args)
        return (batches.append(1) or b for b in chunks), first

    monkeypatch.setattr(events, "_open_chunks", counting)
    gap, min_length = (5, 2) if seed == 2 else (30, 1)
    datasets = [
        read_events(path, gap_minutes=gap, min_length=min_length, chunk_rows=c) for c in CHUNKS
    ]
    for dataset in datasets[1:]:
        assert_same_dataset(dataset, datasets[0])
    assert as_reference(datasets[0]) == reference_sessions(frame, gap, min_length)
    assert len(batches) > 3 * len(frame) // 5  # chunk_rows = 1 and 2 read many chunks


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_errors_in_a_later_chunk_name_the_row_and_count_the_file(tmp_path, suffix):
    frame = random_log(3, n=40).astype({"timestamp": str})
    frame.loc[[25, 33], "timestamp"] = ["soon", "later"]
    path = write_log(frame, tmp_path / f"bad{suffix}")
    word = "line 27" if suffix == ".csv" else "row 26"
    for chunk in CHUNKS:
        with pytest.raises(DataError, match=rf"{word}: cannot parse the timestamp 'soon' .*2 unp"):
            read_events(path, chunk_rows=chunk)
    frame.loc[[25, 33], "timestamp"] = "1600000000"
    frame.loc[[30, 38], "user"] = ""
    frame.loc[39, "track"] = None
    path = write_log(frame, tmp_path / f"gaps{suffix}")
    word = "line 32" if suffix == ".csv" else "row 31"
    for chunk in CHUNKS:
        with pytest.raises(DataError, match=rf"{word}: no user .*3 row\(s\) lack"):
            read_events(path, chunk_rows=chunk)
        dropped = read_events(path, chunk_rows=chunk, drop_missing=True)
        assert dropped.metadata["rows_dropped_missing"] == 3
        assert dropped.sequences.n_events == 37


def arrow_peak_of_reading(path: Path, chunk_rows: int) -> int:
    """Arrow's peak memory while reading ``path`` (a fresh process: the peak cannot be reset)."""
    code = textwrap.dedent(
        f"""
        import pyarrow as pa
        from embench.data.events import read_events
        read_events({str(path)!r}, chunk_rows={chunk_rows})
        print(pa.default_memory_pool().max_memory())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return int(done.stdout.split()[-1])


def test_reading_a_log_in_chunks_bounds_arrows_memory(tmp_path):
    rng = np.random.default_rng(0)
    n = 600_000
    frame = pd.DataFrame(
        {
            "user": np.char.add("user", rng.integers(0, 2_000, n).astype(str)),
            "timestamp": 1_600_000_000 + rng.integers(0, 10**7, n),
            "track": np.char.add("track-", rng.integers(0, 50_000, n).astype(str)),
        }
    )
    path = write_log(frame, tmp_path / "big.csv")
    whole = arrow_peak_of_reading(path, n)  # one chunk: Arrow holds the whole text
    chunked = arrow_peak_of_reading(path, 5_000)
    assert chunked < whole / 4, (chunked, whole)


def write_sequences(directory: Path, lists, row_group_size: int = 3) -> None:
    directory.mkdir(exist_ok=True)
    pq.write_table(
        pa.table({"songs": pa.array(lists, type=pa.list_(pa.string()))}),
        directory / "sequences.parquet",
        row_group_size=row_group_size,
    )
    ids = sorted({s for seq in lists if seq for s in seq if s is not None} - {"zz", "yy"})
    pq.write_table(pa.table({"song_id": ids}), directory / "songs.parquet")


def read_in_chunks(directory: Path, chunk: int) -> Dataset:
    return read_parquet(directory, chunk_rows=chunk)


def test_canonical_parquet_read_and_written_in_chunks(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    lists = [
        rng.choice([f"s{i}" for i in range(9)], int(rng.integers(0, 6))).tolist() for _ in range(40)
    ]
    write_sequences(tmp_path / "in", lists)
    datasets = [read_in_chunks(tmp_path / "in", c) for c in CHUNKS]
    for dataset in datasets[1:]:
        assert_same_dataset(dataset, datasets[0])
    ids = datasets[0].songs["song_id"].tolist()
    assert [[ids[s] for s in seq] for seq in datasets[0].sequences] == [s for s in lists if s]
    # Written in chunks of 2 sequences: the same dataset comes back, in several row groups.
    monkeypatch.setattr(parquet, "CHUNK_SEQUENCES", 2)
    write_parquet(datasets[0], tmp_path / "out")
    assert pq.ParquetFile(tmp_path / "out" / "sequences.parquet").num_row_groups > 10
    again = read_parquet(tmp_path / "out")
    assert np.array_equal(again.sequences.songs, datasets[0].sequences.songs)
    assert np.array_equal(again.sequences.indptr, datasets[0].sequences.indptr)


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (
            [["s1", "zz"], ["zz", "yy"]],
            r"row 11 \(sequence\) mentions song 'zz'.*3 occurrence\(s\) of 2",
        ),
        ([["s1"], None, ["zz"]], r"row 12 has a null 'songs' list"),
        ([["zz"], ["s1", None]], r"row 12 holds a null song id"),
    ],
)
def test_canonical_parquet_errors_in_a_later_chunk(tmp_path, monkeypatch, tail, expected):
    write_sequences(tmp_path, [["s1", "s2"]] * 10 + tail)
    for chunk in CHUNKS:
        with pytest.raises(DataError, match=expected):
            read_in_chunks(tmp_path, chunk)


def test_take_selects_sequences_in_any_order():
    rng = np.random.default_rng(0)
    for _ in range(300):
        lists = [rng.integers(0, 9, int(rng.integers(0, 5))).tolist() for _ in range(7)]
        corpus = Sequences.from_lists(lists)
        for ids in (
            rng.integers(0, 7, int(rng.integers(0, 10))),  # repeats, any order
            np.sort(rng.choice(7, int(rng.integers(0, 8)), replace=False)),  # a split's part
        ):
            assert [s.tolist() for s in corpus.take(ids)] == [lists[i] for i in ids]
