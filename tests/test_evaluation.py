"""The declarative metric contract: neighbour requests, their union, and what evaluate refuses."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import embench
from embench.errors import PluginError
from embench.evaluation import evaluate
from embench.neighbours import exact_top_k
from embench_plugins.coherence import GenreCoherence, GenreCoherenceOptions
from embench_plugins.hardneg import HardNeg, HardNegOptions
from embench_plugins.next_song import NextSong, NextSongOptions
from embench_plugins.popularity import PopularityBuckets, PopularityOptions
from tests.test_metric_coherence import labelled_catalogue


class SpySearch:
    """The exact search, recording the query rows and k of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray | None, int]] = []

    def __call__(self, vectors, k, *, queries=None, threads=1):
        self.calls.append((None if queries is None else np.array(queries), k))
        return exact_top_k(vectors, k, queries=queries, threads=threads)


def spied_context(**kwargs):
    ctx = labelled_catalogue(**kwargs)
    ctx.top_k = SpySearch()
    return ctx


class Reads(embench.Metric):
    """Requests ``request_songs`` at ``request_k`` and reads ``read_songs`` at ``read_k``."""

    name = "reads"
    values = {"reads": embench.Value("max")}
    request_songs: list[int] | None = [0, 3]
    request_k = 4
    read_songs = [0, 3]
    read_k = 4
    read: np.ndarray | None = None

    def neighbours(self, ctx, options):
        if self.request_k == 0:
            return None
        songs = None if self.request_songs is None else np.array(self.request_songs)
        return embench.NeighbourRequest(self.request_k, songs)

    def compute(self, ctx, options):
        self.read = ctx.song_neighbours(np.array(self.read_songs), self.read_k)
        return embench.MetricResult(values={self.name: float((self.read >= 0).sum())})


def reads(name="reads", **attributes) -> Reads:
    metric = Reads()
    metric.name = name
    metric.values = {name: embench.Value("max")}
    for key, value in attributes.items():
        setattr(metric, key, value)
    return metric


def known_rows(ctx, songs) -> np.ndarray:
    rows = ctx.rows[np.asarray(songs)]
    return np.unique(rows[rows >= 0])


# -- only the requested songs get neighbours -------------------------------------------------
@pytest.mark.parametrize(
    ("metric", "options"),
    [
        (NextSong(), NextSongOptions(k=5)),
        (HardNeg(), HardNegOptions(k=5, max_songs=20)),
        (GenreCoherence(), GenreCoherenceOptions(k=5, genres=2, pool=5, songs_per_genre=3)),
        (PopularityBuckets(), PopularityOptions(k=5, buckets=2, pairs_per_cell=4)),
    ],
)
def test_builtin_metrics_get_neighbours_of_their_requested_songs_only(metric, options):
    ctx = spied_context()
    request = metric.neighbours(ctx, options)
    assert request is not None and request.k == options.k and request.songs is not None
    assert 0 < len(known_rows(ctx, request.songs)) < len(ctx.embedding)  # a real subset

    result = evaluate(ctx, [(metric.name, metric, options)])

    ((queries, k),) = ctx.top_k.calls  # one search, for exactly the requested songs
    assert k == options.k
    np.testing.assert_array_equal(queries, known_rows(ctx, request.songs))
    assert set(ctx.neighbour_songs) == set(ctx.embedding.song_index[queries])
    # ... and the figures are those of a context that computed every song's neighbours.
    full = labelled_catalogue()
    full.compute_neighbours(None, options.k)
    assert metric.compute(full, options).values == result.results[metric.name].values


def test_a_metric_without_neighbours_causes_no_search():
    ctx = spied_context()
    metric = embench_plugins_vrc()
    evaluate(ctx, [(metric.name, metric, metric.Options())])
    assert ctx.top_k.calls == []


def embench_plugins_vrc():
    from embench_plugins.clustering import VrcGenre

    return VrcGenre()


def test_union_of_requests_is_searched_once_at_the_largest_k():
    ctx = spied_context()
    first = reads("first", request_songs=[0, 3, 4], request_k=3, read_songs=[3], read_k=3)
    second = reads("second", request_songs=[4, 5, 6], request_k=7, read_songs=[6, 4], read_k=7)
    evaluate(ctx, [(m.name, m, embench.Options()) for m in (first, second)])

    ((queries, k),) = ctx.top_k.calls
    assert k == 7
    np.testing.assert_array_equal(queries, known_rows(ctx, [0, 3, 4, 5, 6]))
    reference = labelled_catalogue()
    np.testing.assert_array_equal(first.read, reference.song_neighbours(np.array([3]), 3))
    np.testing.assert_array_equal(second.read, reference.song_neighbours(np.array([6, 4]), 7))


def test_union_of_neighbour_requests():
    union = embench.NeighbourRequest.union(
        [
            embench.NeighbourRequest(3, np.array([5, 1, 5])),
            None,
            embench.NeighbourRequest(9, np.array([2, 1])),
        ]
    )
    assert union.k == 9
    np.testing.assert_array_equal(union.songs, [1, 2, 5])
    everything = embench.NeighbourRequest.union(
        [embench.NeighbourRequest(2), embench.NeighbourRequest(4, np.array([1]))]
    )
    assert everything.k == 4 and everything.songs is None
    assert embench.NeighbourRequest.union([None, None]) is None


