"""Neighbour indexes against the exact search: recall@k and time on a large synthetic catalogue.

    python benchmarks/bench_index.py                       # 1,000,000 songs, d = 100, annoy
    python benchmarks/bench_index.py --vectors runs/NAME/embeddings/default/vectors.npy
    python benchmarks/bench_index.py --songs 100000 --kind isotropic --search-factor 1

The vectors are an exported embedding (``--vectors``), or synthetic ones that imitate a
behavioural embedding: a song is its genre's centre plus its artist's offset plus its own noise
(``--kind clustered``: 50 genres, 20 songs per artist), or plain Gaussian noise (``--kind
isotropic``: no structure at all, the hardest case for any tree index).
A seeded sample of ``--queries`` songs is searched both ways (the songs a run's metrics
request); recall@k is measured on ``--recall-queries`` of them, as a run does. Times: the exact
kernel for the queries; the index's build (once per embedding) plus its search of the same
queries. Both searches are linear in the queries, so the script also prints each one's time
extrapolated to the query counts of a run at default sample sizes (``--at``).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from embench.index import ExactIndex, recall_at_k
from embench.neighbours import normalise
from embench.sampling import mean
from embench_plugins.annoy_index import AnnoyIndex, AnnoyOptions


def catalogue(songs: int, dim: int, kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "isotropic":
        return rng.standard_normal((songs, dim), dtype=np.float32)
    genres = rng.standard_normal((50, dim), dtype=np.float32)
    artists = songs // 20 + 1
    artist_genre = rng.integers(0, 50, size=artists)
    offsets = 0.8 * rng.standard_normal((artists, dim), dtype=np.float32)
    artist = rng.integers(0, artists, size=songs)
    out = 0.6 * rng.standard_normal((songs, dim), dtype=np.float32)
    out += genres[artist_genre[artist]]
    out += offsets[artist]
    return out


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=1_000_000)
    parser.add_argument(
        "--vectors", default=None, help="an embedding's vectors.npy instead of synthetic vectors"
    )
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--kind", choices=["clustered", "isotropic"], default="clustered")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--queries", type=int, default=3000, help="songs searched both ways")
    parser.add_argument("--recall-queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-trees", type=int, default=None, help="default: the plugin's")
    parser.add_argument("--search-k", type=int, default=None, help="default: the plugin's")
    parser.add_argument("--search-factor", type=float, default=None, help="default: the plugin's")
    parser.add_argument(
        "--at",
        type=int,
        nargs="*",
        default=[10_000, 100_000, 300_000],
        help="query counts to extrapolate the times to",
    )
    args = parser.parse_args()

    options = AnnoyOptions(
        **{
            key: value
            for key, value in (
                ("n_trees", args.n_trees),
                ("search_k", args.search_k),
                ("search_factor", args.search_factor),
            )
            if value is not None
        }
    )
    start = time.perf_counter()
    if args.vectors:
        vectors = normalise(np.load(args.vectors))
        args.songs, args.dim = vectors.shape
        args.kind = args.vectors
    else:
        vectors = normalise(catalogue(args.songs, args.dim, args.kind, args.seed))
    print(
        f"{args.songs:,} songs x {args.dim} ({args.kind}), k = {args.k}, {args.queries:,} "
        f"queries, {args.threads} threads, annoy {options.model_dump()}"
    )
    print(f"vectors: {time.perf_counter() - start:.1f} s")
    rng = np.random.default_rng(args.seed + 1)
    queries = np.sort(rng.choice(args.songs, size=min(args.queries, args.songs), replace=False))

    start = time.perf_counter()
    exact_searcher = ExactIndex().build(vectors, ExactIndex.Options(), seed=0, threads=args.threads)
    exact = exact_searcher.search(queries, args.k, threads=args.threads)
    exact_seconds = time.perf_counter() - start
    print(
        f"exact: {exact_seconds:.1f} s for {len(queries):,} queries (peak RSS {peak_rss_gib():.2f} GiB)"
    )

    start = time.perf_counter()
    searcher = AnnoyIndex().build(vectors, options, seed=args.seed, threads=args.threads)
    build_seconds = time.perf_counter() - start
    print(f"annoy build: {build_seconds:.1f} s (peak RSS {peak_rss_gib():.2f} GiB)")
    start = time.perf_counter()
    found = searcher.search(queries, args.k, threads=args.threads)
    search_seconds = time.perf_counter() - start
    print(f"annoy search: {search_seconds:.1f} s for {len(queries):,} queries")

    sample = np.sort(
        rng.choice(len(queries), size=min(args.recall_queries, len(queries)), replace=False)
    )
    recall = recall_at_k(found[sample], exact[sample])
    estimate = mean(recall, len(queries)).interval()
    full = recall_at_k(found, exact)
    print(
        f"recall@{args.k}: {float(recall.mean()):.4f} on {len(sample):,} queries "
        f"(95% CI [{estimate.low:.4f}, {estimate.high:.4f}]); on all {len(queries):,}: "
        f"{float(full.mean()):.4f}"
    )
    per_exact = exact_seconds / len(queries)
    per_annoy = search_seconds / len(queries)
    print("\nqueries   exact s   annoy s (build + search)   exact / annoy")
    for count in [len(queries), *args.at]:
        e, a = per_exact * count, build_seconds + per_annoy * count
        kind = "measured" if count == len(queries) else "extrapolated"
        print(
            f"{count:>8,}  {e:>8.1f}   {a:>8.1f} ({build_seconds:.1f} + {per_annoy * count:.1f})"
            f"   {e / a:>6.2f}x  {kind}"
        )


if __name__ == "__main__":
    main()
