"""The rules of :mod:`embench.contract`, one by one, and that the harness applies them."""

import re

import numpy as np
import pandas as pd
import pytest
from pydantic import Field

import embench
from embench import contract
from embench.benchmark import load_benchmark
from embench.data.split import make_split
from embench.data.tiny import make_tiny_dataset
from embench.errors import PluginError
from embench.evaluation import evaluate
from embench.registry import Origin
from tests.helpers import TestPlugin, write_benchmark

N = 10


def embedding(songs, vectors):
    return embench.Embedding(np.asarray(songs), np.asarray(vectors))


# -- embeddings ------------------------------------------------------------------------------
def test_an_embedding_only_normalises_its_arrays():
    e = embedding([3, 1], np.ones((2, 4), dtype=np.float64))
    assert e.song_index.dtype == np.int64 and e.vectors.dtype == np.float32
    assert e.vectors.flags.c_contiguous
    broken = embedding([1, 1], [[np.nan]])  # no rule is applied at construction
    with pytest.raises(embench.ContractError):
        contract.validate_embedding(broken, N)
    assert contract.validate_embedding(e, N) is e


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"vectors": [1.0]}, "expected an embench.Embedding, got dict"),
        (embedding([[0, 1]], np.ones((2, 2))), "song_index must be a 1-D integer array"),
        (embedding([0.0, 1.0], np.ones((2, 2))), "song_index must be a 1-D integer array"),
        (embedding([0, 1], np.ones(2)), "vectors must be a 2-D real array"),
        (embedding([0, 1], np.array([["a"], ["b"]])), "vectors must be a 2-D real array"),
        (embedding([0, 1], np.ones((2, 2), dtype=complex)), "vectors must be a 2-D real array"),
        (embedding([0, 1, 2], np.ones((2, 2))), "2 vectors for 3 songs: shapes must agree"),
        (embedding([0, 1], np.ones((2, 0))), "vectors have dimension 0"),
        (embedding([0, 4, 5], [[1.0], [np.inf], [np.nan]]), "2 vectors contain NaN or infinite"),
        (embedding([0, 1], [[1e39], [1.0]]), "1 vectors contain NaN or infinite values (songs 0)"),
        (embedding([0, N], np.ones((2, 2))), f"1 song indices are outside the catalogue of {N}"),
        (embedding([-1, 0], np.ones((2, 2))), "outside the catalogue of 10 songs (0..9): -1"),
        (embedding([2, 2, 3, 3], np.ones((4, 2))), "lists songs more than once: 2, 3"),
    ],
)
def test_embedding_rules(value, message):
    with pytest.raises(embench.ContractError, match=re.escape(message)):
        contract.validate_embedding(value, N)


def test_accept_embedding_names_the_plugin():
    who = contract.describe("embedder", "mine", Origin("pkg-plugin", "my-package", "1.2"))
    assert who == "embedder 'mine' (plugin pkg-plugin, my-package 1.2)"
    with pytest.raises(
        PluginError,
        match=r"^embedder 'mine' \(plugin pkg-plugin, my-package 1.2\) "
        r"returned an invalid embedding: vectors have dimension 0$",
    ):
        contract.accept_embedding(embedding([0], np.ones((1, 0))), N, who)
    assert contract.describe("metric", "m") == "metric 'm'"


# -- embedder classes ------------------------------------------------------------------------
class DimOptions(embench.Options):
    dim: int = Field(8, ge=2)
    rate: float = 0.1


class Spaced(embench.Embedder):
    name = "spaced"
    Options = DimOptions
    search_space = {"dim": embench.Dimension(2, 16, integer=True)}

    def fit(self, corpus, params, *, seed, threads, monitor):  # pragma: no cover - not run
        raise AssertionError


def with_space(space):
    return type("Other", (Spaced,), {"search_space": space})


def test_embedder_class_rules():
    contract.validate_search_space(Spaced, DimOptions())
    with pytest.raises(embench.ContractError, match="does not implement fit"):
        contract.validate_embedder_class(type("NoFit", (embench.Embedder,), {"name": "x"}))
    with pytest.raises(embench.ContractError, match="search_space must be a dict, found list"):
        contract.validate_embedder_class(with_space(["dim"]))
    with pytest.raises(embench.ContractError, match="'dims', which is not an option; did you"):
        contract.validate_search_space(with_space({"dims": embench.Dimension(2, 4)}))
    with pytest.raises(embench.ContractError, match=r"\['rate'\] must be an embench.Dimension"):
        contract.validate_search_space(with_space({"rate": (0.0, 1.0)}))
    low = with_space({"dim": embench.Dimension(1, 16, integer=True)})
    contract.validate_search_space(low)  # without options: declarations only
    with pytest.raises(embench.ContractError, match=r"\['dim'\] low value 1 is rejected"):
        contract.validate_search_space(low, DimOptions())


