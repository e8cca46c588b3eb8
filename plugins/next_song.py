"""Next-song prediction: HitRate@k and NDCG@k in-set, out-of-set and their mean (DESIGN.md s.4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

import embench

CHUNK = 50_000  # queries scored at once; bounds memory at CHUNK x k neighbour ids


class NextSongOptions(embench.Options):
    k: int = Field(100, ge=1, description="neighbours considered (HitRate@k, NDCG@k)")
    in_set: bool = Field(True, description="score the masked last song of training sequences")
    out_of_set: bool = Field(True, description="score consecutive pairs of held-out sequences")


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
        """(query songs, target songs) of each scored set, ``"in"`` and/or ``"out"``."""
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
        values: dict[str, float] = {}
        frames = []
        song_ids = ctx.dataset.songs["song_id"].to_numpy()
        for label, (queries, targets) in sets.items():
            ranks = ranks_of_targets(ctx, queries, targets, options.k)
            gain = gains(ranks)
            values[f"hitrate_{label}"] = float((ranks > 0).mean()) if len(ranks) else float("nan")
            values[f"ndcg_{label}"] = float(gain.mean()) if len(ranks) else float("nan")
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
            parts = [values[f"{metric}_{s}"] for s in sets if not np.isnan(values[f"{metric}_{s}"])]
            values[metric] = float(np.mean(parts)) if parts else float("nan")
        per_query = pd.concat(frames, ignore_index=True) if frames else None
        return embench.MetricResult(values=values, per_query=per_query)


@embench.hookimpl
def register_metrics(register):
    register(NextSong)
