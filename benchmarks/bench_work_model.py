"""Validate Word2Vec's work model against gensim's training time (docs/results.md).

Trains ``--configs`` random configurations of the paper's Table 3 space (the first one the
default; configurations over 6x the default's work left out, most of those over 3x too, so that
the run stays short) on a benchmark's training split, times each in wall and CPU seconds, and
fits a line through (log work, log seconds) for the work model of ``plugins/word2vec.py`` and
for the naive count ``epochs x pairs(window) x (negative + 1) x vector_size``, reporting the
leave-one-out median error of each::

    python benchmarks/bench_work_model.py benchmarks/yes_big.toml --configs 40 --json t.jsonl
    python benchmarks/bench_work_model.py benchmarks/yes_big.toml --fit t.jsonl  # fit only
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time
from pathlib import Path

import numpy as np

from embench.api import TrainingMonitor
from embench.benchmark import load_benchmark
from embench.cost import corpus_stats
from embench.data.split import make_split
from embench_plugins.word2vec import (
    NEGATIVE_COST,
    TOKEN_COST,
    Word2Vec,
    Word2VecOptions,
    training_work,
)

KNOBS = ("vector_size", "window", "negative", "ns_exponent", "alpha")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def configurations(n: int, stats, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    default = Word2VecOptions()
    base = training_work(default, stats)
    out = [{k: getattr(default, k) for k in KNOBS}]
    while len(out) < n:
        params = {
            "vector_size": int(rng.integers(25, 201)),
            "window": int(rng.integers(1, 41)),
            "negative": int(rng.integers(1, 101)),
            "ns_exponent": float(rng.uniform(-1, 1)),
            "alpha": float(math.exp(rng.uniform(math.log(0.001), math.log(0.1)))),
        }
        ratio = training_work(Word2VecOptions(**params), stats) / base
        if ratio > 6 or (ratio > 3 and rng.uniform() < 0.7):
            continue
        out.append(params)
    return out


def measure(benchmark: Path, n: int, seed: int, path: Path | None) -> list[dict]:
    bench = load_benchmark(benchmark)
    dataset = bench.load_dataset()
    split = make_split(dataset, bench.config.split.fractions, seed=bench.seed)
    stats = corpus_stats(split.train)
    rows = []
    for params in configurations(n, stats, seed):
        options = Word2VecOptions(**params, workers=1)
        wall, cpu = time.perf_counter(), cpu_seconds()
        Word2Vec().fit(split.train, options, seed=bench.seed, threads=1, monitor=TrainingMonitor())
        row = {
            **params,
            "epochs": options.epochs,
            "tokens": stats.tokens,
            "pairs": stats.context_pairs(options.window),
            "work": training_work(options, stats),
            "wall": time.perf_counter() - wall,
            "cpu": cpu_seconds() - cpu,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        if path is not None:
            with open(path, "a") as handle:
                handle.write(json.dumps(row) + "\n")
    return rows


def leave_one_out(work: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    errors = []
    for i in range(len(work)):
        keep = np.arange(len(work)) != i
        slope, intercept = np.polyfit(np.log(work[keep]), np.log(seconds[keep]), 1)
        predicted = math.exp(intercept + slope * math.log(work[i]))
        errors.append(abs(predicted - seconds[i]) / seconds[i])
    return np.asarray(errors)


def work_of(row: dict) -> float:
    """The model's work of a timing row (the same formula as ``training_work``)."""
    per_pair = (row["negative"] + 1) * (row["vector_size"] + NEGATIVE_COST)
    return row["epochs"] * (row["tokens"] * TOKEN_COST + row["pairs"] * per_pair)


def fit(rows: list[dict], key: str) -> None:
    seconds = np.array([r[key] for r in rows])
    models = {
        "work model (plugins/word2vec.py)": np.array([work_of(r) for r in rows]),
        "naive: epochs x pairs x (negative + 1) x d": np.array(
            [r["epochs"] * r["pairs"] * (r["negative"] + 1) * r["vector_size"] for r in rows]
        ),
    }
    print(f"{len(rows)} trainings, {key} seconds {seconds.min():.2f} to {seconds.max():.2f}")
    for name, work in models.items():
        slope, intercept = np.polyfit(np.log(work), np.log(seconds), 1)
        residual = np.log(seconds) - intercept - slope * np.log(work)
        r2 = 1 - residual.var() / np.log(seconds).var()
        errors = leave_one_out(work, seconds)
        print(
            f"  {name}: slope {slope:.2f}, R^2 (log) {r2:.2f}, leave-one-out median error "
            f"{np.median(errors):.0%}, 90th percentile {np.quantile(errors, 0.9):.0%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", type=Path, help="a benchmark file (data, split, seed)")
    parser.add_argument("--configs", type=int, default=40, help="configurations to train")
    parser.add_argument("--seed", type=int, default=0, help="draws of the configurations")
    parser.add_argument("--json", type=Path, help="append every timing to this JSON-lines file")
    parser.add_argument("--fit", type=Path, help="fit the timings of this file, train nothing")
    args = parser.parse_args()
    if args.fit is not None:
        rows = [json.loads(line) for line in args.fit.read_text().splitlines() if line.strip()]
    else:
        rows = measure(args.benchmark, args.configs, args.seed, args.json)
    for key in ("cpu", "wall"):
        fit(rows, key)


if __name__ == "__main__":
    main()