# -- metric classes --------------------------------------------------------------------------
class Scored(embench.Metric):
    name = "scored"
    values = {"score": embench.Value("max", per_query="hit"), "other": embench.Value("min")}
    query_keys = ("query_song",)

    def compute(self, ctx, options):
        return embench.MetricResult(values={"score": 1.0})


def metric_with(**attributes):
    return type("Variant", (Scored,), attributes)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"values": {}}, "declares no value keys"),
        ({"values": {"score": "max"}}, r"values\['score'\] must be an embench.Value, found str"),
        ({"values": {"": embench.Value("max")}}, "value keys must be non-empty strings"),
        ({"query_keys": ["query_song"]}, "query_keys must be a tuple of column names"),
        ({"query_keys": ()}, r"per-query columns \(hit\) but no query_keys"),
        ({"query_keys": ("hit",)}, r"\['hit'\] are both query_keys and per_query values"),
        ({"requires": ["genre"]}, "requires must be a set of song-table columns"),
    ],
)
def test_metric_class_rules(attributes, message):
    contract.validate_metric_class(Scored)
    with pytest.raises(embench.ContractError, match=message):
        contract.validate_metric_class(metric_with(**attributes))


def test_a_metric_without_compute_is_refused():
    with pytest.raises(embench.ContractError, match="does not implement compute"):
        contract.validate_metric_class(type("M", (embench.Metric,), {"values": Scored.values}))


# -- metric results --------------------------------------------------------------------------
FRAME = pd.DataFrame({"query_song": ["s1", "s2"], "hit": [1, 0]})


def result(values, per_query=FRAME, tables=None):
    return embench.MetricResult(values=values, per_query=per_query, tables=tables or {})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"score": 0.5}, "returned dict, not an embench.MetricResult"),
        (result([("score", 0.5)]), "values must be a dict, found list"),
        (result({"score": 0.5, "extra": 1}), "reported 'extra', not declared in `values`"),
        (result({"score": "0.5"}), "values must be real numbers, found {'score': '0.5'}"),
        (result({"score": True}), "values must be real numbers"),
        (result({"score": None}), "values must be real numbers"),
        (result({"score": -np.inf}), "infinite value"),
        (result({"score": 1.0}, per_query=FRAME.to_dict()), "per_query must be a pandas DataFrame"),
        (result({"score": 1.0}, per_query=None), "no per_query frame, but values score declare"),
        (result({"score": 1.0}, per_query=FRAME[["query_song"]]), "column 'hit', which per_query"),
        (result({"score": 1.0}, per_query=FRAME.assign(hit=["y", "n"])), "'hit' must be numeric"),
        (result({"score": 1.0}, per_query=FRAME[["hit"]]), r"query_keys \['query_song'\] are not"),
        (result({"other": 1.0}, tables=[1]), "tables must be a dict, found list"),
        (result({"other": 1.0}, tables={"t": [1]}), "table 't' must be a pandas DataFrame"),
    ],
)
def test_metric_result_rules(value, message):
    with pytest.raises(embench.ContractError, match=message):
        contract.validate_metric_result(value, Scored)


def test_nan_is_allowed_at_run_time_only():
    nan = result({"score": float("nan"), "other": np.float32(2)})
    assert contract.validate_metric_result(nan, Scored) is nan
    with pytest.raises(embench.ContractError, match="NaN value"):
        contract.validate_metric_result(nan, Scored, allow_nan=False)
    # a value without a per-query column needs no frame; numpy numbers are numbers
    contract.validate_metric_result(result({"other": np.int64(3)}, per_query=None), Scored())
    with pytest.raises(PluginError, match="^metric 'scored' returned an invalid result: infinite"):
        contract.accept_metric_result(result({"score": np.inf}), Scored, "metric 'scored'")


def test_value_keys_are_unique_across_metrics():
    contract.validate_unique_values(
        [("a", Scored), ("b", metric_with(values={"x": Scored.values["score"]}))]
    )
    with pytest.raises(PluginError, match="metrics 'a' and 'b' both declare 'score'"):
        contract.validate_unique_values([("a", Scored), ("b", Scored())])


