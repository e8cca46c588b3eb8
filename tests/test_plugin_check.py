"""``check_embedder`` / ``check_metric`` / ``embench check-plugin``, and broken plugins through
``embench run``: clear errors naming them."""

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import Field
from rich.console import Console

import embench
from embench.checks import CheckFailed, check_embedder, check_metric, check_plugin
from embench.cli import main
from embench.errors import ConfigError, PluginError
from embench.plugin_check import parse_assignments, problems_table
from tests.helpers import RandomEmbedder, write_benchmark


class BrokenOptions(embench.Options):
    dim: int = 4


def _songs(corpus):
    return np.unique(corpus.songs)


class WrongShape(embench.Embedder):
    """One vector too few."""

    name = "wrong-shape"
    Options = BrokenOptions

    def fit(self, corpus, params, *, seed, threads, monitor):
        songs = _songs(corpus)
        return embench.Embedding(songs, np.ones((len(songs) - 1, params.dim)))


class NanVectors(embench.Embedder):
    name = "nan-vectors"
    Options = BrokenOptions

    def fit(self, corpus, params, *, seed, threads, monitor):
        songs = _songs(corpus)
        vectors = np.ones((len(songs), params.dim))
        vectors[:3] = np.nan
        return embench.Embedding(songs, vectors)


class OutsideCatalogue(embench.Embedder):
    name = "outside"
    Options = BrokenOptions

    def fit(self, corpus, params, *, seed, threads, monitor):
        songs = _songs(corpus) + 1000
        return embench.Embedding(songs, np.random.default_rng(0).normal(size=(len(songs), 4)))


class RaisingFit(embench.Embedder):
    name = "raising-fit"
    Options = BrokenOptions

    def fit(self, corpus, params, *, seed, threads, monitor):
        raise RuntimeError("the model exploded")


class NotAnEmbedding(embench.Embedder):
    name = "not-embedding"
    Options = BrokenOptions

    def fit(self, corpus, params, *, seed, threads, monitor):
        return {"vectors": []}


class HalfCoverage(embench.Embedder):
    """Vectors for half the training songs, zero vectors, no progress, unseeded."""

    name = "half"
    Options = BrokenOptions

    def fit(self, corpus, params, *, seed, threads, monitor):
        songs = _songs(corpus)[::2]
        vectors = np.random.default_rng().normal(size=(len(songs), params.dim))
        vectors[0] = 0
        return embench.Embedding(songs, vectors)


class PositiveOptions(embench.Options):
    dim: int = Field(4, ge=1)


class BadSpace(embench.Embedder):
    name = "bad-space"
    Options = PositiveOptions
    search_space = {
        "dim": embench.Dimension(0, 8, integer=True),  # the Options reject 0
        "dimension": embench.Dimension(1, 8),  # not an option
    }

    def fit(self, corpus, params, *, seed, threads, monitor):
        songs = _songs(corpus)
        monitor.progress(1.0)
        return embench.Embedding(songs, np.random.default_rng(seed).normal(size=(len(songs), 4)))


class BrokenEmbedders:
    @embench.hookimpl
    def register_embedders(self, register):
        for cls in (WrongShape, NanVectors, OutsideCatalogue, RaisingFit, NotAnEmbedding):
            register(cls)
        register(HalfCoverage)
        register(BadSpace)


@pytest.fixture
def broken(register_plugin):
    return register_plugin("broken-embedders", BrokenEmbedders())


EMBEDDING_BREAKS = [
    ("wrong-shape", "embedding", "returned an invalid embedding: 59 vectors for 60 songs"),
    ("nan-vectors", "embedding", "3 vectors contain NaN or infinite values (songs 0, 1, 2)"),
    ("outside", "embedding", "60 song indices are outside the catalogue of 60 songs"),
    ("raising-fit", "fit", "raised in fit: RuntimeError: the model exploded at "),
    ("not-embedding", "embedding", "expected an embench.Embedding, got dict"),
]


@pytest.mark.parametrize(("name", "check", "expected"), EMBEDDING_BREAKS)
def test_broken_embedders_are_reported_with_plugin_and_problem(broken, name, check, expected):
    report = check_plugin(name)
    assert not report.ok
    (problem,) = report.errors
    assert problem.check == check and expected in problem.message
    assert f"embedder '{name}'" in problem.message and "broken-embedders" in problem.message


