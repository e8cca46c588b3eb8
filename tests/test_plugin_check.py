"""``embench check-plugin``, and broken plugins through ``embench run``: clear errors naming them."""

import json

import numpy as np
import pytest
from pydantic import Field

import embench
from embench.cli import main
from embench.errors import ConfigError, PluginError
from embench.plugin_check import check_plugin, parse_assignments
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


@pytest.mark.parametrize(
    ("name", "check", "expected"),
    [
        ("wrong-shape", "embedding", "vectors for"),
        ("nan-vectors", "embedding", "3 vectors contain NaN"),
        ("outside", "embedding", "outside the catalogue of 60"),
        ("raising-fit", "fit", "raised in fit: RuntimeError: the model exploded at "),
        ("not-embedding", "embedding", "returned dict, expected embench.Embedding"),
    ],
)
def test_broken_embedders_are_reported_with_plugin_and_problem(broken, name, check, expected):
    report = check_plugin(name)
    assert not report.ok
    (problem,) = report.errors
    assert problem.check == check and expected in problem.message
    assert f"embedder '{name}'" in problem.message and "broken-embedders" in problem.message


def test_raising_fit_names_the_line(broken):
    (problem,) = check_plugin("raising-fit").errors
    assert "test_plugin_check.py:" in problem.message


def test_warnings_do_not_fail_the_check(broken):
    report = check_plugin("half")
    assert report.ok
    checks = {p.check: p.message for p in report.problems}
    assert "30 of 60 training songs have no vector" in checks["coverage"]
    assert "1 zero vectors" in checks["vectors"]
    assert "never called monitor.progress" in checks["progress"]
    assert "gave different embeddings" in checks["reproducible"]


def test_search_space_is_checked_against_the_options(broken):
    report = check_plugin("bad-space")
    messages = [p.message for p in report.errors]
    assert any("'dimension', which is not an option (available: dim)" in m for m in messages)
    assert any("search_space['dim'] low value 0 is rejected" in m for m in messages)


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
    assert "problems of embedder 'nan-vectors'" in out and "1 contract violation" in out
    assert main(["check-plugin", "word2vek"]) == 2
    assert "did you mean 'word2vec'?" in capsys.readouterr().err
    assert main(["check-plugin", "word2vec", "--kind", "metric"]) == 2
    assert "not a metric but an embedder" in capsys.readouterr().err
    assert main(["check-plugin", "nevergrad"]) == 2
    assert "is an optimiser" in capsys.readouterr().err
    assert main(["check-plugin", "precomputed"]) == 2
    err = capsys.readouterr().err
    assert "required options (vectors, songs)" in err and "--set" in err


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
class Undeclared(embench.Metric):
    name = "undeclared"
    values = {"score": embench.Value("max")}

    def compute(self, ctx, options):
        return embench.MetricResult(values={"score": 0.5, "extra": 1.0})


class NanValue(embench.Metric):
    name = "nan-value"
    values = {"score": embench.Value("max")}

    def compute(self, ctx, options):
        return embench.MetricResult(values={"score": float("nan")})


class RaisingCompute(embench.Metric):
    name = "raising-compute"
    values = {"score": embench.Value("max")}

    def compute(self, ctx, options):
        raise KeyError("genre_id")


class CrashesOnMissingSongs(embench.Metric):
    """Indexes vectors by song index: breaks as soon as a song has no vector."""

    name = "needs-every-song"
    values = {"score": embench.Value("max")}

    def compute(self, ctx, options):
        rows = ctx.rows[np.arange(ctx.dataset.n_songs)]
        if (rows < 0).any():
            raise IndexError("song without a vector")
        return embench.MetricResult(values={"score": 1.0})


class BadPerQuery(embench.Metric):
    name = "bad-per-query"
    values = {"score": embench.Value("max", per_query="hit")}
    query_keys = ("query",)

    def compute(self, ctx, options):
        import pandas as pd

        return embench.MetricResult(values={"score": 1.0}, per_query=pd.DataFrame({"x": [1]}))


class BrokenMetrics:
    @embench.hookimpl
    def register_metrics(self, register):
        for cls in (Undeclared, NanValue, RaisingCompute, CrashesOnMissingSongs, BadPerQuery):
            register(cls)


@pytest.mark.parametrize(
    ("name", "check", "expected"),
    [
        ("undeclared", "compute", "reported 'extra', which its `values` does not declare"),
        ("nan-value", "values", "non-finite value(s) on a healthy dataset: {'score': nan}"),
        ("raising-compute", "compute", "raised: KeyError: 'genre_id'"),
        ("needs-every-song", "compute", "failed on an embedding that misses songs"),
        ("bad-per-query", "per_query", "names column 'hit', which per_query lacks"),
    ],
)
def test_broken_metrics_are_reported(register_plugin, name, check, expected):
    register_plugin("broken-metrics", BrokenMetrics())
    report = check_plugin(name)
    assert not report.ok
    assert any(p.check == check and expected in p.message for p in report.errors), report.errors
    assert any(f"metric '{name}'" in p.message or p.check != "compute" for p in report.errors)


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
[metrics.next_song]
k = 10
"""


def test_broken_embedders_through_embench_run(tmp_path, test_plugin, broken):
    out = tmp_path / "out"
    code = main(["run", str(write_benchmark(tmp_path, RUN_BROKEN)), "-o", str(out), "-q"])
    assert code == 1
    rows = {r["name"]: r for r in json.loads((out / "summary.json").read_text())["configurations"]}
    assert rows["ok"]["status"] == "ok"
    assert rows["shape"]["status"] == "failed" and rows["raises"]["status"] == "failed"
    assert "embedder 'wrong-shape' (plugin broken-embedders" in rows["shape"]["error"]
    assert "returned an invalid embedding" in rows["shape"]["error"]
    assert "embedder 'raising-fit'" in rows["raises"]["error"]
    assert "raised in fit: RuntimeError: the model exploded" in rows["raises"]["error"]


def test_broken_embedder_with_fail_fast_exits_2(tmp_path, test_plugin, broken, capsys):
    bench = write_benchmark(tmp_path, RUN_BROKEN)
    assert main(["run", str(bench), "-o", str(tmp_path / "o"), "-q", "--fail-fast"]) == 2
    err = capsys.readouterr().err
    assert "wrong-shape" in err and "Traceback" not in err


def test_broken_metric_through_embench_run(tmp_path, test_plugin, register_plugin, capsys):
    register_plugin("broken-metrics", BrokenMetrics())
    text = RUN_BROKEN.split('[[configuration]]\nname = "shape"')[0] + "[metrics.raising-compute]\n"
    out = tmp_path / "out"
    assert main(["run", str(write_benchmark(tmp_path, text)), "-o", str(out), "-q"]) == 1
    (row,) = json.loads((out / "summary.json").read_text())["configurations"]
    assert "metric 'raising-compute' raised: KeyError" in row["error"]


def test_unknown_plugin_raises_plugin_error():
    with pytest.raises(PluginError, match="did you mean 'pmi_svd'"):
        check_plugin("pmi-svd")


def test_precomputed_through_check_plugin(tmp_path, capsys):
    import pandas as pd

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
