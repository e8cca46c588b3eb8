"""The ``explorer/`` folder of a run read back (:func:`load_explorer`), and the compact JSON
the report page embeds (:func:`page_data`). :mod:`embench.report.explorer` writes it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embench.report.load import RunDirError

EXPLORER = "explorer"
SONGS = "songs.parquet"
NEIGHBOURS = "neighbours.parquet"
MAP = "map.parquet"
META = "explorer.json"


@dataclass
class Explorer:
    """A run's ``explorer/`` folder, loaded."""

    path: Path
    meta: dict[str, Any]
    neighbours: pd.DataFrame
    map: pd.DataFrame
    _songs: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def k(self) -> int:
        return int(self.meta["k"])

    @property
    def flags(self) -> list[dict[str, str]]:
        return list(self.meta.get("flags") or [])

    @property
    def seeds(self) -> list[str]:
        return [s["song_id"] for s in self.meta.get("songs") or []]

    @property
    def songs(self) -> pd.DataFrame:
        """The run's song table (every song of the dataset)."""
        if self._songs is None:
            self._songs = read_parquet(self.path / SONGS, "the song table")
        return self._songs


def read_parquet(path: Path, what: str, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=columns)
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing ({what} of the explorer)") from None
    except Exception as exc:
        raise RunDirError(f"{path}: cannot read it ({type(exc).__name__}: {exc})") from None


def load_explorer(run_dir: str | Path) -> Explorer | None:
    """The explorer data of a run directory; None when the run has none (an older run)."""
    path = Path(run_dir) / EXPLORER
    meta_path = path / META
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{meta_path}: cannot read it ({exc})") from None
    if not isinstance(meta, dict) or "k" not in meta or "flags" not in meta:
        raise RunDirError(f"{meta_path}: not an explorer description (no 'k' or 'flags')")
    return Explorer(
        path=path,
        meta=meta,
        neighbours=read_parquet(path / NEIGHBOURS, "the neighbours"),
        map=read_parquet(path / MAP, "the map"),
    )


def page_data(explorer: Explorer, order: list[str] | None = None) -> dict[str, Any]:
    """The compact JSON the page embeds: songs once, then positions into that list.

    ``songs``: ``[id, title, artist, genre, plays]``; ``seeds``: positions of the explorer
    songs; ``neighbours[configuration][s]``: the ``[position, cosine, flag bits]`` of seed
    ``s``'s neighbours by rank (bit ``i`` = ``flags[i]``); ``map[configuration]``:
    ``[position, x, y]``.
    """
    table = explorer.neighbours
    configurations = list(explorer.meta.get("configurations") or [])
    if order:
        configurations = [c for c in order if c in configurations] + [
            c for c in configurations if c not in order
        ]
    seeds = explorer.seeds
    wanted = list(
        dict.fromkeys(
            [
                *seeds,
                *table["neighbour_id"].astype(str).tolist(),
                *explorer.map["song_id"].astype(str).tolist(),
            ]
        )
    )
    catalogue = explorer.songs
    index = pd.Index(catalogue["song_id"].astype(str))
    rows = index.get_indexer(wanted)
    if (rows < 0).any():
        missing = wanted[int(np.flatnonzero(rows < 0)[0])]
        raise RunDirError(f"{explorer.path}: song '{missing}' is not in {SONGS}")
    picked = catalogue.iloc[rows]

    def text(values: pd.Series) -> list[str | None]:
        return [None if pd.isna(v) else str(v) for v in values]

    songs = [
        list(r)
        for r in zip(
            picked["song_id"].astype(str),
            text(picked["title"]),
            text(picked["artist"]),
            text(picked["genre"]),
            picked["plays"].astype(int).tolist(),
            strict=True,
        )
    ]
    position = {song: i for i, song in enumerate(wanted)}
    flags = explorer.flags
    bits = np.zeros(len(table), dtype=np.int64)
    for i, flag in enumerate(flags):
        if flag["key"] in table:
            bits |= table[flag["key"]].to_numpy(dtype=bool).astype(np.int64) << i
    neighbours: dict[str, list[list[list[float]]]] = {}
    seed_slot = {song: i for i, song in enumerate(seeds)}
    table = table.assign(_bits=bits).sort_values(["configuration", "song_id", "rank"])
    for name in configurations:
        lists: list[list[list[float]]] = [[] for _ in seeds]
        part = table[table["configuration"] == name]
        for song, neighbour, cosine, flag_bits in zip(
            part["song_id"].astype(str),
            part["neighbour_id"].astype(str),
            part["cosine"].astype(float),
            part["_bits"],
            strict=True,
        ):
            if song in seed_slot:
                lists[seed_slot[song]].append(
                    [position[neighbour], round(cosine, 3), int(flag_bits)]  # as shown
                )
        neighbours[name] = lists
    genres = (
        pd.Series([s[3] for s in songs], dtype="string")
        .dropna()
        .value_counts(sort=True)
        .index[:10]
        .tolist()
    )
    points = {}
    for name in configurations:
        part = explorer.map[explorer.map["configuration"] == name]
        points[name] = [
            [position[s], round(float(x), 3), round(float(y), 3)]
            for s, x, y in zip(part["song_id"].astype(str), part["x"], part["y"], strict=True)
        ]
    chosen = {s["song_id"]: s.get("chosen", "") for s in explorer.meta.get("songs") or []}
    return {
        "k": explorer.k,
        "part": explorer.meta.get("part"),
        "flags": [
            {"key": f["key"], "label": f["label"], "description": f["description"]} for f in flags
        ],
        "configurations": configurations,
        "songs": songs,
        "seeds": [position[s] for s in seeds],
        "chosen": [chosen.get(s, "") for s in seeds],
        "neighbours": neighbours,
        "map": points,
        "map_method": (explorer.meta.get("map") or {}).get("method", "pca"),
        "genres": genres,
    }
