"""`embench run` end to end on a tiny dataset: files written, figures consistent, reproducible."""

import json

import numpy as np
import pandas as pd
import pytest

from embench.cli import main
from tests.helpers import TINY_BENCHMARK, write_benchmark


def run(tmp_path, text=TINY_BENCHMARK, name="out"):
    bench = write_benchmark(tmp_path, text)
    out = tmp_path / name
    code = main(["run", str(bench), "--output", str(out), "--quiet"])
    return code, out


def test_run_writes_results(tmp_path, test_plugin):
    code, out = run(tmp_path)
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 3
    assert summary["versions"]["gensim"]
    names = [c["name"] for c in summary["configurations"]]
    assert names == ["default", "wide"]
    config = json.loads((out / "config.json").read_text())
    # Defaults are filled in and shared embedder settings merged with per-configuration params.
    assert config["configuration"][0]["params"]["vector_size"] == 16
    assert config["configuration"][1]["params"]["epochs"] == 2
    assert config["configuration"][1]["params"]["window"] == 10
    assert config["configuration"][0]["params"]["ns_exponent"] == 0.75
    vectors = np.load(out / "embeddings" / "default" / "vectors.npy")
    songs = pd.read_parquet(out / "embeddings" / "default" / "songs.parquet")
    assert vectors.dtype == np.float32 and vectors.shape == (len(songs), 16)
    assert not list(out.rglob("*.tmp"))


def test_per_query_values_recompute_the_summary(tmp_path, test_plugin):
    """Anyone can recompute HitRate from the exported per-query rows."""
    code, out = run(tmp_path)
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    per_query = pd.read_parquet(out / "per_query" / "next_song.parquet")
    for row in summary["configurations"]:
        rows = per_query[per_query.configuration == row["name"]]
        for part in ("in", "out"):
            sel = rows[rows.set == part]
            assert row["metrics"][f"hitrate_{part}"] == pytest.approx(sel.hit.mean())
            assert row["metrics"][f"ndcg_{part}"] == pytest.approx(sel.ndcg.mean())


def test_exported_vectors_reproduce_the_hits(tmp_path, test_plugin):
    """Neighbours recomputed from vectors.npy + songs.parquet give the recorded ranks."""
    code, out = run(tmp_path)
    assert code == 0
    vectors = np.load(out / "embeddings" / "default" / "vectors.npy").astype(np.float64)
    songs = pd.read_parquet(out / "embeddings" / "default" / "songs.parquet")
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    row_of = dict(zip(songs.song_id, songs.row, strict=True))
    per_query = pd.read_parquet(out / "per_query" / "next_song.parquet")
    rows = per_query[per_query.configuration == "default"].head(200)
    for query, target, rank in zip(rows.query_song, rows.target_song, rows["rank"], strict=True):
        if query not in row_of or target not in row_of or query == target:
            assert rank == 0
            continue
        sims = unit @ unit[row_of[query]]
        sims[row_of[query]] = -np.inf
        position = int((sims > sims[row_of[target]]).sum()) + 1
        assert (rank == position) if position <= 100 else rank == 0


def test_same_seed_one_worker_is_reproducible(tmp_path, test_plugin):
    code_a, out_a = run(tmp_path, name="a")
    code_b, out_b = run(tmp_path, name="b")
    assert code_a == code_b == 0
    a = json.loads((out_a / "summary.json").read_text())["configurations"]
    b = json.loads((out_b / "summary.json").read_text())["configurations"]
    assert [c["metrics"] for c in a] == [c["metrics"] for c in b]
    pa = pd.read_parquet(out_a / "per_query" / "next_song.parquet")
    pb = pd.read_parquet(out_b / "per_query" / "next_song.parquet")
    pd.testing.assert_frame_equal(pa, pb)
    np.testing.assert_array_equal(
        np.load(out_a / "embeddings/default/vectors.npy"),
        np.load(out_b / "embeddings/default/vectors.npy"),
    )


def test_test_only_embedder_runs_like_a_builtin(tmp_path, test_plugin):
    text = TINY_BENCHMARK + '\n[[configuration]]\nname = "rnd"\nembedder = "random"\n'
    code, out = run(tmp_path, text)
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    rnd = summary["configurations"][-1]
    assert rnd["embedder"] == "random" and rnd["status"] == "ok"
    assert 0 <= rnd["metrics"]["hitrate"] <= 1