def test_neighbour_request_rules():
    assert contract.validate_neighbour_request(None, N) is None
    request = embench.NeighbourRequest(5, np.array([0, N - 1]))
    assert contract.validate_neighbour_request(request, N) is request
    with pytest.raises(embench.ContractError, match="returned int, not a NeighbourRequest"):
        contract.validate_neighbour_request(5, N)
    with pytest.raises(embench.ContractError, match=f"outside the catalogue of {N} songs: -1, {N}"):
        contract.validate_neighbour_request(embench.NeighbourRequest(5, np.array([-1, 3, N])), N)
    with pytest.raises(embench.ContractError, match=f"catalogue of {N} songs: {N}$"):
        contract.validate_neighbour_request(embench.NeighbourRequest(5, np.array([3, N])), N)


# -- the harness applies them ----------------------------------------------------------------
def context():
    dataset = make_tiny_dataset()
    split = make_split(dataset, (0.8, 0.1, 0.1), seed=0)
    songs = np.unique(split.train.songs)
    vectors = np.random.default_rng(0).normal(size=(len(songs), 4))
    return embench.EvalContext(dataset=dataset, split=split, embedding=embedding(songs, vectors))


def test_evaluate_refuses_two_metrics_declaring_one_key_before_computing():
    computed = []

    class Counting(Scored):
        def compute(self, ctx, options):
            computed.append(1)
            return embench.MetricResult(values={"other": 1.0})

    with pytest.raises(PluginError, match="metrics 'first' and 'second' both declare 'score'"):
        evaluate(context(), [("first", Counting(), None), ("second", Counting(), None)])
    assert not computed
    evaluation = evaluate(context(), [("first", Counting(), None)])
    assert evaluation.values == {"other": 1.0} and computed == [1]


def test_evaluate_applies_the_result_rules():
    class MissingColumn(Scored):
        def compute(self, ctx, options):
            return result({"score": 1.0}, per_query=FRAME[["query_song"]])

    with pytest.raises(PluginError, match="metric 'm' returned an invalid result: values"):
        evaluate(context(), [("m", MissingColumn(), None)])


def test_a_benchmark_naming_a_misdeclared_plugin_fails_before_training(tmp_path, register_plugin):
    class Twice:
        @embench.hookimpl
        def register_metrics(self, register):
            register(metric_with(name="first"))
            register(metric_with(name="second"))
            register(metric_with(name="bare", query_keys=()))

        @embench.hookimpl
        def register_embedders(self, register):
            register(type("Unfit", (embench.Embedder,), {"name": "unfit"}))

    register_plugin("embench-tests", TestPlugin())
    register_plugin("twice", Twice())
    base = '[benchmark]\nname = "b"\n[dataset]\nplugin = "tiny"\n[[configuration]]\nname = "c"\n'
    cases = {
        'embedder = "unfit"\n': "embedder 'unfit' (plugin twice, tests.test_contract local): "
        "does not implement fit",
        'embedder = "random"\n[metrics.first]\n[metrics.second]\n': "metrics 'first' and "
        "'second' both declare 'score'",
        'embedder = "random"\n[metrics.bare]\n': "metric 'bare' (plugin twice, tests.test_contract "
        "local): values have per-query columns (hit) but no query_keys",
    }
    for tail, message in cases.items():
        with pytest.raises(PluginError, match=re.escape(message)):
            load_benchmark(write_benchmark(tmp_path, base + tail))
    load_benchmark(write_benchmark(tmp_path, base + 'embedder = "random"\n[metrics.first]\n'))


def test_flag_rules():
    assert contract.validate_flags({"both_odd": "both songs odd"}) == {"both_odd": "both songs odd"}
    with pytest.raises(embench.ContractError, match="declares flag 'Odd': keys are lower_snake"):
        contract.validate_flags({"Odd": "x"})
    with pytest.raises(embench.ContractError, match="flag 'odd' needs a description"):
        contract.validate_flags({"odd": 1})
    with pytest.raises(embench.ContractError, match="declares flags but does not implement"):
        contract.validate_metric_class(metric_with(flags={"odd": "odd songs"}))
    ok = np.array([True, False])
    assert contract.validate_flag_pairs({"odd": ok}, ["odd"], 2)["odd"] is not None
    for result, message in [
        ({"odd": ok, "even": ok}, "returned ['even', 'odd'], expected the declared flags ['odd']"),
        ([ok], "flag_pairs returned list, expected"),
        ({"odd": ok.astype(int)}, "flag 'odd' must be a boolean array of shape (2,), got int64"),
        ({"odd": ok[:1]}, "flag 'odd' must be a boolean array of shape (2,), got bool (1,)"),
    ]:
        with pytest.raises(embench.ContractError, match=re.escape(message)):
            contract.validate_flag_pairs(result, ["odd"], 2)
