"""Word2Vec's two input modes on a large corpus: streaming blocks vs a cached LineSentence file.

Generates synthetic stream-like data (the ``synthetic`` dataset), then trains the default
Word2Vec configuration through the embench plugin once per mode, each in its own process so that
each peak RSS is its own: ``stream`` (``corpus_file = false``, the default: sequences stream to
gensim a block at a time) and ``file`` (``corpus_file = true``: a LineSentence file written once
per corpus into ``$EMBENCH_CACHE_DIR``, then a second training that reuses it). Prints, per mode,
the training seconds and the process's peak RSS::

    python benchmarks/bench_corpus_modes.py --songs 100000 --plays 10000000 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(mode: str, songs: int, plays: int, epochs: int, threads: int) -> dict:
    """One mode, in this process: generate, train (twice for ``file``), measure."""
    from embench.api import TrainingMonitor
    from embench.data.synthetic import generate
    from embench_plugins.word2vec import Word2Vec, Word2VecOptions

    corpus = generate(songs=songs, plays=plays, play_log=False, seed=1).sequences
    after_data = peak_rss_mib()
    params = Word2VecOptions(epochs=epochs, corpus_file=mode == "file")
    seconds = []
    for _ in range(2 if mode == "file" else 1):
        start = time.perf_counter()
        Word2Vec().fit(corpus, params, seed=1, threads=threads, monitor=TrainingMonitor())
        seconds.append(time.perf_counter() - start)
    return {
        "mode": mode,
        "plays": int(corpus.n_events),
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "peak_rss_before_training_mib": after_data,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=100_000)
    parser.add_argument("--plays", type=int, default=10_000_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", choices=["stream", "file"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # a child process: one mode
        figures = train(args.mode, args.songs, args.plays, args.epochs, args.threads)
        print(json.dumps(figures))
        return
    with tempfile.TemporaryDirectory(prefix="embench-corpus-") as cache:
        env = {**os.environ, "EMBENCH_CACHE_DIR": cache}
        for mode in ("stream", "file"):
            command = [sys.executable, __file__, "--mode", mode] + [
                f"--{key}={getattr(args, key)}" for key in ("songs", "plays", "epochs", "threads")
            ]
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            runs = ", ".join(f"{s:.1f}" for s in figures["seconds"])
            print(
                f"{mode:6} {figures['plays']:,} plays, {args.epochs} epoch(s), "
                f"{args.threads} threads: training {runs} s; peak RSS "
                f"{figures['peak_rss_mib']:.0f} MiB "
                f"({figures['peak_rss_before_training_mib']:.0f} MiB before training)"
            )


if __name__ == "__main__":
    main()
