"""Executors are deterministic: two runs with 2 process workers choose the same trials whatever
order the trials finish in (results are told in the order they were asked)."""

import json
import os
import time

import numpy as np

import embench
from embench.cli import main
from tests.helpers import STUDY_BENCHMARK, write_benchmark


class SleepyOptions(embench.Options):
    dim: int = 8


class SleepyEmbedder(embench.Embedder):
    """Random vectors; trains slowly when ``dim`` has the parity ``EMBENCH_TEST_SLOW`` names, so
    the finishing order of parallel trials is set from outside the params."""

    name = "sleepy"
    Options = SleepyOptions
    search_space = {"dim": embench.Dimension(2, 16, integer=True)}

    def fit(self, corpus, params, *, seed, threads, monitor):
        if params.dim % 2 == int(os.environ.get("EMBENCH_TEST_SLOW", "0")):
            time.sleep(0.25)
        songs = np.unique(corpus.songs)
        return embench.Embedding(songs, np.random.default_rng(seed).normal(size=(len(songs), 4)))


class HistorySearch(embench.Search):
    """Proposes from the order of what it was told: telling in another order asks other trials."""

    def __init__(self):
        self.asks = 0
        self.told: list[int] = []

    def ask(self):
        self.asks += 1
        weighted = sum((i + 1) * dim for i, dim in enumerate(self.told))
        return {"dim": 2 + (7 * self.asks + weighted) % 15}

    def tell(self, params, objectives, feasible):
        self.told.append(int(params["dim"]))

    def best(self):
        return []


class HistoryOptimiser(embench.Optimiser):
    name = "history"

    def create(self, space, n_objectives, options, *, seed, budget):
        return HistorySearch()


class DeterminismPlugin:
    @embench.hookimpl
    def register_embedders(self, register):
        register(SleepyEmbedder)

    @embench.hookimpl
    def register_optimisers(self, register):
        register(HistoryOptimiser)


def test_two_runs_with_two_process_workers_choose_the_same_trials(
    tmp_path, test_plugin, register_plugin, monkeypatch
):
    register_plugin("embench-determinism", DeterminismPlugin())
    text = (
        STUDY_BENCHMARK.replace('embedder = "random"', 'embedder = "sleepy"')
        .replace('optimiser = "uniform"', 'optimiser = "history"')
        .replace("budget = 6", "budget = 8")
        .replace("time_budget = 1000", 'time_budget = 1e9\nexecutor = "process"\nworkers = 2')
    )
    bench = write_benchmark(tmp_path, text)
    runs = {}
    for slow in ("0", "1"):  # even dims slow, then odd dims slow: trials finish in other orders
        monkeypatch.setenv("EMBENCH_TEST_SLOW", slow)
        out = tmp_path / f"slow-{slow}"
        assert main(["run", str(bench), "--output", str(out), "--quiet"]) == 0
        path = out / "studies" / "search" / "journal.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        runs[slow] = [r for r in records if r["kind"] == "trial"]
    chosen = {s: {r["number"]: r["suggested"] for r in trials} for s, trials in runs.items()}
    assert sorted(chosen["0"]) == list(range(8))
    assert chosen["0"] == chosen["1"]
    finished = {s: [r["number"] for r in trials] for s, trials in runs.items()}
    assert finished["0"] != finished["1"], "the trials must finish in other orders"
