"""Word2Vec through embench vs gensim called directly, same corpus and parameters.

Prints both training times (best of --repeats, interleaved so machine noise hits both alike)
and embench's overhead: converting the CSR corpus to tokens, the progress callback and
building the Embedding. Run: python benchmarks/bench_word2vec.py [--songs N --sequences M]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from embench.api import TrainingMonitor
from embench.data.dataset import Sequences
from embench_plugins.word2vec import Word2Vec, Word2VecOptions, sequences_as_tokens, stable_hash


def zipf_corpus(songs: int, sequences: int, seed: int) -> Sequences:
    """Lognormal session lengths (median ~29) over Zipf-popular songs."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(29), 0.9, size=sequences).astype(np.int64), 2, 500)
    weights = 1.0 / np.arange(1, songs + 1) ** 0.9
    flat = rng.choice(songs, size=int(lengths.sum()), p=weights / weights.sum())
    return Sequences(np.concatenate([[0], np.cumsum(lengths)]), flat)


def direct(corpus: Sequences, params: Word2VecOptions, seed: int, workers: int) -> float:
    from gensim.models import Word2Vec as GensimWord2Vec

    sentences = sequences_as_tokens(corpus)  # what a gensim user would already hold
    start = time.perf_counter()
    GensimWord2Vec(
        sentences=sentences,
        sg=1,
        hs=0,
        vector_size=params.vector_size,
        window=params.window,
        ns_exponent=params.ns_exponent,
        negative=params.negative,
        alpha=params.alpha,
        min_alpha=params.min_alpha,
        epochs=params.epochs,
        min_count=params.min_count,
        sample=params.sample,
        workers=workers,
        seed=seed,
        hashfxn=stable_hash,
    )
    return time.perf_counter() - start


def through_embench(corpus: Sequences, params: Word2VecOptions, seed: int, workers: int) -> float:
    start = time.perf_counter()
    Word2Vec().fit(corpus, params, seed=seed, threads=workers, monitor=TrainingMonitor())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--songs", type=int, default=20_000)
    parser.add_argument("--sequences", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    corpus = zipf_corpus(args.songs, args.sequences, seed=0)
    params = Word2VecOptions()
    print(f"corpus: {len(corpus):,} sequences, {corpus.n_events:,} events, {args.songs:,} songs")
    print(f"params: gensim defaults of the paper's Table 3, workers={args.workers}")
    gensim_times, embench_times = [], []
    for _ in range(args.repeats):
        gensim_times.append(direct(corpus, params, 1, args.workers))
        embench_times.append(through_embench(corpus, params, 1, args.workers))
    g, e = min(gensim_times), min(embench_times)
    print(f"gensim direct    best {g:7.2f} s  (all: {', '.join(f'{t:.2f}' for t in gensim_times)})")
    print(
        f"through embench  best {e:7.2f} s  (all: {', '.join(f'{t:.2f}' for t in embench_times)})"
    )
    print(f"embench overhead: {100 * (e / g - 1):+.1f}%  (target: at most +5%)")


if __name__ == "__main__":
    main()