# -- reads beyond the declaration are errors inside evaluate ----------------------------------
@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"read_songs": [0, 5]}, "did not request (e.g. song 'x5', index 5)"),
        ({"read_k": 6}, "read the top-6 neighbours, but its neighbours() requested k=4"),
        ({"request_k": 0}, "its neighbours() requested none"),
    ],
)
def test_reading_undeclared_neighbours_fails_naming_the_metric(attributes, message):
    ctx = labelled_catalogue()
    metric = reads(**attributes)
    with pytest.raises(PluginError) as caught:
        evaluate(ctx, [("reads", metric, embench.Options())])
    assert str(caught.value).startswith("metric 'reads' read")
    assert message in str(caught.value)


def test_another_metrics_request_does_not_cover_an_undeclared_read():
    ctx = labelled_catalogue()
    honest = reads("honest", request_songs=[5], read_songs=[5])
    sloppy = reads("sloppy", request_songs=[0], read_songs=[5])
    with pytest.raises(PluginError, match="metric 'sloppy' read the neighbours of 1 song"):
        evaluate(ctx, [(m.name, m, embench.Options()) for m in (honest, sloppy)])


def test_a_context_used_directly_computes_neighbours_on_demand():
    ctx = spied_context()
    first = ctx.song_neighbours(np.array([3, 0]), 2)
    again = ctx.song_neighbours(np.array([0]), 2)  # kept: no new search
    wider = ctx.song_neighbours(np.array([4]), 5)  # larger k: the kept songs are redone
    assert [(list(q), k) for q, k in ctx.top_k.calls] == [
        (list(known_rows(ctx, [0, 3])), 2),
        (list(known_rows(ctx, [0, 3, 4])), 5),
    ]
    full = exact_top_k(ctx.embedding.vectors, 5)
    for songs, k, got in (([3, 0], 2, first), ([0], 2, again), ([4], 5, wider)):
        rows = full.rows[ctx.rows[songs], :k]
        np.testing.assert_array_equal(got, ctx.embedding.song_index[rows])
    np.testing.assert_array_equal(ctx.song_neighbours(np.array([1]), 3), [[-1, -1, -1]])


def test_requested_songs_outside_the_catalogue_are_refused():
    ctx = labelled_catalogue()
    metric = reads(request_songs=[0, ctx.dataset.n_songs])
    with pytest.raises(PluginError, match="metric 'reads'.*outside the catalogue of 90 songs"):
        evaluate(ctx, [("reads", metric, embench.Options())])


def test_neighbours_must_return_a_request_or_none():
    class Sloppy(Reads):
        def neighbours(self, ctx, options):
            return 100

    with pytest.raises(PluginError, match="neighbours\\(\\) returned int, not a Neighbour"):
        evaluate(labelled_catalogue(), [("sloppy", Sloppy(), embench.Options())])


# -- declarations ----------------------------------------------------------------------------
def test_a_value_key_not_declared_fails_the_metric():
    class Extra(Reads):
        def compute(self, ctx, options):
            return embench.MetricResult(values={"reads": 1.0, "extra": 2.0})

    with pytest.raises(PluginError, match="metric 'extra'.*'extra'.* in `values`"):
        evaluate(labelled_catalogue(), [("extra", Extra(), embench.Options())])


@pytest.mark.parametrize("former", ["directions", "per_query_values", "per_query_keys"])
def test_the_former_declarations_are_refused_with_their_replacement(former):
    with pytest.raises(TypeError, match=f"defines {former}, replaced by {former} -> "):
        type("Old", (embench.Metric,), {former: {}})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: embench.Value("up"), "direction must be 'max' or 'min'"),
        (lambda: embench.Value("max", per_query=""), "per_query must name a per-query column"),
        (lambda: embench.NeighbourRequest(0), "k must be >= 1"),
        (lambda: embench.NeighbourRequest(2.5), "k must be an integer"),
        (lambda: embench.NeighbourRequest(5, np.array([0.5])), "1-D integer array"),
    ],
)
def test_bad_declarations_are_contract_errors(make, message):
    with pytest.raises(embench.ContractError, match=message):
        make()


def test_options_are_generic_typed():
    assert NextSong.__orig_bases__ == (embench.Metric[NextSongOptions],)


def test_context_does_not_import_the_plugin_contract():
    """embench.context and embench.embedding sit below embench.api: no import cycle."""
    code = (
        "import sys, embench.context, embench.embedding; "
        "assert 'embench.api' not in sys.modules and 'embench.evaluation' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith('embench'))"
    )
    # importing embench.context runs embench/__init__ first, which imports embench.api: load
    # the modules from their files instead.
    loader = (
        "import importlib.util, sys, types; "
        "pkg = types.ModuleType('embench'); pkg.__path__ = [sys.argv[1]]; "
        "sys.modules['embench'] = pkg; "
    )
    package = str(__import__("embench").__path__[0])
    result = subprocess.run(
        [sys.executable, "-c", loader + code, package], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
