"""Vectors computed by any external system, loaded from ``.npy`` + a Parquet file of song ids.

Files (the same layout ``embench run`` writes to ``embeddings/NAME/``, so an exported embedding
loads back unchanged):

``vectors`` (``.npy``)
    A 2-D numeric array, one row per song (any float or integer dtype; stored as float32).
    Loaded memory-mapped with ``allow_pickle=False``: a file holding Python objects is refused.
``songs`` (``.parquet``)
    A column ``song_id`` (``id_column``; strings or integers) naming the song of each row, in row
    order; or, when the file has a ``row`` column, the song of vector row ``row``.

Relative paths are resolved against the **current working directory** (the embedder does not
know where the benchmark file lives); give absolute paths in a benchmark meant to run from
anywhere. Every problem raises a :class:`~embench.errors.DataError` naming the file: a missing or
unreadable file, a row count that does not match, empty, duplicate or unknown song ids (a few are
named), non-finite vectors.

Which songs get a vector: every song of the dataset listed in ``songs``; dataset songs absent from
the file get none (metrics count them as misses). Ids that are not in the dataset are an error
unless ``unknown_songs = "ignore"`` (e.g. vectors of a larger catalogue).
``only_training_songs = true`` also drops songs that never occur in the training corpus, so the
model is judged on the same vocabulary as one trained on the split.

The embedder maps ids to the dataset's song indices with ``corpus.song_ids`` (the dataset's
``song_id`` of every song index), which the harness passes to ``fit``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

import embench
from embench.errors import DataError, PluginError

SHOWN = 5  # ids named in an error message


class PrecomputedOptions(embench.Options):
    """Where the vectors and their song ids are, and how strictly to match them."""

    vectors: str = Field(description="path of the .npy matrix (relative: to the working dir)")
    songs: str = Field(
        description="path of the Parquet file naming each row's song (relative: to the working dir)"
    )
    id_column: str = Field("song_id", min_length=1, description="the column holding song ids")
    unknown_songs: Literal["error", "ignore"] = Field(
        "error", description="ids not in the dataset: an error, or dropped"
    )
    only_training_songs: bool = Field(
        False, description="keep vectors only of songs that occur in the training corpus"
    )


class Precomputed(embench.Embedder):
    """Vectors from an external system: a .npy matrix plus a Parquet file of song ids."""

    name = "precomputed"
    Options = PrecomputedOptions
    search_space = {}  # nothing to tune: the vectors are given

    def fit(self, corpus, params, *, seed, threads, monitor):
        song_ids = getattr(corpus, "song_ids", None)
        if song_ids is None:
            raise PluginError(
                "embedder 'precomputed' needs the dataset's song ids (corpus.song_ids) to match "
                "the ids of its Parquet file, but the training corpus carries none"
            )
        try:
            embedding = load_precomputed(
                params.vectors,
                params.songs,
                song_ids,
                id_column=params.id_column,
                unknown_songs=params.unknown_songs,
            )
        except DataError as exc:
            raise DataError(f"embedder 'precomputed': {exc}") from None
        if params.only_training_songs:
            seen = np.zeros(len(song_ids), dtype=bool)
            seen[np.asarray(corpus.songs, dtype=np.int64)] = True
            keep = seen[embedding.song_index]
            embedding = embench.Embedding(embedding.song_index[keep], embedding.vectors[keep])
        monitor.progress(1.0)
        return embedding


def resolve_path(path: str | Path) -> Path:
    """``~`` expanded; relative paths against the current working directory (absolute out)."""
    return Path(path).expanduser().absolute()


def _few(values) -> str:
    values = list(values)
    shown = ", ".join(repr(str(v)) for v in values[:SHOWN])
    return shown + (f" and {len(values) - SHOWN} more" if len(values) > SHOWN else "")


def read_vectors(path: str | Path) -> np.ndarray:
    """The 2-D numeric matrix of a ``.npy`` file (memory-mapped), or a DataError."""
    path = resolve_path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: file not found (precomputed vectors)"
            if not path.exists()
            else f"{path}: not a file (precomputed vectors)"
        )
    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise DataError(
            f"{path}: not a numeric .npy array ({exc}); save it with numpy.save"
        ) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the vectors ({exc})") from None
    if not isinstance(vectors, np.ndarray):  # an .npz archive
        raise DataError(f"{path}: expected one .npy array, found an archive of several")
    if vectors.ndim != 2:
        raise DataError(f"{path}: expected a 2-D array (songs x dimension), found {vectors.shape}")
    if not (np.issubdtype(vectors.dtype, np.floating) or np.issubdtype(vectors.dtype, np.integer)):
        raise DataError(f"{path}: expected numbers, found dtype {vectors.dtype}")
    if vectors.shape[1] == 0:
        raise DataError(f"{path}: the vectors have dimension 0")
    return vectors


def read_song_ids(path: str | Path, id_column: str = "song_id") -> tuple[np.ndarray, np.ndarray]:
    """``(ids, rows)``: the song id of each listed vector row, as strings; or a DataError."""
    from embench.data.parquet import id_strings, read_columns

    path = resolve_path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: file not found (song ids of precomputed vectors)"
            if not path.exists()
            else f"{path}: not a file (song ids of precomputed vectors)"
        )
    table, _ = read_columns(path, (id_column,), ("row",))
    ids = id_strings(table.column(id_column), path, id_column)
    if ids.null_count:
        raise DataError(f"{path}: column '{id_column}' has {ids.null_count} empty song id(s)")
    ids = np.asarray(ids.to_pylist(), dtype=object)
    if "row" in table.column_names:
        rows = pd.to_numeric(table.column("row").to_pandas(), errors="coerce").to_numpy()
        if np.isnan(rows.astype(np.float64)).any() or (rows != np.round(rows)).any():
            raise DataError(f"{path}: column 'row' must hold integer row numbers")
        rows = rows.astype(np.int64)
    else:
        rows = np.arange(len(ids), dtype=np.int64)
    return ids, rows


def load_precomputed(
    vectors_path: str | Path,
    songs_path: str | Path,
    song_ids,
    *,
    id_column: str = "song_id",
    unknown_songs: str = "error",
) -> embench.Embedding:
    """An :class:`~embench.Embedding` over the dataset whose song index ``i`` has id
    ``song_ids[i]``, from a ``.npy`` matrix and a Parquet file naming each row's song."""
    vectors = read_vectors(vectors_path)
    ids, rows = read_song_ids(songs_path, id_column)
    where = str(resolve_path(songs_path))
    n = vectors.shape[0]
    if len(ids) != n:
        raise DataError(
            f"{where}: {len(ids)} song ids for {n} vectors in {resolve_path(vectors_path)}: "
            "the files must have one id per vector row"
        )
    if len(ids) == 0:
        raise DataError(f"{where}: no song ids (the file is empty)")
    if not np.array_equal(np.sort(rows), np.arange(n)):
        raise DataError(f"{where}: column 'row' must list every vector row 0..{n - 1} once")
    index = pd.Index(ids)
    if index.has_duplicates:
        raise DataError(
            f"{where}: song ids listed more than once: {_few(index[index.duplicated()].unique())}"
        )
    dataset_ids = pd.Index(np.asarray(song_ids).astype(str))
    position = dataset_ids.get_indexer(index)
    unknown = position < 0
    if unknown.all() or (unknown.any() and unknown_songs == "error"):
        hint = (
            f"; the dataset's ids look like {_few(dataset_ids[:3])}"
            if unknown.all()
            else '; set unknown_songs = "ignore" to drop them'
        )
        raise DataError(
            f"{where}: {int(unknown.sum())} of {len(ids)} song ids are not in the dataset: "
            f"{_few(ids[unknown])}{hint}"
        )
    known = np.flatnonzero(~unknown)
    known = known[np.argsort(position[known], kind="stable")]  # in dataset song order
    song_index = position[known].astype(np.int64)
    matrix = np.asarray(vectors[rows[known]], dtype=np.float32)
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise DataError(
            f"{resolve_path(vectors_path)}: {int(bad.sum())} vector(s) contain NaN or infinite "
            f"values, e.g. of song(s) {_few(dataset_ids[song_index[bad]])}"
        )
    return embench.Embedding(song_index, matrix)


@embench.hookimpl
def register_embedders(register):
    register(Precomputed)
