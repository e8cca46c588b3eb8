"""Cost of evaluating one embedding with every metric, against one default Word2Vec training.

Target: all metrics of one embedding (the shared exact neighbour index included) cost at most
10% of one default Word2Vec training (gensim, sg=1, negative=5, window=5, vector_size=100,
epochs=5, min_count=1, workers=2) on the same data: 50,000 songs, ~7 million plays.

Uses ``embench.data.synthetic.generate`` (planted artists and genres, a play log) when it is
available, else a generator of its own: sequences that stay within one of 20 genres, songs
Zipf-popular within the genre, 10 songs per artist, plus a play log. Prints the time of each metric, the total and the ratio to training.

Run: python benchmarks/bench_metrics.py [--songs 50000 --plays 7000000 --threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import embench
from embench.data.dataset import Dataset, Sequences
from embench.data.split import make_split
from embench.evaluation import EvalContext, evaluate


def zipf_dataset(songs: int, plays: int, seed: int = 0, genres: int = 20) -> Dataset:
    """Genre-local sessions (lognormal lengths, median 20) of Zipf-popular songs."""
    rng = np.random.default_rng(seed)
    mean_length = 20 * np.exp(0.9**2 / 2)
    n_sequences = int(plays / mean_length)
    lengths = np.clip(rng.lognormal(np.log(20), 0.9, size=n_sequences).astype(np.int64), 2, 500)
    per_genre = songs // genres
    weights = 1.0 / np.arange(1, per_genre + 1) ** 0.9
    cumulative = np.cumsum(weights) / weights.sum()
    genre_of_sequence = rng.integers(genres, size=n_sequences)
    genre = np.repeat(genre_of_sequence, lengths)
    rank = np.minimum(np.searchsorted(cumulative, rng.random(len(genre))), per_genre - 1)
    shuffle = rng.permutation(per_genre)  # popularity is not ordered by song index
    flat = genre * per_genre + shuffle[rank]
    n = per_genre * genres
    song = np.arange(n)
    table = pd.DataFrame(
        {
            "song_id": [f"s{i}" for i in song],
            "title": [f"Song {i}" for i in song],
            "artist": [f"artist{i // 10}" for i in song],
            "genre": [f"genre{i // per_genre}" for i in song],
        }
    )
    rows = 50_000
    play_log = pd.DataFrame(
        {
            "seed_song": rng.integers(n, size=rows),
            "recommended_song": rng.integers(n, size=rows),
            "organic_plays": rng.integers(1, 1000, size=rows),
        }
    )
    play_log["successful_plays"] = rng.binomial(play_log["organic_plays"], 0.3)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    return Dataset("bench", Sequences(indptr, flat), table, play_log=play_log)


def load_dataset(songs: int, plays: int) -> tuple[Dataset, str]:
    try:
        from embench.data.synthetic import generate
    except ImportError:  # the shared generator is not installed: use the simple one above
        return zipf_dataset(songs, plays), "own Zipf generator (embench.data.synthetic missing)"
    dataset = generate(songs=songs, sequences=None, plays=plays, seed=0, name="bench")
    return dataset, "embench.data.synthetic.generate"


def train(corpus: Sequences, workers: int) -> tuple[embench.Embedding, float]:
    from gensim.models import Word2Vec

    vocabulary = [str(i) for i in range(int(corpus.songs.max()) + 1)]
    sentences = [[vocabulary[s] for s in sequence.tolist()] for sequence in corpus]
    start = time.perf_counter()
    model = Word2Vec(
        sentences,
        sg=1,
        negative=5,
        window=5,
        vector_size=100,
        epochs=5,
        min_count=1,
        workers=workers,
        seed=0,
    )
    seconds = time.perf_counter() - start
    songs = np.array([int(w) for w in model.wv.index_to_key], dtype=np.int64)
    return embench.Embedding(songs, model.wv.vectors), seconds


def metrics() -> list[tuple[str, embench.Metric, embench.Options]]:
    from embench_plugins.clustering import VrcArtist, VrcGenre
    from embench_plugins.coherence import ArtistCoherence, GenreCoherence
    from embench_plugins.hardneg import HardNeg
    from embench_plugins.next_song import NextSong
    from embench_plugins.play_prediction import PlayPrediction
    from embench_plugins.popularity import PopularityBuckets

    classes = [
        NextSong,
        HardNeg,
        VrcGenre,
        VrcArtist,
        GenreCoherence,
        ArtistCoherence,
        PopularityBuckets,
        PlayPrediction,
    ]
    return [(cls.name, cls(), cls.Options()) for cls in classes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--songs", type=int, default=50_000)
    parser.add_argument("--plays", type=int, default=7_000_000)
    parser.add_argument("--threads", type=int, default=2, help="Word2Vec workers = threads")
    parser.add_argument("--repeats", type=int, default=2, help="metric runs; best is kept")
    args = parser.parse_args()

    start = time.perf_counter()
    dataset, source = load_dataset(args.songs, args.plays)
    split = make_split(dataset, seed=0)
    print(f"data: {source}, built in {time.perf_counter() - start:.1f} s")
    print(
        f"  {dataset.n_songs:,} songs, {dataset.sequences.n_events:,} plays, "
        f"{len(dataset.sequences):,} sequences; training corpus {split.train.n_events:,} plays"
    )
    embedding, train_seconds = train(split.train, args.threads)
    print(f"Word2Vec default training (workers={args.threads}): {train_seconds:.1f} s")

    best: dict[str, float] = {}
    for _ in range(args.repeats):
        ctx = EvalContext(
            dataset=dataset, split=split, embedding=embedding, seed=0, threads=args.threads
        )
        evaluation = evaluate(ctx, metrics())
        for name, seconds in evaluation.seconds.items():
            best[name] = min(best.get(name, np.inf), seconds)
    total = sum(best.values())
    print(f"\nbest of {args.repeats} evaluations:")
    print(f"  {'step':<20}{'seconds':>9}{'% of training':>15}")
    for name, seconds in best.items():
        print(f"  {name:<20}{seconds:9.2f}{100 * seconds / train_seconds:14.1f}%")
    own = total - best["neighbours"] - best["next_song"]
    print(f"  {'total':<20}{total:9.2f}{100 * total / train_seconds:14.1f}%")
    print(
        f"  {'(task metrics only)':<20}{own:9.2f}{100 * own / train_seconds:14.1f}%"
        "   without the neighbour index and next_song"
    )
    print(f"\nratio all metrics / training: {total / train_seconds:.3f} (target <= 0.10)")
    print("values:", {k: round(v, 4) for k, v in evaluation.values.items()})


if __name__ == "__main__":
    main()
