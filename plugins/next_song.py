"""Next-song prediction: HitRate@k and NDCG@k in-set, out-of-set and their mean (DESIGN.md s.4).

Each set (in-set: the masked last song of each training sequence; out-of-set: every consecutive
pair of the held-out sequences) is scored on all its pairs, or on a seeded sample of
``max_queries`` of them when it has more (the same pairs for every configuration of a run).
Every value carries its sample size and 95% confidence interval (:mod:`embench.sampling`);
HitRate's is that of the mean of the two sets' independent samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

import embench
from embench.sampling import HELD_OUT_PAIRS, IN_SET_PAIRS, Estimate, combine, mean

CHUNK = 50_000  # queries scored at once; bounds memory at CHUNK x k neighbour ids
POPULATION = {"in": IN_SET_PAIRS, "out": HELD_OUT_PAIRS}  # sample names (shared populations)


class NextSongOptions(embench.Options):
    k: int = Field(100, ge=1, description="neighbours considered (HitRate@k, NDCG@k)")
    in_set: bool = Field(True, description="score the masked last song of training sequences")
    out_of_set: bool = Field(True, description="score consecutive pairs of held-out sequences")
    max_queries: int = Field(
        32_000,
        ge=1,
        description="pairs scored per set at most (a seeded sample beyond): the standard "
        "error of HitRate (the mean of the two sets) stays <= 0.5 / sqrt(2 x 32,000) = 0.0020",
    )


def ranks_of_targets(ctx, queries: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """1-based rank of each target among its query's top-k neighbours, 0 when absent.

    A query or target without a vector is absent by construction, hence a miss.
    """
    ranks = np.zeros(len(queries), dtype=np.int32)
    for start in range(0, len(queries), CHUNK):
        stop = start + CHUNK
        neighbours = ctx.song_neighbours(queries[start:stop], k)
        match = neighbours == targets[start:stop, None]
        hit = match.any(axis=1)
        ranks[start:stop] = np.where(hit, match.argmax(axis=1) + 1, 0)
    return ranks


def gains(ranks: np.ndarray) -> np.ndarray:
    """NDCG of a single relevant item: 1 / log2(1 + rank), 0 for a miss."""
    out = np.zeros(len(ranks), dtype=np.float64)
    hit = ranks > 0
    out[hit] = 1.0 / np.log2(1.0 + ranks[hit])
    return out


class NextSong(embench.Metric[NextSongOptions]):
    """HitRate@k and NDCG@k of the exact top-k neighbours of the previous song."""

    name = "next_song"
    Options = NextSongOptions
    values = {
        "hitrate": embench.Value("max", per_query="hit", description="mean of in and out"),
        "hitrate_in": embench.Value("max", description="in-set HitRate@k"),
        "hitrate_out": embench.Value("max", description="out-of-set HitRate@k"),
        "ndcg": embench.Value("max", per_query="ndcg", description="mean of in and out"),
        "ndcg_in": embench.Value("max", description="in-set NDCG@k"),
        "ndcg_out": embench.Value("max", description="out-of-set NDCG@k"),
    }
    query_keys = ("set", "query_song", "target_song")

    def pairs(
        self, ctx: embench.EvalContext, options: NextSongOptions
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(query songs, target songs) of each scored set, ``"in"`` and/or ``"out"``: every
        pair, or a seeded sample of ``max_queries`` (see :meth:`populations`)."""
        sets = {}
        for label, (queries, targets) in self.populations(ctx, options).items():
            chosen = ctx.sample(POPULATION[label], len(queries), options.max_queries)
            sets[label] = (queries[chosen], targets[chosen])
        return sets

    def populations(
        self, ctx: embench.EvalContext, options: NextSongOptions
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every (query song, target song) pair of each scored set."""
        sets = {}
        if options.in_set:
            sets["in"] = ctx.split.in_set
        if options.out_of_set:
            sets["out"] = ctx.held_out_pairs
        return sets

    def neighbours(
        self, ctx: embench.EvalContext, options: NextSongOptions
    ) -> embench.NeighbourRequest | None:
        queries = [q for q, _ in self.pairs(ctx, options).values()]
        return embench.NeighbourRequest(options.k, np.concatenate(queries)) if queries else None

    def compute(self, ctx: embench.EvalContext, options: NextSongOptions) -> embench.MetricResult:
        sets = self.pairs(ctx, options)
        sizes = {label: len(q) for label, (q, _) in self.populations(ctx, options).items()}
        values: dict[str, float] = {}
        estimates: dict[str, Estimate] = {}
        frames = []
        song_ids = ctx.dataset.songs["song_id"].to_numpy()
        for label, (queries, targets) in sets.items():
            ranks = ranks_of_targets(ctx, queries, targets, options.k)
            gain = gains(ranks)
            estimates[f"hitrate_{label}"] = mean(ranks > 0, sizes[label])
            estimates[f"ndcg_{label}"] = mean(gain, sizes[label])
            values[f"hitrate_{label}"] = estimates[f"hitrate_{label}"].value
            values[f"ndcg_{label}"] = estimates[f"ndcg_{label}"].value
            frames.append(
                pd.DataFrame(
                    {
                        "set": label,
                        "query_song": song_ids[queries],
                        "target_song": song_ids[targets],
                        "rank": ranks,
                        "hit": ranks > 0,
                        "ndcg": gain,
                    }
                )
            )
        for metric in ("hitrate", "ndcg"):
            parts = [estimates[f"{metric}_{s}"] for s in sets]
            parts = [e for e in parts if not np.isnan(e.value)]
            estimates[metric] = combine([(1 / len(parts), e) for e in parts])
            values[metric] = estimates[metric].value
        per_query = pd.concat(frames, ignore_index=True) if frames else None
        intervals = {key: estimate.interval() for key, estimate in estimates.items()}
        return embench.MetricResult(values=values, per_query=per_query, intervals=intervals)


@embench.hookimpl
def register_metrics(register):
    register(NextSong)
