"""Neighbour indexes: the search behind every metric's neighbours, chosen in ``[index]``.

A neighbour-index plugin is a :class:`NeighbourIndex` registered through the
``register_indexes(register)`` hook. For each embedding the harness calls
:meth:`NeighbourIndex.build` once, with the embedding's unit-length vectors, and then asks the
built index (a :class:`Searcher`) for the top-``k`` of the query rows the metrics requested.

``exact`` (:class:`ExactIndex`, the default) is the core's exact kernel
(:func:`embench.neighbours.exact_top_k`). An *approximate* index (``approximate = True``, e.g.
``annoy``) may miss true neighbours: the evaluation then measures its recall@k against the exact
kernel on a seeded sample of the requested songs (:func:`recall_at_k`) and marks the figures
computed through it as approximate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol

import numpy as np
from pydantic import BaseModel

from embench.api import Options, OptionsT
from embench.neighbours import exact_top_k

__all__ = ["ExactIndex", "IndexChoice", "NeighbourIndex", "Searcher", "recall_at_k"]


class Searcher(Protocol):
    """One embedding's built index."""

    def search(self, queries: np.ndarray, k: int, *, threads: int) -> np.ndarray:
        """The ``k`` nearest other rows of each row in ``queries`` (int64 row indices of the
        embedding), best first, by cosine similarity: an integer array of shape
        ``(len(queries), k)``, each row distinct rows other than the query, padded with -1 at
        the end where fewer are found."""
        ...  # pragma: no cover - interface


class NeighbourIndex(Generic[OptionsT]):
    """A neighbour search backend; subclass ``NeighbourIndex[MyOptions]``.

    ``approximate``: False only when :meth:`build` returns a searcher whose answers are the
    exact top-k (ties aside); the harness measures an approximate index's recall. ``Options``
    validates the ``[index.options]`` table of the benchmark file.
    """

    name: ClassVar[str]
    Options: ClassVar[type[Options]] = Options
    approximate: ClassVar[bool] = True

    def build(
        self, vectors: np.ndarray, options: OptionsT, *, seed: int, threads: int
    ) -> Searcher:  # pragma: no cover - interface
        """Index ``vectors`` (float32, one unit-length row per song; a row of zeros for a zero
        vector). Called once per embedding; ``seed`` makes a randomised build repeatable."""
        raise NotImplementedError


class _ExactSearcher:
    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def search(self, queries: np.ndarray, k: int, *, threads: int) -> np.ndarray:
        return exact_top_k(self.vectors, k, queries=queries, threads=threads).rows


class ExactIndex(NeighbourIndex[Options]):
    """Exact top-k by cosine similarity (the core's blocked, pruned kernel)."""

    name = "exact"
    approximate = False

    def build(self, vectors: np.ndarray, options: Options, *, seed: int, threads: int) -> Searcher:
        return _ExactSearcher(vectors)


@dataclass(frozen=True)
class IndexChoice:
    """The benchmark's ``[index]``: the backend, its validated options, the recall sample."""

    name: str = "exact"
    cls: type[NeighbourIndex] = ExactIndex
    options: BaseModel = field(default_factory=Options)
    recall_queries: int = 1000

    @property
    def approximate(self) -> bool:
        return bool(self.cls.approximate)

    def to_json(self) -> dict[str, Any]:
        return {"plugin": self.name, "options": self.options.model_dump(mode="json")}


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Per query, the share of its exact top-k (``exact``, -1 padded) that ``found`` (the
    index's answer, -1 padded) contains; NaN for a query with no exact neighbour."""
    found = np.asarray(found)
    exact = np.asarray(exact)
    if found.shape[0] != exact.shape[0]:
        raise ValueError(f"{found.shape[0]} answers for {exact.shape[0]} queries")
    wanted = exact >= 0
    hit = np.zeros(exact.shape, dtype=bool)
    for start in range(0, len(exact), 4096):  # bounds the (rows x k x k) comparison
        block = slice(start, start + 4096)
        hit[block] = (exact[block, :, None] == found[block, None, :]).any(axis=2)
    counted = wanted.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted > 0, (hit & wanted).sum(axis=1) / counted, np.nan)
