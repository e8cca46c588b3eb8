"""Tiny fake plugins for the search tests: an embedder whose training work and quality are known
in advance, a metric that reads the quality back, and a recording optimiser (tests only)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

import embench
from embench.benchmark import load_benchmark
from embench.data.split import make_split
from embench.space import cast
from embench.study import Study
from tests.helpers import TinyLoader

OPTIMUM = 0.7


class CostlyOptions(embench.Options):
    cost: float = Field(1.0, gt=0, description="work per epoch and token, relative")
    x: float = Field(0.2, ge=0, le=1, description="quality knob: best at OPTIMUM")
    epochs: int = Field(4, ge=1)
    delay: float = Field(0.0, ge=0, description="seconds of sleep per unit of cost and epoch")


class CostlyEmbedder(embench.Embedder):
    """Declares its work (cost x epochs x tokens); its vectors encode a known score:
    ``1 - (x - OPTIMUM)^2``, minus a penalty that shrinks with the corpus and the epochs (a
    low fidelity is a noisy, pessimistic view of the same ranking)."""

    name = "costly"
    Options = CostlyOptions
    search_space = {
        "cost": embench.Dimension(0.25, 4.0, log=True),
        "x": embench.Dimension(0.0, 1.0),
    }

    def work(self, params, stats):
        return params.cost * params.epochs * stats.tokens

    def fit(self, corpus, params, *, seed, threads, monitor):
        path = os.environ.get("EMBENCH_TEST_FITS")
        if path:
            with open(path, "a") as handle:
                handle.write(f"{params.cost} {params.x} {params.epochs} {len(corpus)}\n")
        jitter = os.environ.get("EMBENCH_TEST_JITTER")  # random extra seconds, up to this
        if jitter:
            time.sleep(float(np.random.default_rng().uniform(0, float(jitter))))
        if params.delay:  # training time in proportion to the declared work
            time.sleep(params.delay * params.cost * params.epochs * len(corpus) / 240)
        songs = np.unique(corpus.songs)
        score = 1 - (params.x - OPTIMUM) ** 2 - 1.0 / (len(corpus) * params.epochs)
        vectors = np.column_stack([np.full(len(songs), score), np.ones(len(songs))])
        return embench.Embedding(songs, vectors)


class OracleMetric(embench.Metric):
    """``score``: the score the costly embedder encoded, with seeded per-query noise."""

    name = "oracle"
    values = {
        "score": embench.Value("max", per_query="s", description="the known score"),
        "spread": embench.Value("max", description="10 x the score (a VRC-like value)"),
    }
    query_keys = ("query",)

    def compute(self, ctx, options):
        score = float(ctx.embedding.vectors[:, 0].mean())
        noise = np.random.default_rng(0).normal(0, 0.01, size=50)
        noise -= noise.mean()
        per_query = pd.DataFrame({"query": np.arange(50), "s": score + noise})
        values = {"score": score, "spread": 10 * score}
        return embench.MetricResult(values=values, per_query=per_query)


class RecordingSearch(embench.Search):
    """Seeded uniform asks; remembers every tell (tests only)."""

    instances: list[RecordingSearch] = []

    def __init__(self, space, seed):
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.told: list[tuple[dict, list, bool]] = []
        self.events = ""  # "a" per ask, "t" per tell, in order
        self.overruns: list[float | None] = []  # told with each tell
        RecordingSearch.instances.append(self)

    def ask(self):
        self.events += "a"
        out = {}
        for k, d in self.space.items():
            low, high = (np.log(d.low), np.log(d.high)) if d.log else (d.low, d.high)
            value = self.rng.uniform(low, high)
            out[k] = cast(d, np.exp(value) if d.log else value)
        return out

    def tell(self, params, objectives, feasible, overrun=None):
        self.events += "t"
        self.told.append((dict(params), list(objectives), feasible))
        self.overruns.append(overrun)

    def best(self):
        return []


class RecordingOptimiser(embench.Optimiser):
    name = "recording"

    def create(self, space, n_objectives, options, *, seed, budget):
        return RecordingSearch(space, seed)


class SearchPlugin:
    @embench.hookimpl
    def register_datasets(self, register):
        register(TinyLoader)

    @embench.hookimpl
    def register_embedders(self, register):
        register(CostlyEmbedder)

    @embench.hookimpl
    def register_metrics(self, register):
        register(OracleMetric)

    @embench.hookimpl
    def register_optimisers(self, register):
        register(RecordingOptimiser)


def benchmark_text(study: str, extra: str = "", objective: str = 'objective = "score"') -> str:
    return f"""
[benchmark]
name = "search"
seed = 4
threads = 1

[dataset]
plugin = "tiny"
[dataset.options]
songs = 40
sequences = 300

[split]
train = 0.8
validation = 0.1
test = 0.1

[metrics.oracle]

[[configuration]]
name = "default"
embedder = "costly"

[[study]]
name = "search"
embedder = "costly"
{objective}
{study}
{extra}
"""


def run_study(tmp_path: Path, text: str, out: str = "out", budget: int | None = None):
    """Run the benchmark's first study directly (no final retraining, no report)."""
    path = tmp_path / f"{out}.toml"
    path.write_text(text)
    bench = load_benchmark(path)
    dataset = bench.load_dataset()
    split = make_split(dataset, bench.config.split.fractions, seed=bench.seed)
    plan = bench.studies[0]
    study = Study(
        plan,
        bench.metrics,
        dataset,
        split,
        tmp_path / out / "studies" / plan.name,
        seed=bench.seed,
        threads=1,
        budget=budget,
    )
    return study.run()
