"""Per-trial overhead of the built-in optimisers (ask + tell) as the study grows.

Drives each optimiser sequentially over the Word2Vec search space (the paper's Table 3) with a
cheap synthetic objective, timing every ask and tell. Prints the mean ask and tell time over the
trials right after 10, 50 and 100 told trials (trials 11-20, 51-60, 101-110) and the total.
Run: python benchmarks/bench_optimisers.py [--trials 110 --window 10 --seed 0]
"""

from __future__ import annotations

import argparse
import math
import time

from embench_plugins.nevergrad_search import Nevergrad
from embench_plugins.pymoo_search import Nsga2
from embench_plugins.random_search import Random
from embench_plugins.word2vec import Word2Vec

SPACE = Word2Vec.search_space  # d, window, ns_exponent, negative, alpha (log)


def objectives(p: dict) -> list[float]:
    """Two smooth toy objectives to minimise (a stand-in for -HitRate and -rVRC)."""
    a = ((p["vector_size"] - 120) / 175) ** 2 + ((p["window"] - 8) / 39) ** 2
    b = (p["ns_exponent"] - 0.2) ** 2 / 4 + ((p["negative"] - 20) / 99) ** 2
    c = (math.log10(p["alpha"]) + 1.7) ** 2 / 4
    return [a + b + c, (1 - a) + c]


def run(cls, options, trials: int, seed: int) -> tuple[list[float], list[float]]:
    n_objectives = 2 if cls.multi_objective else 1
    search = cls().create(SPACE, n_objectives, options, seed=seed, budget=trials)
    asks, tells = [], []
    for _ in range(trials):
        start = time.perf_counter()
        params = search.ask()
        asks.append(time.perf_counter() - start)
        values = objectives(params)[:n_objectives]
        start = time.perf_counter()
        search.tell(params, values, True)
        tells.append(time.perf_counter() - start)
    return asks, tells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=110)
    parser.add_argument("--window", type=int, default=10, help="trials averaged per point")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    marks = [m for m in (10, 50, 100) if m + args.window <= args.trials]
    candidates = [
        ("nevergrad (10 random + BO)", Nevergrad, Nevergrad.Options()),
        ("nevergrad TwoPointsDE", Nevergrad, Nevergrad.Options(optimizer="TwoPointsDE")),
        ("nsga2 (pop 10, 2 objectives)", Nsga2, Nsga2.Options()),
        ("random (2 objectives)", Random, Random.Options()),
    ]
    header = f"{'optimiser':32}" + "".join(f"{'after ' + str(m):>22}" for m in marks)
    print(f"ms per trial, ask + tell (ask / tell), mean of {args.window} trials; Word2Vec space")
    print(header + f"{'total s':>10}")
    for label, cls, options in candidates:
        start = time.perf_counter()
        asks, tells = run(cls, options, args.trials, args.seed)
        total = time.perf_counter() - start
        cells = []
        for m in marks:
            a = 1000 * sum(asks[m : m + args.window]) / args.window
            t = 1000 * sum(tells[m : m + args.window]) / args.window
            cells.append(f"{a + t:8.1f} ({a:6.1f}/{t:5.1f})")
        print(f"{label:32}" + "".join(f"{c:>22}" for c in cells) + f"{total:10.2f}")


if __name__ == "__main__":
    main()
