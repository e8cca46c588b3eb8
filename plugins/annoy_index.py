"""``annoy``: approximate neighbours from a forest of random-projection trees (Spotify's Annoy).

The index holds the embedding's unit-length vectors under Annoy's *angular* metric
(``sqrt(2 - 2 cos)``, which orders neighbours as cosine similarity does). It is built once per
embedding with ``n_trees`` trees (more trees: better recall, a larger index and a slower build)
on ``threads`` threads, seeded, so a run repeats itself. A query inspects ``search_k`` tree nodes
(more: better recall, slower queries; by default ``search_factor`` x ``n_trees`` x the
neighbours asked for, ten times Annoy's own default: on a Word2Vec embedding of 300,000 songs,
Annoy's default gives a recall@100 of 0.77, ten times it 0.99) and its own row is dropped from
the answer. Queries run on ``threads`` threads (Annoy releases the GIL while it searches).

Choose ``[index] plugin = "annoy"`` in the benchmark file; the run then measures the recall@k
of the index against the exact search and marks the figures it served as approximate.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from pydantic import Field

import embench

CHUNK = 4096  # queries per task of the thread pool


class AnnoyOptions(embench.Options):
    n_trees: int = Field(
        50, ge=1, le=2000, description="trees of the forest: more, better recall, slower build"
    )
    search_k: int = Field(
        -1,
        ge=-1,
        le=2**31 - 1,
        description="tree nodes inspected per query (-1: search_factor x n_trees x the "
        "neighbours asked for); more, better recall, slower queries",
    )
    search_factor: float = Field(
        10.0,
        gt=0,
        le=10_000,
        description="with search_k = -1: nodes inspected per query = search_factor x n_trees "
        "x (k + 1) (Annoy's own default is 1, too few for a recall@100 of 0.95)",
    )


class AnnoySearcher:
    """One embedding's Annoy forest."""

    def __init__(self, index, n: int, options: AnnoyOptions) -> None:
        self.index = index
        self.n = n
        self.options = options

    def nodes(self, k: int) -> int:
        """Tree nodes inspected per query for ``k`` neighbours (``k + 1`` are asked for)."""
        if self.options.search_k >= 0:
            return self.options.search_k
        return int(self.options.search_factor * self.options.n_trees * (k + 1))

    def search(self, queries: np.ndarray, k: int, *, threads: int) -> np.ndarray:
        out = np.full((len(queries), k), -1, dtype=np.int64)
        if k == 0 or len(queries) == 0 or self.n < 2:
            return out
        nodes = self.nodes(k)

        def chunk(start: int) -> None:
            for i in range(start, min(start + CHUNK, len(queries))):
                row = int(queries[i])
                found = [r for r in self.index.get_nns_by_item(row, k + 1, nodes) if r != row]
                out[i, : min(k, len(found))] = found[:k]

        starts = range(0, len(queries), CHUNK)
        if threads <= 1 or len(queries) <= CHUNK:
            for start in starts:
                chunk(start)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(chunk, starts))
        return out


class AnnoyIndex(embench.NeighbourIndex[AnnoyOptions]):
    """Approximate neighbours from Annoy's random-projection forest (angular metric)."""

    name = "annoy"
    Options = AnnoyOptions
    approximate = True

    def build(
        self, vectors: np.ndarray, options: AnnoyOptions, *, seed: int, threads: int
    ) -> AnnoySearcher:
        import annoy

        n, d = vectors.shape
        index = annoy.AnnoyIndex(d, "angular")
        index.set_seed(int(seed) % (2**31))
        for row, vector in enumerate(np.asarray(vectors, dtype=np.float32)):
            index.add_item(row, vector)
        index.build(options.n_trees, n_jobs=max(1, threads))
        return AnnoySearcher(index, n, options)


@embench.hookimpl
def register_indexes(register):
    register(AnnoyIndex)
