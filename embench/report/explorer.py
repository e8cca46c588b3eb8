"""The data of the report's neighbour explorer and song map: what a run exports, what the page embeds.

What a run exports
------------------
After the results are written, :func:`export_explorer` writes ``explorer/`` into the run
directory (from the embeddings still in memory, the dataset and the split):

- ``songs.parquet``: the whole song table (``song_id``, ``title``, ``artist``, ``genre``,
  ``plays``: occurrences in every sequence of the dataset), so that ``embench neighbours``
  can name any song of the run without the dataset;
- ``neighbours.parquet``: for each configuration and each *explorer song* its exact top-``k``
  neighbours by cosine (``configuration``, ``song_id``, ``rank`` from 1, ``neighbour_id``,
  ``cosine``) and one boolean column per flag;
- ``map.parquet``: ``configuration``, ``song_id``, ``x``, ``y``: a 2-D projection (PCA, or
  t-SNE) of the L2-normalised vectors of a sample of songs, per configuration;
- ``explorer.json``: ``k``, the explorer songs (with how each was chosen), the flags with their
  descriptions, the map's method and the part the next-song flag reads.

The songs are chosen by :mod:`embench.report.explorer_songs`, their neighbours and the flags
of each pair computed by :mod:`embench.report.explorer_flags`; :mod:`embench.report.explorer_data`
reads the folder back for the page.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embench.io import write_json, write_parquet
from embench.neighbours import normalise
from embench.report.explorer_data import EXPLORER, MAP, META, NEIGHBOURS, SONGS
from embench.report.explorer_flags import (
    CORE_FLAGS,
    core_flags,
    metric_flags,
    next_song_keys,
    top_neighbours,
)
from embench.report.explorer_songs import listed_songs, stratified_sample


@dataclass(frozen=True)
class Settings:
    """What the explorer shows (the ``[report]`` section of the benchmark file)."""

    songs: tuple[str, ...] = ()
    sample: int = 200
    k: int = 10
    map_songs: int = 1500
    map: str = "pca"

    @classmethod
    def of(cls, section: Any) -> Settings:
        if section is None:
            return cls()
        return cls(
            songs=tuple(section.songs),
            sample=section.sample,
            k=section.k,
            map_songs=section.map_songs,
            map=section.map,
        )


def choose_songs(
    songs: pd.DataFrame, train_plays: np.ndarray, settings: Settings, seed: int
) -> tuple[np.ndarray, list[str]]:
    """The explorer songs (dataset indices) and how each was chosen."""
    if settings.songs:
        chosen = listed_songs(songs, settings.songs)
        return chosen, ["listed"] * len(chosen)
    genre = songs["genre"].to_numpy(dtype=object)
    return stratified_sample(genre, train_plays, settings.sample, seed)


# -- the map -------------------------------------------------------------------------------------
def project(vectors: np.ndarray, method: str, seed: int) -> np.ndarray:
    """2-D coordinates of the L2-normalised ``vectors`` (PCA, or t-SNE), centred and scaled by
    one factor into [-1, 1] (the wider axis fills it)."""
    unit = normalise(vectors).astype(np.float64)
    n = len(unit)
    if n == 0:
        return np.zeros((0, 2))
    if method == "tsne" and n > 5:
        from sklearn.manifold import TSNE

        xy = TSNE(
            n_components=2,
            perplexity=min(30.0, (n - 1) / 3),
            init="pca",
            random_state=seed,
            metric="cosine",
        ).fit_transform(unit)
    else:
        centred = unit - unit.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T
        if xy.shape[1] < 2:
            xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
        # a deterministic orientation: the coordinate's largest entry is positive
        for j in range(2):
            if xy[np.argmax(np.abs(xy[:, j])), j] < 0:
                xy[:, j] = -xy[:, j]
    low, high = xy.min(axis=0), xy.max(axis=0)
    half = float((high - low).max()) / 2  # one scale for both axes keeps the shape
    return (xy - (low + high) / 2) / (half if half > 0 else 1)


# -- the export ----------------------------------------------------------------------------------
def check_settings(dataset: Any, settings: Settings) -> None:
    """What the benchmark file can get wrong about the explorer, checked before any training."""
    if settings.songs:
        listed_songs(dataset.songs, settings.songs)


def export_explorer(
    directory: Path,
    embeddings: dict[str, Any],
    dataset: Any,
    split: Any,
    *,
    metrics: list,
    settings: Settings,
    seed: int,
    part: str,
    threads: int = 1,
) -> Path:
    """Write ``explorer/`` of a run directory (see the module doc); returns its path."""
    out = Path(directory) / EXPLORER
    songs = dataset.songs
    n = dataset.n_songs
    train_plays = split.train.counts(n)
    seeds, strata = choose_songs(songs, train_plays, settings, seed)
    genre = songs["genre"].to_numpy(dtype=object)
    extra = max(0, settings.map_songs - len(seeds))
    map_extra, _ = stratified_sample(genre, train_plays, extra, seed, exclude=seeds, name="map")
    map_songs = np.concatenate([seeds, map_extra])[: settings.map_songs]

    k = settings.k
    frames, points = [], []
    for name, embedding in embeddings.items():
        neighbour, cosine = top_neighbours(
            embedding.vectors, embedding.song_index, seeds, n, k, threads=threads
        )
        query = np.repeat(seeds, k)
        rank = np.tile(np.arange(1, k + 1), len(seeds))
        flat = neighbour.ravel()
        keep = flat >= 0
        frames.append(
            pd.DataFrame(
                {
                    "configuration": name,
                    "song": query[keep],
                    "rank": rank[keep].astype(np.int16),
                    "neighbour": flat[keep],
                    "cosine": cosine.ravel()[keep],
                }
            )
        )
        rows_of = np.full(n, -1, dtype=np.int64)
        rows_of[embedding.song_index] = np.arange(len(embedding.song_index))
        shown = map_songs[rows_of[map_songs] >= 0]
        xy = project(embedding.vectors[rows_of[shown]], settings.map, seed)
        points.append(
            pd.DataFrame(
                {
                    "configuration": name,
                    "song_id": songs["song_id"].to_numpy()[shown],
                    "x": xy[:, 0].astype(np.float32),
                    "y": xy[:, 1].astype(np.float32),
                }
            )
        )
    table = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(
            {"configuration": [], "song": [], "rank": [], "neighbour": [], "cosine": []}
        )
    )
    first = table["song"].to_numpy(dtype=np.int64)
    second = table["neighbour"].to_numpy(dtype=np.int64)
    flags = list(CORE_FLAGS)
    values = core_flags(songs, first, second, next_song_keys(split, part, n))
    extra_flags, extra_values = metric_flags(metrics, dataset, split, first, second)
    flags += extra_flags
    values.update(extra_values)
    ids = songs["song_id"].to_numpy()
    table = pd.DataFrame(
        {
            "configuration": table["configuration"].astype(str).to_numpy(),
            "song_id": ids[first],
            "rank": table["rank"].to_numpy(dtype=np.int16),
            "neighbour_id": ids[second],
            "cosine": table["cosine"].to_numpy(dtype=np.float32),
            **{f.key: values[f.key] for f in flags},
        }
    )
    catalogue = pd.DataFrame(
        {
            "song_id": songs["song_id"].astype(str).to_numpy(),
            "title": songs["title"].astype("string"),
            "artist": songs["artist"].astype("string"),
            "genre": songs["genre"].astype("string"),
            "plays": songs["plays"].to_numpy(dtype=np.int64),
        }
    )
    meta = {
        "k": k,
        "part": part,
        "configurations": list(embeddings),
        "songs": [
            {"song_id": str(ids[i]), "chosen": s} for i, s in zip(seeds, strata, strict=True)
        ],
        "listed": bool(settings.songs),
        "flags": [
            {"key": f.key, "label": f.label, "description": f.description, "source": f.source}
            for f in flags
        ],
        "map": {"method": settings.map, "songs": int(len(map_songs))},
    }
    write_parquet(out / SONGS, catalogue)
    write_parquet(out / NEIGHBOURS, table)
    write_parquet(
        out / MAP,
        pd.concat(points, ignore_index=True)
        if points
        else pd.DataFrame({"configuration": [], "song_id": [], "x": [], "y": []}),
    )
    write_json(out / META, meta)  # last: its presence means the export is complete
    return out


def write_explorer_after_run(
    directory: Path,
    embeddings: dict[str, Any],
    dataset: Any,
    split: Any,
    benchmark: Any,
    *,
    part: str,
    threads: int = 1,
    console: Any = None,
) -> Path | None:
    """What ``embench run`` calls after writing its results: an explorer that cannot be written
    is a warning, not a lost run (the report then goes without it)."""
    try:
        return export_explorer(
            directory,
            embeddings,
            dataset,
            split,
            metrics=benchmark.metrics,
            settings=Settings.of(benchmark.config.report),
            seed=benchmark.seed,
            part=part,
            threads=threads,
        )
    except Exception as exc:
        if os.environ.get("EMBENCH_DEBUG"):
            raise
        if console is not None:
            console.print(
                f"[yellow]neighbour explorer not written ({type(exc).__name__}: {exc}); "
                "the report goes without it[/yellow]"
            )
        return None
