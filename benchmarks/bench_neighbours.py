"""Exact top-k neighbours against the machine's large float32 matrix-product throughput.

Prints, from one run on one machine:

(a) large single-precision matrix-product throughput (GFLOP/s, BLAS on all cores, best of
    ``--reps``), plus a product of the same shape as the neighbour work for reference;
(b) ``exact_top_k`` on a random ``--songs`` x ``--dim`` embedding: seconds, effective GFLOP/s
    (``2 n^2 d / seconds``) and the fraction of (a);
(c) a plain numpy baseline (block matrix product + argpartition + sort of the top k).

The measurements are interleaved (a, b, a, b, ...) so a busy machine affects them alike.

    python benchmarks/bench_neighbours.py --songs 50000 --dim 100 --k 100
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_info

from embench.neighbours import exact_top_k, normalise


def matmul_gflops(size: int, rng: np.random.Generator) -> float:
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty((size, size), dtype=np.float32)
    np.matmul(a, b, out=out)  # warm-up
    start = time.perf_counter()
    np.matmul(a, b, out=out)
    return 2.0 * size**3 / (time.perf_counter() - start) / 1e9


def work_shape_gflops(unit: np.ndarray, rows: int) -> float:
    out = np.empty((rows, unit.shape[0]), dtype=np.float32)
    np.matmul(unit[:rows], unit.T, out=out)
    start = time.perf_counter()
    np.matmul(unit[:rows], unit.T, out=out)
    return 2.0 * rows * unit.shape[0] * unit.shape[1] / (time.perf_counter() - start) / 1e9


def numpy_baseline(vectors: np.ndarray, k: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Block matrix product + argpartition + sort of the k kept (BLAS on all cores)."""
    unit = normalise(vectors)
    n = unit.shape[0]
    rows = np.empty((n, k), dtype=np.int32)
    scores = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block):
        stop = min(n, start + block)
        sims = unit[start:stop] @ unit.T
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        vals = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        rows[start:stop] = np.take_along_axis(part, order, axis=1)
        scores[start:stop] = np.take_along_axis(vals, order, axis=1)
    return rows, scores


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--matmul-size", type=int, default=4096)
    parser.add_argument("--reps", type=int, default=3, help="repetitions of (a) and (b)")
    parser.add_argument("--baseline-reps", type=int, default=1, help="0 skips (c)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    vectors = rng.standard_normal((args.songs, args.dim), dtype=np.float32)
    unit = normalise(vectors)
    flops = 2.0 * args.songs * args.songs * args.dim
    blas = threadpool_info()
    print(
        f"machine: {os.cpu_count()} CPUs; BLAS: "
        + ", ".join(
            f"{b['internal_api']} {b['version']} ({b['num_threads']} threads)" for b in blas
        )
    )
    env = {key: os.environ[key] for key in os.environ if key.startswith("OPENBLAS")}
    if env:
        print(f"environment: {env}")
    print(f"work: {args.songs:,} x {args.dim} float32, k={args.k}, threads={args.threads}")

    exact_top_k(vectors[: min(args.songs, 4096)], args.k, threads=args.threads)  # warm-up
    big, shaped, seconds = [], [], []
    for _ in range(args.reps):
        big.append(matmul_gflops(args.matmul_size, rng))
        shaped.append(work_shape_gflops(unit, min(2048, args.songs)))
        seconds.append(timed(lambda: exact_top_k(vectors, args.k, threads=args.threads)))
    peak = max(big)
    best = min(seconds)
    print(
        f"(a) matmul {args.matmul_size}^3 float32: {peak:8.1f} GFLOP/s "
        f"(reps: {', '.join(f'{g:.0f}' for g in big)})"
    )
    print(
        f"    matmul of the work's shape ({min(2048, args.songs)} x {args.dim} @ {args.dim} x "
        f"{args.songs}): {max(shaped):.1f} GFLOP/s"
    )
    print(
        f"(b) exact_top_k: {best:8.2f} s (reps: {', '.join(f'{s:.2f}' for s in seconds)}), "
        f"{flops / best / 1e9:.1f} GFLOP/s effective = {flops / best / 1e9 / peak:.1%} of (a)"
    )
    if args.baseline_reps > 0:
        base = min(
            timed(lambda: numpy_baseline(vectors, min(args.k, args.songs - 1)))
            for _ in range(args.baseline_reps)
        )
        print(
            f"(c) numpy baseline: {base:8.2f} s, {flops / base / 1e9:.1f} GFLOP/s effective "
            f"= {flops / base / 1e9 / peak:.1%} of (a); exact_top_k is {base / best:.1f}x faster"
        )


if __name__ == "__main__":
    main()