@pytest.mark.parametrize(("name", "check", "expected"), EMBEDDING_BREAKS)
def test_check_embedder_on_a_class_raises_with_the_report(name, check, expected):
    cls = {c.name: c for c in (WrongShape, NanVectors, OutsideCatalogue, RaisingFit)}.get(name)
    cls = cls or NotAnEmbedding
    with pytest.raises(CheckFailed) as failed:
        check_embedder(cls)  # not registered anywhere: validated as the registry would
    (problem,) = failed.value.report.errors
    assert problem.check == check and expected in problem.message
    assert f"embedder '{name}' (plugin tests.test_plugin_check" in str(failed.value)
    report = check_embedder(cls, raise_on_error=False)
    assert [p.message for p in report.errors] == [problem.message]


def test_raising_fit_names_the_line(broken):
    (problem,) = check_plugin("raising-fit").errors
    assert "test_plugin_check.py:" in problem.message


def test_warnings_do_not_fail_the_check(broken):
    report = check_embedder("half")  # warnings only: no CheckFailed
    assert report.ok and not report.errors
    checks = {p.check: p.message for p in report.warnings}
    assert "30 of 60 training songs have no vector" in checks["coverage"]
    assert "1 zero vectors" in checks["vectors"]
    assert "never called monitor.progress" in checks["progress"]
    assert "gave different embeddings" in checks["reproducible"]


def test_search_space_is_checked_against_the_options(broken):
    report = check_plugin("bad-space")
    messages = [p.message for p in report.errors if p.check == "search_space"]
    assert any("'dimension', which is not an option (available: dim)" in m for m in messages)
    assert any("search_space['dim'] low value 0 is rejected" in m for m in messages)
    assert report.notes  # the fit still ran


def test_a_class_without_fit_or_name_is_refused():
    class NoFit(embench.Embedder):
        name = "no-fit"

    report = check_embedder(NoFit, raise_on_error=False)
    assert [(p.check, p.message) for p in report.errors] == [
        ("declaration", "does not implement fit(corpus, params, *, seed, threads, monitor)")
    ]
    assert not report.notes  # nothing was run

    class Nameless(RandomEmbedder):
        name = "Not A Name"

    with pytest.raises(PluginError, match="needs a `name` of lower-case letters"):
        check_embedder(Nameless)


def test_options_are_validated_and_accepted_as_a_model():
    report = check_embedder(RandomEmbedder, RandomEmbedder.Options(dim=3))
    assert "vectors of dimension 3" in report.notes[0]
    with pytest.raises(ConfigError, match="dim"):
        check_embedder(RandomEmbedder, {"dim": 0})


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("word2vec", {"vector_size": 8, "epochs": 1}),
        ("pmi_svd", {"vector_size": 8}),
        ("next_song", {"k": 10}),
        ("vrc_genre", {}),
        ("play_prediction", {}),
    ],
)
def test_builtins_pass(name, options):
    report = check_plugin(name, options=options)
    assert report.ok, report.problems
    assert report.notes


def test_cli_exit_codes_and_table(broken, capsys):
    assert main(["check-plugin", "pmi_svd", "--set", "vector_size=8"]) == 0
    out = capsys.readouterr().out
    assert "no contract violations" in out and "60 vectors of dimension 8" in out
    assert main(["check-plugin", "nan-vectors"]) == 1
    out = capsys.readouterr().out
    assert "error [embedding] embedder 'nan-vectors' (plugin broken-embedders" in out
    assert "1 contract violation" in out
    assert main(["check-plugin", "word2vek"]) == 2
    assert "did you mean 'word2vec'?" in capsys.readouterr().err
    assert main(["check-plugin", "word2vec", "--kind", "metric"]) == 2
    assert "not a metric but an embedder" in capsys.readouterr().err
    assert main(["check-plugin", "nevergrad"]) == 2
    assert "is an optimiser" in capsys.readouterr().err
    assert main(["check-plugin", "precomputed"]) == 2
    err = capsys.readouterr().err
    assert "required options (vectors, songs)" in err and "--set" in err


def test_problems_table_for_a_terminal(broken):
    console = Console(record=True, width=200)
    console.print(problems_table(check_plugin("half")))
    text = console.export_text()
    assert "problems of embedder 'half'" in text and "30 of 60 training songs" in text


