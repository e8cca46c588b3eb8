"""The neighbours of any song, from a finished run's files (``embench neighbours``): the
run's exported vectors, ranked exactly as the explorer's, with the explorer's flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embench.errors import DataError
from embench.report.explorer_data import Explorer, load_explorer, read_parquet
from embench.report.explorer_flags import CORE_FLAGS_AS_DICTS, core_flags, top_neighbours
from embench.report.explorer_songs import find_song
from embench.report.load import RunDirError


@dataclass
class NeighbourTable:
    """One configuration's top-k of one song, read from the run's exported vectors."""

    configuration: str
    song: dict[str, Any]
    rows: list[dict[str, Any]]
    flags: list[dict[str, str]]
    note: str | None = None
    missing: list[dict[str, str]] = field(default_factory=list)  # flags unknown for this song


def exported_configurations(run: Any) -> dict[str, Path]:
    """Configurations of ``run`` whose vectors were exported: name -> ``embeddings/NAME``."""
    out = {}
    for row in run.configurations:
        folder = Path(run.path) / "embeddings" / row["name"]
        if (folder / "vectors.npy").exists() and (folder / "songs.parquet").exists():
            out[row["name"]] = folder
    return out


def run_catalogue(run: Any, folders: dict[str, Path]) -> tuple[pd.DataFrame, Explorer | None]:
    """The run's song table (``explorer/songs.parquet``; for a run without one, the songs of
    its embeddings, without titles and plays) and its explorer data, if any."""
    explorer = load_explorer(run.path)
    if explorer is not None:
        return explorer.songs, explorer
    frames = [
        read_parquet(folder / "songs.parquet", "exported song ids") for folder in folders.values()
    ]
    songs = pd.concat(frames, ignore_index=True).drop_duplicates("song_id")
    songs = songs.reset_index(drop=True).assign(title=pd.NA, plays=pd.NA)
    for column in ("artist", "genre"):
        if column not in songs:
            songs[column] = pd.NA
    return songs[["song_id", "title", "artist", "genre", "plays"]], None


def read_embedding(folder: Path, catalogue_index: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """``vectors.npy`` and the catalogue position of each row's song (``songs.parquet``)."""
    try:
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{folder / 'vectors.npy'}: cannot read it ({exc})") from None
    table = read_parquet(folder / "songs.parquet", "exported song ids", ["row", "song_id"])
    table = table.sort_values("row")
    if vectors.ndim != 2 or len(table) != len(vectors):
        raise RunDirError(
            f"{folder}: {len(table)} song ids in songs.parquet for vectors of shape "
            f"{vectors.shape}; the export is damaged"
        )
    positions = catalogue_index.get_indexer(table["song_id"].astype(str))
    if (positions < 0).any():
        raise RunDirError(f"{folder}: songs.parquet names songs the run's song table lacks")
    return np.asarray(vectors, dtype=np.float32), positions.astype(np.int64)


def neighbour_tables(
    run: Any, query: str, configuration: str | None = None, k: int | None = None
) -> list[NeighbourTable]:
    """The top-``k`` of the song ``query`` names in each exported configuration (or in the
    one named), computed from the run's vectors exactly as the explorer's are; flags that need
    the training data come from the explorer's export and are None (unknown) for pairs it
    lacks."""
    folders = exported_configurations(run)
    if configuration is not None:
        row = run.configuration(configuration)  # unknown names: "did you mean"
        if configuration not in folders:
            raise RunDirError(
                f"{run.path}: configuration '{configuration}' has no exported embedding "
                f"(status {row.get('status', '?')}; embeddings/{configuration}/vectors.npy is "
                f"missing){'; exported: ' + ', '.join(folders) if folders else ''}"
            )
        folders = {configuration: folders[configuration]}
    if not folders:
        raise RunDirError(
            f"{run.path}: no exported embeddings (embeddings/NAME/vectors.npy and songs.parquet): "
            "every configuration failed, or the embeddings were removed from the run directory"
        )
    catalogue, explorer = run_catalogue(run, folders)
    index = pd.Index(catalogue["song_id"].astype(str))
    song = find_song(catalogue, query, what=f"run '{run.name}'")
    k = k if k is not None else (explorer.k if explorer is not None else 10)
    if k < 1:
        raise DataError(f"--k must be at least 1, got {k}")
    ids = catalogue["song_id"].astype(str).to_numpy(dtype=object)
    flags = [dict(f) for f in (explorer.flags if explorer else CORE_FLAGS_AS_DICTS)]
    missing: list[dict[str, str]] = []
    if explorer is None or ids[song] not in set(explorer.seeds):
        # flags that need the training data are exported for the explorer's songs only
        missing = [f for f in flags if f["key"] not in ("same_artist", "same_genre")]
        flags = [f for f in flags if f not in missing]
    exported: dict[tuple[str, str], dict[str, bool]] = {}
    if explorer is not None:
        pairs = explorer.neighbours[explorer.neighbours["song_id"].astype(str) == ids[song]]
        for r in pairs.to_dict("records"):
            exported[(str(r["song_id"]), str(r["neighbour_id"]))] = {
                f["key"]: bool(r[f["key"]]) for f in flags if f["key"] in r
            }
    out = []
    for name, folder in folders.items():
        vectors, positions = read_embedding(folder, index)
        neighbour, cosine = top_neighbours(vectors, positions, np.array([song]), len(catalogue), k)
        found = neighbour[0][neighbour[0] >= 0]
        computed = core_flags(catalogue, np.full(len(found), song), found, None)
        rows = []
        for rank, (other, score) in enumerate(zip(found, cosine[0], strict=False), start=1):
            known = exported.get((ids[song], ids[other]))
            values: dict[str, bool | None] = {}
            for f in flags:
                if f["key"] in computed:
                    values[f["key"]] = bool(computed[f["key"]][rank - 1])
                else:
                    values[f["key"]] = None if known is None else known.get(f["key"])
            rows.append(
                {
                    "rank": rank,
                    **song_fields(catalogue, other),
                    "cosine": float(score),
                    "flags": values,
                }
            )
        note = None
        if not len(found):
            note = f"song {ids[song]} has no vector in configuration '{name}'"
        out.append(NeighbourTable(name, song_fields(catalogue, song), rows, flags, note, missing))
    return out


def song_fields(catalogue: pd.DataFrame, i: int) -> dict[str, Any]:
    row = catalogue.iloc[int(i)]

    def clean(v: Any) -> Any:
        return None if pd.isna(v) else (int(v) if isinstance(v, np.integer) else v)

    return {
        "song_id": str(row["song_id"]),
        "title": clean(row["title"]),
        "artist": clean(row["artist"]),
        "genre": clean(row["genre"]),
        "plays": clean(row["plays"]),
    }
