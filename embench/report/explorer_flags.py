"""The neighbours of the explorer's songs and the flags of each (song, neighbour) pair.

Flags
-----
A flag is a property of a (song, neighbour) *pair* in the data, whichever configuration ranks
it. The core computes three from the dataset and the split:

- ``same_artist``, ``same_genre``: the neighbour has the song's artist (genre), both known;
- ``next_song``: the neighbour is a true next song of the song in the pairs the next-song
  metric scores: it follows the song in a held-out sequence of the evaluated part (out-of-set),
  or it is the masked last song after the song in a training sequence (in-set).

Metrics add their own through the metric contract (``Metric.flags`` declares key ->
description, ``Metric.flag_pairs(dataset, split, options, first, second)`` returns one boolean
array per key); HardNeg adds ``hard_negative`` with the same statistics and threshold as its
score. The core never imports a metric plugin: it asks the metrics of the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from embench import contract
from embench.embedding import ContractError
from embench.errors import PluginError
from embench.neighbours import exact_top_k


@dataclass(frozen=True)
class Flag:
    """One flag of a (song, neighbour) pair: its column, its badge, what it means, who sets it."""

    key: str
    label: str
    description: str
    source: str = "core"


CORE_FLAGS = (
    Flag("same_artist", "artist", "the neighbour is by the song's artist"),
    Flag("same_genre", "genre", "the neighbour has the song's genre"),
    Flag(
        "next_song",
        "next",
        "the neighbour is a true next song of the song: it follows the song in a held-out "
        "sequence of the evaluated part, or it is the masked last song after it in training "
        "(a next-song hit)",
    ),
)

CORE_FLAGS_AS_DICTS = [
    {"key": f.key, "label": f.label, "description": f.description, "source": f.source}
    for f in CORE_FLAGS
]


def top_neighbours(
    vectors: np.ndarray,
    song_index: np.ndarray,
    queries: np.ndarray,
    n_songs: int,
    k: int,
    *,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` by cosine of the songs ``queries`` (dataset indices) in one embedding
    (row ``i`` of ``vectors`` is dataset song ``song_index[i]``). Returns neighbour song indices
    (-1: none; a song without a vector has none) and cosines (NaN where none)."""
    rows_of = np.full(n_songs, -1, dtype=np.int64)
    rows_of[song_index] = np.arange(len(song_index), dtype=np.int64)
    query_rows = rows_of[np.asarray(queries, dtype=np.int64)]
    known = query_rows >= 0
    out = np.full((len(query_rows), k), -1, dtype=np.int64)
    cosine = np.full((len(query_rows), k), np.nan, dtype=np.float32)
    if known.any():
        found = exact_top_k(vectors, k, queries=query_rows[known], threads=threads)
        valid = found.rows >= 0
        out[known] = np.where(valid, song_index[np.maximum(found.rows, 0)], -1)
        cosine[known] = np.where(valid, found.scores, np.nan)
    return out, cosine


def next_song_keys(split: Any, part: str, n_songs: int) -> np.ndarray:
    """Sorted keys ``song * n_songs + next`` of every pair the next-song metric scores."""
    held_q, held_t = split.held_out(part).consecutive_pairs()
    in_q, in_t = split.in_set
    first = np.concatenate([held_q, np.asarray(in_q, dtype=np.int64)])
    second = np.concatenate([held_t, np.asarray(in_t, dtype=np.int64)])
    return np.unique(first * n_songs + second)


def core_flags(
    songs: pd.DataFrame, first: np.ndarray, second: np.ndarray, next_keys: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The core's flags of the pairs ``(first[i], second[i])`` (dataset song indices); a
    missing artist or genre is never the same as another."""
    out = {}
    for key, column in (("same_artist", "artist"), ("same_genre", "genre")):
        values = songs[column].astype("string").reset_index(drop=True)
        a = values.iloc[first].reset_index(drop=True)
        b = values.iloc[second].reset_index(drop=True)
        out[key] = (a == b).fillna(False).to_numpy(dtype=bool)  # NA == anything: NA -> False
    if next_keys is not None:
        keys = first * len(songs) + second
        out["next_song"] = np.isin(keys, next_keys)
    return out


def metric_flags(
    metrics: list, dataset: Any, split: Any, first: np.ndarray, second: np.ndarray
) -> tuple[list[Flag], dict[str, np.ndarray]]:
    """Ask each metric of the benchmark for its flags of the pairs; check what it returns."""
    flags: list[Flag] = []
    values: dict[str, np.ndarray] = {}
    taken = {f.key for f in CORE_FLAGS}
    for name, metric, options in metrics:
        declared = dict(metric.flags or {})  # Metric.flags: key -> description
        if not declared:
            continue
        who = f"metric '{name}' ({type(metric).__module__}.{type(metric).__qualname__})"
        try:
            contract.validate_flags(declared)
        except ContractError as exc:
            raise PluginError(f"{who} {exc}") from None
        for key in declared:
            if key in taken:
                raise PluginError(f"{who} declares flag '{key}', which another flag already uses")
        try:
            result = metric.flag_pairs(dataset, split, options, first, second)
        except Exception as exc:
            raise PluginError(f"{who} raised in flag_pairs: {type(exc).__name__}: {exc}") from exc
        masks = contract.accept_flag_pairs(result, declared, len(first), who)
        for key, description in declared.items():
            flags.append(Flag(key, key.replace("_", " "), str(description), f"metric {name}"))
            values[key] = masks[key]
            taken.add(key)
    return flags, values