def test_set_values_are_read_as_toml():
    assert parse_assignments(["k=10", "a=0.5", "name=text", 'q="x=y"', "on=true"]) == {
        "k": 10,
        "a": 0.5,
        "name": "text",
        "q": "x=y",
        "on": True,
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_assignments(["novalue"])


def test_misspelled_hook_is_reported_by_check_plugin(register_plugin, capsys):
    class Misspelled:
        @embench.hookimpl
        def register_embeders(self, register):
            register(RandomEmbedder)

    register_plugin("typo-plugin", Misspelled())
    assert main(["check-plugin", "word2vec"]) == 2
    err = capsys.readouterr().err
    assert "typo-plugin" in err and "register_embeders" in err


# -- metrics ---------------------------------------------------------------------------------
class Score(embench.Metric):
    """A well-behaved base: one value, no neighbours."""

    name = "score"
    values = {"score": embench.Value("max")}

    def compute(self, ctx, options):
        return embench.MetricResult(values={"score": 0.5})


class Undeclared(Score):
    name = "undeclared"

    def compute(self, ctx, options):
        return embench.MetricResult(values={"score": 0.5, "extra": 1.0})


class NanValue(Score):
    name = "nan-value"

    def compute(self, ctx, options):
        return embench.MetricResult(values={"score": float("nan")})


class NanWhenSongsMiss(Score):
    """NaN as soon as a song has no vector (instead of counting a miss)."""

    name = "nan-when-songs-miss"

    def compute(self, ctx, options):
        missing = (ctx.rows < 0).any()
        return embench.MetricResult(values={"score": float("nan") if missing else 1.0})


class InfiniteValue(Score):
    name = "infinite-value"

    def compute(self, ctx, options):
        return embench.MetricResult(values={"score": float("inf")})


class TextValue(Score):
    name = "text-value"

    def compute(self, ctx, options):
        return embench.MetricResult(values={"score": "high"})


class RaisingCompute(Score):
    name = "raising-compute"

    def compute(self, ctx, options):
        raise KeyError("genre_id")


class CrashesOnMissingSongs(Score):
    """Indexes vectors by song index: breaks as soon as a song has no vector."""

    name = "needs-every-song"

    def compute(self, ctx, options):
        rows = ctx.rows[np.arange(ctx.dataset.n_songs)]
        if (rows < 0).any():
            raise IndexError("song without a vector")
        return embench.MetricResult(values={"score": 1.0})


class BadPerQuery(Score):
    name = "bad-per-query"
    values = {"score": embench.Value("max", per_query="hit")}
    query_keys = ("query",)

    def compute(self, ctx, options):
        return embench.MetricResult(values={"score": 1.0}, per_query=pd.DataFrame({"x": [1]}))


class MissingQueryKey(BadPerQuery):
    name = "missing-query-key"

    def compute(self, ctx, options):
        return embench.MetricResult(values={"score": 1.0}, per_query=pd.DataFrame({"hit": [1]}))


class NotAResult(Score):
    name = "not-a-result"

    def compute(self, ctx, options):
        return {"score": 1.0}


class UndeclaredNeighbours(Score):
    """Reads neighbours without declaring them in neighbours()."""

    name = "undeclared-neighbours"

    def compute(self, ctx, options):
        ctx.song_neighbours(np.arange(3), 5)
        return embench.MetricResult(values={"score": 1.0})


class Silent(Score):
    name = "silent"
    values = {"score": embench.Value("max"), "other": embench.Value("min")}


class BrokenMetrics:
    @embench.hookimpl
    def register_metrics(self, register):
        for cls in METRICS:
            register(cls)


METRICS = (
    Undeclared,
    NanValue,
    NanWhenSongsMiss,
    InfiniteValue,
    TextValue,
    RaisingCompute,
    CrashesOnMissingSongs,
    BadPerQuery,
    MissingQueryKey,
    NotAResult,
    UndeclaredNeighbours,
)


@pytest.mark.parametrize(
    ("name", "check", "expected"),
    [
        ("undeclared", "compute", "reported 'extra', not declared in `values` (declared: score)"),
        ("nan-value", "values", "on a healthy dataset: NaN value(s): {'score': nan}"),
        ("nan-when-songs-miss", "missing songs", "NaN value(s) ['score'] when a fifth"),
        ("infinite-value", "compute", "returned an invalid result: infinite value(s)"),
        ("text-value", "compute", "values must be real numbers, found {'score': 'high'}"),
        ("raising-compute", "compute", "raised: KeyError: 'genre_id'"),
        ("needs-every-song", "compute", "failed on an embedding that misses songs"),
        ("bad-per-query", "compute", "per-query column 'hit', which per_query lacks"),
        ("missing-query-key", "compute", "query_keys ['query'] are not columns of per_query"),
        ("not-a-result", "compute", "returned dict, not an embench.MetricResult"),
        ("undeclared-neighbours", "compute", "its neighbours() requested none"),
    ],
)
def test_broken_metrics_are_reported(register_plugin, name, check, expected):
    register_plugin("broken-metrics", BrokenMetrics())
    report = check_plugin(name)
    assert not report.ok
    assert any(p.check == check and expected in p.message for p in report.errors), report.errors
    assert all(f"metric '{name}'" in p.message for p in report.errors if p.check == "compute")


def test_check_metric_on_classes():
    assert check_metric(Score).ok
    report = check_metric(Silent)
    assert [(p.check, p.message) for p in report.warnings] == [
        ("values", "declared key(s) ['other'] were not reported")
    ]
    with pytest.raises(CheckFailed, match="infinite value"):
        check_metric(InfiniteValue)

    class NoValues(embench.Metric):
        name = "no-values"

        def compute(self, ctx, options):  # pragma: no cover - never run
            raise AssertionError

    report = check_metric(NoValues, raise_on_error=False)
    assert [p.check for p in report.errors] == ["declaration"]
    assert "declares no value keys" in report.errors[0].message


def test_metric_errors_name_the_package(register_plugin):
    register_plugin("broken-metrics", BrokenMetrics())
    (problem,) = check_plugin("raising-compute").errors
    assert "(plugin broken-metrics, tests.test_plugin_check local)" in problem.message
    assert "test_plugin_check.py:" in problem.message


# -- the same broken plugins through `embench run` ---------------------------------------------
RUN_BROKEN = """
[benchmark]
name = "broken"
seed = 1
threads = 1
[dataset]
plugin = "tiny"
[split]
train = 0.8
validation = 0.1
test = 0.1
[[configuration]]
name = "ok"
embedder = "random"
[[configuration]]
name = "shape"
embedder = "wrong-shape"
[[configuration]]
name = "raises"
embedder = "raising-fit"
[[configuration]]
name = "nan"
embedder = "nan-vectors"
[metrics.next_song]
k = 10
"""


def test_broken_embedders_through_embench_run(tmp_path, test_plugin, broken):
    out = tmp_path / "out"
    code = main(["run", str(write_benchmark(tmp_path, RUN_BROKEN)), "-o", str(out), "-q"])
    assert code == 1
    rows = {r["name"]: r for r in json.loads((out / "summary.json").read_text())["configurations"]}
    assert rows["ok"]["status"] == "ok"
    assert {rows[n]["status"] for n in ("shape", "raises", "nan")} == {"failed"}
    assert "embedder 'wrong-shape' (plugin broken-embedders" in rows["shape"]["error"]
    assert "returned an invalid embedding: 59 vectors for 60 songs" in rows["shape"]["error"]
    assert "embedder 'raising-fit'" in rows["raises"]["error"]
    assert "raised in fit: RuntimeError: the model exploded" in rows["raises"]["error"]
    assert "3 vectors contain NaN or infinite values" in rows["nan"]["error"]


def test_broken_embedder_with_fail_fast_exits_2(tmp_path, test_plugin, broken, capsys):
    bench = write_benchmark(tmp_path, RUN_BROKEN)
    assert main(["run", str(bench), "-o", str(tmp_path / "o"), "-q", "--fail-fast"]) == 2
    err = capsys.readouterr().err
    assert "wrong-shape" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("raising-compute", "metric 'raising-compute' raised: KeyError"),
        ("infinite-value", "metric 'infinite-value' returned an invalid result: infinite"),
        ("missing-query-key", "query_keys ['query'] are not columns of per_query"),
    ],
)
def test_broken_metric_through_embench_run(
    tmp_path, test_plugin, register_plugin, metric, expected
):
    register_plugin("broken-metrics", BrokenMetrics())
    text = RUN_BROKEN.split('[[configuration]]\nname = "shape"')[0] + f"[metrics.{metric}]\n"
    out = tmp_path / "out"
    assert main(["run", str(write_benchmark(tmp_path, text)), "-o", str(out), "-q"]) == 1
    (row,) = json.loads((out / "summary.json").read_text())["configurations"]
    assert expected in row["error"]


def test_unknown_plugin_raises_plugin_error():
    with pytest.raises(PluginError, match="did you mean 'pmi_svd'"):
        check_plugin("pmi-svd")
    with pytest.raises(PluginError, match="unknown metric 'hitrate'"):
        check_metric("hitrate")


def test_precomputed_through_check_plugin(tmp_path, capsys):
    ids = [f"s{i}" for i in range(0, 60, 2)]  # half the tiny dataset's songs
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(len(ids), 6)))
    pd.DataFrame({"song_id": ids}).to_parquet(tmp_path / "ids.parquet")
    args = [
        "--set",
        f'vectors="{tmp_path / "v.npy"}"',
        "--set",
        f"songs={tmp_path / 'ids.parquet'}",
    ]
    assert main(["check-plugin", "precomputed", *args]) == 0
    out = capsys.readouterr().out
    assert "30 vectors of dimension 6" in out and "30 of 60 training songs have no vector" in out
    pd.DataFrame({"song_id": ["nope", *ids[1:]]}).to_parquet(tmp_path / "ids.parquet")
    assert main(["check-plugin", "precomputed", *args]) == 1
    out = capsys.readouterr().out
    assert "1 of 30 song ids are not in the dataset" in out and "'nope'" in out
