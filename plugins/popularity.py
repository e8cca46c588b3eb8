"""Next-song HitRate@k per popularity bucket of the query and of the target song.

Songs are sorted by training plays, most played first (ties: lower song index first). With ``B``
buckets, bucket ``b`` holds the songs that start inside ``[b/B, (b+1)/B)`` of the cumulative
share of plays, i.e. whose preceding songs hold that share (integer arithmetic, no rounding);
so the most played song is always in bucket 0 and each bucket holds about a ``1/B`` share of
plays. Songs never played in training fall into the last bucket. A bucket left empty (some song
alone holds more than ``1/B`` of the plays) is a :class:`~embench.errors.DataError`: choose
fewer buckets.

The pairs scored are the consecutive pairs of the held-out sequences, as in out-of-set next-song
prediction; each pair falls into a cell (query bucket, target bucket), and at most
``pairs_per_cell`` pairs per cell are drawn with the metric's seeded generator. A query or target
without a vector is a miss. ``hitrate_by_popularity`` (rows: query bucket, columns: target
bucket) holds the HitRates, ``pairs_by_popularity`` the pairs scored in each cell (a cell without
pairs has a NaN HitRate). The values are the diagonal cells ``hitrate_pop_diag_b<b>`` and their
mean over cells with pairs, ``hitrate_pop_diag``. Each carries its sample size and 95% confidence
interval (:mod:`embench.sampling`): a cell's pairs are a simple random sample of the cell's
held-out pairs, and the mean's interval combines the cells' independent samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

import embench
from embench.errors import DataError
from embench.sampling import HELD_OUT_PAIRS, combine, mean

CHUNK = 50_000  # queries looked up at once
MAX_BUCKETS = 20  # value keys are declared for this many buckets


class PopularityOptions(embench.Options):
    k: int = Field(100, ge=1, description="neighbours considered (HitRate@k)")
    buckets: int = Field(
        5, ge=2, le=MAX_BUCKETS, description="popularity buckets, each ~1/buckets of the plays"
    )
    pairs_per_cell: int = Field(
        1000, ge=1, description="pairs drawn per (query bucket, target bucket) cell"
    )


def popularity_buckets(plays: np.ndarray, buckets: int) -> np.ndarray:
    """Bucket of every song: ``floor(buckets x plays of more popular songs / all plays)``."""
    plays = np.asarray(plays, dtype=np.int64)
    if (plays < 0).any():
        raise DataError("popularity buckets: negative play counts")
    total = int(plays.sum())
    if total == 0:
        raise DataError("popularity buckets: the training corpus has no plays")
    order = np.lexsort((np.arange(len(plays)), -plays))
    before = np.cumsum(plays[order]) - plays[order]
    bucket = np.empty(len(plays), dtype=np.int64)
    bucket[order] = np.minimum(before * buckets // total, buckets - 1)
    bucket[plays == 0] = buckets - 1
    filled = np.bincount(bucket, minlength=buckets) > 0
    if not filled.all():
        empty = np.flatnonzero(~filled)
        share = plays.max() / total
        raise DataError(
            f"popularity buckets: {buckets} buckets leave bucket(s) {empty.tolist()} empty "
            f"(the most played song alone holds {share:.0%} of the plays); use fewer buckets"
        )
    return bucket


def draw_per_cell(cells: np.ndarray, size: int, keys: np.ndarray) -> np.ndarray:
    """Indices of up to ``size`` items per cell, those with the smallest permanent random
    ``keys`` (a uniform sample in each cell), in ascending order."""
    order = np.lexsort((keys, cells))
    sorted_cells = cells[order]
    if len(order) == 0:
        return order
    starts = np.flatnonzero(np.r_[True, sorted_cells[1:] != sorted_cells[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return np.sort(order[rank < size])


def hits_at_k(ctx, queries: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """Whether each target is among its query's top-k neighbours (unknown songs: a miss)."""
    hits = np.zeros(len(queries), dtype=bool)
    for start in range(0, len(queries), CHUNK):
        neighbours = ctx.song_neighbours(queries[start : start + CHUNK], k)
        hits[start : start + CHUNK] = (neighbours == targets[start : start + CHUNK, None]).any(1)
    return hits


