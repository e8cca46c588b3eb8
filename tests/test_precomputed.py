"""The precomputed embedder: vectors from .npy + Parquet ids, matched to the dataset's songs."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import embench
from embench.cli import main
from embench.errors import DataError, PluginError
from embench_plugins.precomputed import Precomputed, PrecomputedOptions, load_precomputed
from tests.helpers import write_benchmark

DATASET_IDS = np.array([f"s{i}" for i in range(10)], dtype=object)


def write_files(directory, ids, vectors=None, *, dim=4, rows=None, name="model"):
    vectors = (
        np.arange(len(ids) * dim, dtype=np.float64).reshape(len(ids), dim) + 1
        if vectors is None
        else vectors
    )
    vectors_path, songs_path = directory / f"{name}.npy", directory / f"{name}.parquet"
    np.save(vectors_path, vectors)
    table = {"song_id": ids}
    if rows is not None:
        table["row"] = rows
    pd.DataFrame(table).to_parquet(songs_path, index=False)
    return vectors_path, songs_path, vectors


def test_rows_are_matched_to_dataset_songs_by_id(tmp_path):
    ids = ["s7", "s2", "s9", "s0"]
    vectors_path, songs_path, vectors = write_files(tmp_path, ids)
    embedding = load_precomputed(vectors_path, songs_path, DATASET_IDS)
    assert embedding.song_index.tolist() == [0, 2, 7, 9]
    expected = vectors[[3, 1, 0, 2]].astype(np.float32)
    assert np.array_equal(embedding.vectors, expected)
    assert embedding.vectors.dtype == np.float32


def test_row_column_and_integer_ids(tmp_path):
    vectors_path, songs_path, vectors = write_files(tmp_path, [3, 1, 5], rows=[2, 0, 1])
    dataset_ids = np.array([str(i) for i in range(10)])
    embedding = load_precomputed(vectors_path, songs_path, dataset_ids)
    assert embedding.song_index.tolist() == [1, 3, 5]
    assert np.array_equal(embedding.vectors, vectors[[0, 2, 1]].astype(np.float32))


def test_relative_paths_resolve_against_the_working_directory(tmp_path, monkeypatch):
    write_files(tmp_path, ["s1", "s2"])
    monkeypatch.chdir(tmp_path)
    embedding = load_precomputed("model.npy", "model.parquet", DATASET_IDS)
    assert len(embedding) == 2


def test_unknown_songs_are_named_or_dropped(tmp_path):
    ids = ["s1", "x1", "s3", "x2", "x3", "x4", "x5", "x6", "x7"]
    vectors_path, songs_path, _ = write_files(tmp_path, ids)
    with pytest.raises(DataError) as info:
        load_precomputed(vectors_path, songs_path, DATASET_IDS)
    message = str(info.value)
    assert "7 of 9 song ids are not in the dataset" in message
    assert "'x1', 'x2'" in message and "and 2 more" in message and "unknown_songs" in message
    embedding = load_precomputed(vectors_path, songs_path, DATASET_IDS, unknown_songs="ignore")
    assert embedding.song_index.tolist() == [1, 3]


def test_no_known_song_at_all_shows_the_dataset_ids(tmp_path):
    vectors_path, songs_path, _ = write_files(tmp_path, ["a", "b"])
    with pytest.raises(DataError, match=r"2 of 2 song ids.*look like 's0', 's1', 's2'"):
        load_precomputed(vectors_path, songs_path, DATASET_IDS, unknown_songs="ignore")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: write_files(d, ["s1", "s2"], np.ones((3, 4))), "2 song ids for 3 vectors"),
        (lambda d: write_files(d, ["s1", "s2", "s1"]), "listed more than once: 's1'"),
        (lambda d: write_files(d, ["s1", "s2"], np.ones(2)), "expected a 2-D array"),
        (lambda d: write_files(d, ["s1", "s2"], np.ones((2, 0))), "dimension 0"),
        (
            lambda d: write_files(d, ["s1", "s2"], np.array([[1.0, np.nan], [1.0, 2.0]])),
            "1 vector(s) contain NaN or infinite values, e.g. of song(s) 's1'",
        ),
        (
            lambda d: write_files(d, ["s1", "s2"], np.array([["a", "b"], ["c", "d"]])),
            "expected numbers, found dtype <U1",
        ),
        (
            lambda d: write_files(d, ["s1", "s2"], np.array([[1, {}], [2, 3]], dtype=object)),
            "not a numeric .npy array",
        ),
        (lambda d: write_files(d, ["s1", "s2"], rows=[0, 0]), "every vector row 0..1 once"),
    ],
)
def test_bad_files_raise_a_data_error_naming_the_file(tmp_path, make, expected):
    vectors_path, songs_path, _ = make(tmp_path)
    with pytest.raises(DataError) as info:
        load_precomputed(vectors_path, songs_path, DATASET_IDS)
    assert expected in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_missing_files_and_columns(tmp_path):
    vectors_path, songs_path, _ = write_files(tmp_path, ["s1"])
    with pytest.raises(DataError, match="file not found .precomputed vectors"):
        load_precomputed(tmp_path / "nope.npy", songs_path, DATASET_IDS)
    with pytest.raises(DataError, match="file not found .song ids"):
        load_precomputed(vectors_path, tmp_path / "nope.parquet", DATASET_IDS)
    with pytest.raises(DataError, match="missing column.*'item'"):
        load_precomputed(vectors_path, songs_path, DATASET_IDS, id_column="item")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        load_precomputed(vectors_path, tmp_path / "bad.parquet", DATASET_IDS)
    pd.DataFrame({"song_id": ["s1", None]}).to_parquet(tmp_path / "null.parquet")
    np.save(tmp_path / "two.npy", np.ones((2, 3)))
    with pytest.raises(DataError, match="1 empty song id"):
        load_precomputed(tmp_path / "two.npy", tmp_path / "null.parquet", DATASET_IDS)


def test_fit_uses_the_corpus_song_ids(tmp_path):
    vectors_path, songs_path, _ = write_files(tmp_path, ["s1", "s2", "s8"])
    corpus = SimpleNamespace(
        indptr=np.array([0, 3]), songs=np.array([1, 2, 3], dtype=np.int32), song_ids=DATASET_IDS
    )
    params = PrecomputedOptions(vectors=str(vectors_path), songs=str(songs_path))
    seen = []
    monitor = embench.TrainingMonitor(on_progress=seen.append)
    embedding = Precomputed().fit(corpus, params, seed=0, threads=1, monitor=monitor)
    assert embedding.song_index.tolist() == [1, 2, 8] and seen == [1.0]
    params.only_training_songs = True
    embedding = Precomputed().fit(corpus, params, seed=0, threads=1, monitor=monitor)
    assert embedding.song_index.tolist() == [1, 2]


def test_fit_without_song_ids_says_what_is_missing(tmp_path):
    vectors_path, songs_path, _ = write_files(tmp_path, ["s1"])
    corpus = SimpleNamespace(indptr=np.array([0, 1]), songs=np.array([1], dtype=np.int32))
    params = PrecomputedOptions(vectors=str(vectors_path), songs=str(songs_path))
    with pytest.raises(PluginError, match="needs the dataset's song ids"):
        Precomputed().fit(corpus, params, seed=0, threads=1, monitor=embench.TrainingMonitor())


def test_options_are_required_and_nothing_is_searched():
    with pytest.raises(ValueError, match="vectors"):
        PrecomputedOptions(songs="x.parquet")
    assert Precomputed.search_space == {}


EXPORT_BENCHMARK = """
[benchmark]
name = "export"
seed = 4
threads = 1
[dataset]
plugin = "tiny"
[split]
train = 0.8
validation = 0.1
test = 0.1
[[configuration]]
name = "w2v"
[configuration.params]
vector_size = 8
epochs = 2
[metrics.next_song]
k = 10
[metrics.vrc_genre]
"""

IMPORT_CONFIG = """
[[configuration]]
name = "loaded"
embedder = "precomputed"
[configuration.params]
vectors = "{vectors}"
songs = "{songs}"
"""


def test_precomputed_round_trip_through_embench_run(tmp_path, test_plugin):
    """An embedding exported by ``embench run`` loads back with the same figures.

    Needs the harness to pass the dataset's song ids to ``fit`` (``corpus.song_ids``)."""
    first = tmp_path / "first"
    bench = write_benchmark(tmp_path, EXPORT_BENCHMARK)
    assert main(["run", str(bench), "-o", str(first), "-q"]) == 0
    exported = first / "embeddings" / "w2v"
    text = EXPORT_BENCHMARK.replace('name = "export"', 'name = "import"') + IMPORT_CONFIG.format(
        vectors=exported / "vectors.npy", songs=exported / "songs.parquet"
    )
    second = tmp_path / "second"
    code = main(
        ["run", str(write_benchmark(tmp_path, text, "again.toml")), "-o", str(second), "-q"]
    )
    rows = {
        r["name"]: r for r in json.loads((second / "summary.json").read_text())["configurations"]
    }
    assert rows["loaded"]["status"] == "ok", rows["loaded"]["error"]
    assert code == 0
    assert rows["loaded"]["metrics"] == pytest.approx(rows["w2v"]["metrics"])

    def by_song(directory):  # rows are in the embedder's order: compare song by song
        ids = pd.read_parquet(directory / "songs.parquet")["song_id"]
        return dict(zip(ids, np.load(directory / "vectors.npy"), strict=True))

    original, loaded = by_song(exported), by_song(second / "embeddings" / "loaded")
    assert original.keys() == loaded.keys()
    assert all(np.array_equal(original[k], loaded[k]) for k in original)


def test_bad_precomputed_files_fail_the_configuration_with_the_file_named(tmp_path, test_plugin):
    missing = tmp_path / "missing.npy"
    text = EXPORT_BENCHMARK + IMPORT_CONFIG.format(
        vectors=missing, songs=tmp_path / "missing.parquet"
    )
    out = tmp_path / "out"
    assert main(["run", str(write_benchmark(tmp_path, text)), "-o", str(out), "-q"]) == 1
    rows = {r["name"]: r for r in json.loads((out / "summary.json").read_text())["configurations"]}
    assert rows["loaded"]["status"] == "failed"
    assert rows["w2v"]["status"] == "ok"
    error = rows["loaded"]["error"]
    assert "embedder 'precomputed'" in error and f"{missing}: file not found" in error
