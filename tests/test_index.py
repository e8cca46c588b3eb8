"""Neighbour-index plugins: [index] in the benchmark file, annoy, recall against exact."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import embench
from embench.benchmark import load_benchmark
from embench.cli import main
from embench.context import EvalContext
from embench.errors import PluginError
from embench.evaluation import IndexSearch, evaluate
from embench.index import ExactIndex, IndexChoice, recall_at_k
from embench.neighbours import exact_top_k, normalise
from embench_plugins.annoy_index import AnnoyIndex, AnnoyOptions
from embench_plugins.clustering import VrcGenre, VrcGenreOptions
from embench_plugins.next_song import NextSong, NextSongOptions
from tests.helpers import TINY_BENCHMARK, write_benchmark
from tests.test_sampling import clustered_context


# -- annoy ---------------------------------------------------------------------------------------
def test_annoy_equals_exact_on_a_tiny_catalogue_with_enough_trees():
    vectors = normalise(np.random.default_rng(1).normal(size=(80, 12)))
    searcher = AnnoyIndex().build(vectors, AnnoyOptions(n_trees=60), seed=0, threads=1)
    queries = np.arange(80)
    found = searcher.search(queries, 10, threads=1)
    assert np.array_equal(found, exact_top_k(vectors, 10).rows)


def test_annoy_is_seeded_and_pads_beyond_the_catalogue():
    vectors = normalise(np.random.default_rng(2).normal(size=(300, 8)))
    options = AnnoyOptions(n_trees=2, search_k=30)
    first = (
        AnnoyIndex()
        .build(vectors, options, seed=5, threads=1)
        .search(np.arange(300), 20, threads=2)
    )
    again = (
        AnnoyIndex()
        .build(vectors, options, seed=5, threads=1)
        .search(np.arange(300), 20, threads=1)
    )
    assert np.array_equal(first, again)
    tiny = AnnoyIndex().build(vectors[:4], AnnoyOptions(), seed=0, threads=1)
    found = tiny.search(np.arange(4), 6, threads=1)
    assert (found[:, :3] >= 0).all() and (found[:, 3:] == -1).all()


# -- recall --------------------------------------------------------------------------------------
def test_recall_at_k_counts_the_exact_neighbours_found():
    exact = np.array([[1, 2, 3, 4], [0, 2, -1, -1], [-1, -1, -1, -1]])
    found = np.array([[4, 9, 1, 8], [2, 0, -1, -1], [5, -1, -1, -1]])
    recall = recall_at_k(found, exact)
    assert recall[:2].tolist() == [0.5, 1.0] and np.isnan(recall[2])


class HalfIndex(embench.NeighbourIndex):
    """The exact top-k with its second half replaced by the farthest rows: recall 1/2."""

    name = "half"
    built = 0

    def build(self, vectors, options, *, seed, threads):
        type(self).built += 1
        self.vectors = vectors
        return self

    def search(self, queries, k, *, threads):
        exact = exact_top_k(self.vectors, k, queries=queries).rows.astype(np.int64)
        far = np.argsort(self.vectors[queries] @ self.vectors.T, axis=1)  # least similar first
        keep = k // 2
        out = exact.copy()
        for i, q in enumerate(queries):
            tail = [r for r in far[i] if r != q and r not in exact[i]]
            out[i, keep:] = tail[: k - keep]
        return out


def half_index() -> IndexChoice:
    class Counted(HalfIndex):
        built = 0

    return IndexChoice("half", Counted, embench.Options(), recall_queries=50)


def test_recall_is_measured_on_a_seeded_sample_and_reported_beside_the_metrics():
    ctx = clustered_context()
    choice = half_index()
    evaluation = evaluate(
        ctx,
        [
            ("next_song", NextSong(), NextSongOptions(k=10, max_queries=200)),
            ("vrc_genre", VrcGenre(), VrcGenreOptions()),
        ],
        index=choice,
    )
    report = evaluation.index
    assert choice.cls.built == 1  # built once for the embedding
    assert report.approximate and report.k == 10 and report.recall == pytest.approx(0.5)
    assert report.recall_interval.n == 50 and report.recall_interval.sampled
    # next-song read neighbours through the index, VRC did not
    assert evaluation.approximate == list(NextSong.values)
    summary = report.to_json()
    assert summary["plugin"] == "half" and summary["recall"] == pytest.approx(0.5)
    assert summary["values"] == list(NextSong.values)


def test_the_index_is_built_once_per_embedding():
    choice = half_index()
    search = IndexSearch(choice, seed=0)
    vectors = np.random.default_rng(0).normal(size=(30, 4))
    first = search(vectors, 4, queries=np.array([0, 1]))
    search(vectors, 6, queries=np.array([2]))
    search(vectors, 4)
    assert choice.cls.built == 1 and first.rows.shape == (2, 4)
    search(vectors.copy(), 4, queries=np.array([0]))  # another embedding: a new index
    assert choice.cls.built == 2


def test_the_exact_plugin_gives_the_default_figures_and_no_recall():
    default = evaluate(clustered_context(), [("next_song", NextSong(), NextSongOptions(k=10))])
    chosen = evaluate(
        clustered_context(),
        [("next_song", NextSong(), NextSongOptions(k=10))],
        index=IndexChoice("exact", ExactIndex),
    )
    assert chosen.values == default.values
    assert chosen.index.recall is None and chosen.approximate == []
    assert default.index is None


def test_an_exact_answer_through_annoy_has_recall_one():
    ctx = clustered_context()
    choice = IndexChoice("annoy", AnnoyIndex, AnnoyOptions(n_trees=40, search_k=100_000))
    evaluation = evaluate(ctx, [("next_song", NextSong(), NextSongOptions(k=5))], index=choice)
    assert evaluation.index.recall == 1.0
    exact = evaluate(clustered_context(), [("next_song", NextSong(), NextSongOptions(k=5))])
    assert evaluation.values == pytest.approx(exact.values)


class Broken(embench.NeighbourIndex):
    name = "broken"
    answer = "self"

    def build(self, vectors, options, *, seed, threads):
        return self

    def search(self, queries, k, *, threads):
        out = (queries[:, None] + 1 + np.arange(k)) % 150  # distinct other rows
        if self.answer == "self":
            out[:, 0] = queries
        elif self.answer == "twice":
            out[:, 1] = out[:, 0]
        elif self.answer == "shape":
            out = out[:, :-1]
        elif self.answer == "raise":
            raise RuntimeError("index file missing")
        return out


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("self", "a query as its own neighbour"),
        ("twice", "a neighbour twice"),
        ("shape", "expected integers of shape"),
        ("raise", "raised in search: RuntimeError: index file missing"),
    ],
)
def test_an_invalid_index_answer_names_the_index(answer, message):
    class Answer(Broken):
        pass

    Answer.answer = answer
    ctx: EvalContext = clustered_context()
    with pytest.raises(PluginError, match=f"index 'broken'.*{message}"):
        evaluate(
            ctx,
            [("next_song", NextSong(), NextSongOptions(k=4))],
            index=IndexChoice("broken", Answer),
        )


# -- the benchmark file --------------------------------------------------------------------------
ANNOY = TINY_BENCHMARK + '\n[index]\nplugin = "annoy"\n'


def test_index_section_resolves_the_plugin_and_its_options(tmp_path, test_plugin):
    text = ANNOY + "recall_queries = 30\n[index.options]\nn_trees = 7\n"
    benchmark = load_benchmark(write_benchmark(tmp_path, text))
    assert benchmark.index.name == "annoy" and benchmark.index.cls is AnnoyIndex
    assert benchmark.index.options.n_trees == 7 and benchmark.index.recall_queries == 30
    assert benchmark.resolved()["index"]["options"]["search_k"] == -1
    default = load_benchmark(write_benchmark(tmp_path, TINY_BENCHMARK, "plain.toml"))
    assert default.index.name == "exact" and not default.index.approximate


def cli_error(tmp_path, capsys, text: str) -> str:
    out = tmp_path / "out"
    code = main(["run", str(write_benchmark(tmp_path, text)), "--output", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert not out.exists(), "nothing may be trained or written for bad input"
    return " ".join(err.split())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            TINY_BENCHMARK + '[index]\nplugin = "anoy"\n',
            ["[index.plugin]", "unknown index 'anoy'", "did you mean 'annoy'"],
        ),
        (ANNOY + "[index.options]\nn_trees = 0\n", ["[index.options.n_trees]", "greater than"]),
        (ANNOY + "[index.options]\nsearch_k = -2\n", ["[index.options.search_k]"]),
        (ANNOY + "[index.options]\ntrees = 5\n", ["unknown key 'trees'", "did you mean 'n_trees'"]),
        (ANNOY + "recall_queries = 0\n", ["[index.recall_queries]"]),
        (TINY_BENCHMARK + "[metrics.next_song]\nmax_queries = 0\n", ["max_queries"]),
        (TINY_BENCHMARK + "[metrics.hardneg]\nmax_songs = 0\n", ["max_songs"]),
    ],
)
def test_bad_index_and_sampling_settings_fail_before_training(
    tmp_path, capsys, test_plugin, text, expected
):
    err = cli_error(tmp_path, capsys, text)
    for part in expected:
        assert part in err, err


def test_a_run_through_annoy_records_recall_and_marks_the_figures(tmp_path, capsys, test_plugin):
    text = ANNOY.replace('[[configuration]]\nname = "wide"', '[[configuration]]\nname = "wide"')
    text += (
        "recall_queries = 20\n[metrics.next_song]\nk = 5\nmax_queries = 15\n[metrics.vrc_genre]\n"
    )
    out = tmp_path / "out"
    assert main(["run", str(write_benchmark(tmp_path, text)), "--output", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    row = summary["configurations"][0]
    index = row["index"]
    assert index["plugin"] == "annoy" and index["approximate"] and index["k"] == 5
    assert 0 <= index["recall"] <= 1 and index["recall_interval"]["n"] <= 20
    assert set(index["values"]) == set(NextSong.values)
    assert row["intervals"]["hitrate"]["n"] == 30 and row["intervals"]["hitrate_out"]["n"] == 15
    printed = capsys.readouterr().out
    assert re.search(r"\u2248\d\.\d{4}", printed), "approximate figures are marked"
    assert re.search(r"\d\.\d{4} \u00b1\d\.\d{4}", printed), "sampled figures show a half-width"
    assert "recall@5" in printed and "sampled, n = 30 of" in printed


class IndexPlugin:
    """A third-party index plugin, registered through the hook."""

    @embench.hookimpl
    def register_indexes(self, register):
        register(HalfIndex)


def test_a_plugin_index_is_listed_chosen_and_its_recall_recorded(
    tmp_path, capsys, test_plugin, register_plugin
):
    register_plugin("half-index", IndexPlugin())
    assert main(["plugins"]) == 0
    assert "half" in capsys.readouterr().out
    text = TINY_BENCHMARK + '[index]\nplugin = "half"\n[metrics.next_song]\nk = 6\n'
    out = tmp_path / "out"
    assert main(["run", str(write_benchmark(tmp_path, text)), "--output", str(out)]) == 0
    for row in json.loads((out / "summary.json").read_text())["configurations"]:
        assert row["index"]["plugin"] == "half" and row["index"]["recall"] == pytest.approx(0.5)