class PopularityBuckets(embench.Metric[PopularityOptions]):
    """HitRate@k per (query popularity bucket, target popularity bucket)."""

    name = "popularity"
    Options = PopularityOptions
    # Significance: the hits of the pairs on the diagonal (NaN off it), paired by pair.
    values = {
        "hitrate_pop_diag": embench.Value(
            "max", per_query="diagonal_hit", description="mean HitRate of the diagonal cells"
        )
    } | {
        f"hitrate_pop_diag_b{b}": embench.Value(
            "max", description=f"HitRate of queries and targets in bucket {b}"
        )
        for b in range(MAX_BUCKETS)
    }
    query_keys = ("query_song", "target_song")

    def pairs(
        self, ctx: embench.EvalContext, options: PopularityOptions
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query songs, target songs, cells) of the held-out pairs drawn for scoring."""
        queries, targets, cells = self.all_pairs(ctx, options)
        # The keys of next-song's out-of-set sample: its pairs are a cell's first choice.
        keys = ctx.sample_keys(HELD_OUT_PAIRS, len(cells))
        chosen = draw_per_cell(cells, options.pairs_per_cell, keys)
        return queries[chosen], targets[chosen], cells[chosen]

    def all_pairs(
        self, ctx: embench.EvalContext, options: PopularityOptions
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query songs, target songs, cells) of every held-out pair."""
        n_buckets = options.buckets
        bucket = popularity_buckets(ctx.popularity, n_buckets)
        queries, targets = ctx.held_out_pairs
        return queries, targets, bucket[queries] * n_buckets + bucket[targets]

    def neighbours(
        self, ctx: embench.EvalContext, options: PopularityOptions
    ) -> embench.NeighbourRequest:
        return embench.NeighbourRequest(options.k, self.pairs(ctx, options)[0])

    def compute(self, ctx: embench.EvalContext, options: PopularityOptions) -> embench.MetricResult:
        n_buckets = options.buckets
        queries, targets, cells = self.pairs(ctx, options)
        hits = hits_at_k(ctx, queries, targets, options.k)

        size = n_buckets * n_buckets
        counts = np.bincount(cells, minlength=size)
        hit_counts = np.bincount(cells, weights=hits, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = np.where(counts > 0, hit_counts / np.maximum(counts, 1), np.nan)
        labels = [f"b{b}" for b in range(n_buckets)]
        table = pd.DataFrame(rates.reshape(n_buckets, n_buckets), index=labels, columns=labels)
        table.index.name = "query_bucket"
        table.columns.name = "target_bucket"
        pairs = pd.DataFrame(counts.reshape(n_buckets, n_buckets), index=labels, columns=labels)
        pairs.index.name = "query_bucket"
        pairs.columns.name = "target_bucket"

        diagonal = np.diag(table.to_numpy())
        values = {f"hitrate_pop_diag_b{b}": float(diagonal[b]) for b in range(n_buckets)}
        filled = ~np.isnan(diagonal)
        values["hitrate_pop_diag"] = float(diagonal[filled].mean()) if filled.any() else np.nan
        population = np.bincount(self.all_pairs(ctx, options)[2], minlength=size)
        cell_estimates = [
            mean(hits[cells == b * (n_buckets + 1)], int(population[b * (n_buckets + 1)]))
            for b in range(n_buckets)
        ]
        estimates = {f"hitrate_pop_diag_b{b}": e for b, e in enumerate(cell_estimates)}
        estimates["hitrate_pop_diag"] = combine(
            [(1 / int(filled.sum()), e) for e in cell_estimates if e.n > 0]
        )
        song_ids = ctx.dataset.songs["song_id"].to_numpy()
        per_query = pd.DataFrame(
            {
                "query_song": song_ids[queries],
                "target_song": song_ids[targets],
                "query_bucket": cells // n_buckets,
                "target_bucket": cells % n_buckets,
                "hit": hits,
                "diagonal_hit": np.where(cells // n_buckets == cells % n_buckets, hits, np.nan),
            }
        )
        return embench.MetricResult(
            values=values,
            per_query=per_query,
            tables={"hitrate_by_popularity": table, "pairs_by_popularity": pairs},
            intervals={key: estimate.interval() for key, estimate in estimates.items()},
        )


@embench.hookimpl
def register_metrics(register):
    register(PopularityBuckets)
