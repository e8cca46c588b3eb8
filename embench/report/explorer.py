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

Which songs
-----------
``[report] songs`` lists song ids; without it a seeded, stratified sample of ``[report] sample``
songs played in the training corpus: the top genres by plays each get an equal share, half of it
drawn from the genre's most played fifth of songs (``popular``) and half from the rest
(``long tail``); a dataset without genres is one group. The map draws ``map_songs`` songs: the
explorer songs plus a sample drawn the same way. Every number is bounded by the settings, not
by the catalogue, so the page stays small at any scale.

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

import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embench import contract
from embench.embedding import ContractError
from embench.errors import ConfigError, DataError, PluginError
from embench.io import write_json, write_parquet
from embench.neighbours import exact_top_k, normalise

EXPLORER = "explorer"
SONGS = "songs.parquet"
NEIGHBOURS = "neighbours.parquet"
MAP = "map.parquet"
META = "explorer.json"
TOP_GENRES = 8  # genres the default sample is stratified over (and coloured on the map)
POPULAR_SHARE = 0.2  # a genre's most played fifth of songs is its "popular" stratum


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


# -- finding songs -------------------------------------------------------------------------------
def _lower(values: pd.Series) -> np.ndarray:
    return values.astype("string").fillna("").str.lower().to_numpy(dtype=object)


def describe(songs: pd.DataFrame, i: int) -> str:
    row = songs.iloc[int(i)]
    title = row["title"] if pd.notna(row["title"]) else "?"
    artist = row["artist"] if pd.notna(row["artist"]) else "?"
    return f"{row['song_id']} ({title} - {artist})"


def close_songs(songs: pd.DataFrame, query: str, n: int = 3) -> list[int]:
    """Songs whose id, title or "title - artist" is close to ``query`` (for "did you mean")."""
    import difflib

    q = query.lower().strip()
    ids = _lower(songs["song_id"])
    titles = _lower(songs["title"])
    found: list[int] = []
    for values in (ids, titles):
        # the matcher is quadratic in string length, linear in songs: bound the candidates
        lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
        near = np.flatnonzero(np.abs(lengths - len(q)) <= max(3, len(q) // 3))
        pool = {values[i]: int(i) for i in near[:200_000][::-1]}
        for match in difflib.get_close_matches(q, list(pool), n=n, cutoff=0.6):
            if pool[match] not in found:
                found.append(pool[match])
    return found[:n]


def find_song(songs: pd.DataFrame, query: str, what: str = "the run") -> int:
    """The index of the song ``query`` names: its id, else a unique title (exact, then part of a
    title or artist, case-insensitive). Unknown or ambiguous: :class:`DataError` with the
    candidates ("did you mean")."""
    ids = songs["song_id"].astype(str).to_numpy(dtype=object)
    exact = np.flatnonzero(ids == query)
    if len(exact):
        return int(exact[0])
    q = query.lower().strip()
    titles, artists = _lower(songs["title"]), _lower(songs["artist"])
    for matches in (
        np.flatnonzero(titles == q),
        np.flatnonzero(
            [q in t or q in a or q in f"{t} - {a}" for t, a in zip(titles, artists, strict=True)]
        )
        if q
        else np.zeros(0, dtype=np.int64),
    ):
        if len(matches) == 1:
            return int(matches[0])
        if len(matches) > 1:
            plays = songs["plays"].to_numpy()[matches] if "plays" in songs else np.zeros(0)
            order = matches[np.argsort(-plays, kind="stable")] if len(plays) else matches
            shown = "; ".join(describe(songs, i) for i in order[:5])
            more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
            raise DataError(
                f"'{query}' matches {len(matches)} songs of {what}: {shown}{more}; give the song id"
            )
    close = close_songs(songs, query)
    hint = (
        "; did you mean " + " or ".join(f"'{describe(songs, i)}'" for i in close) + "?"
        if close
        else ""
    )
    raise DataError(f"no song '{query}' (by id, title or artist) in {what}{hint}")


def listed_songs(songs: pd.DataFrame, listed: tuple[str, ...] | list[str]) -> np.ndarray:
    """The dataset indices of ``[report] songs`` (song ids); an unknown id is a ConfigError."""
    index = pd.Index(songs["song_id"].astype(str))
    positions = index.get_indexer(list(listed))
    for song, position in zip(listed, positions, strict=True):
        if position < 0:
            close = close_songs(songs, song)
            hint = (
                "; did you mean " + " or ".join(f"'{describe(songs, i)}'" for i in close) + "?"
                if close
                else ""
            )
            raise ConfigError(f"[report] songs: no song with id '{song}' in the dataset{hint}")
    return np.asarray(list(dict.fromkeys(positions.tolist())), dtype=np.int64)


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def stratified_sample(
    genre: np.ndarray,
    plays: np.ndarray,
    n: int,
    seed: int,
    *,
    exclude: np.ndarray | None = None,
    name: str = "explorer",
) -> tuple[np.ndarray, list[str]]:
    """``n`` played songs (``plays > 0``): equal shares of the top genres, each half popular
    (the genre's most played fifth) and half long tail; seeded. Returns (indices, strata)."""
    rng = _rng(seed, name)
    candidate = plays > 0
    if exclude is not None and len(exclude):
        candidate[np.asarray(exclude, dtype=np.int64)] = False
    played = np.flatnonzero(candidate)
    if n <= 0 or not len(played):
        return np.zeros(0, dtype=np.int64), []
    labels = pd.Series(genre[played], dtype="string")
    known = labels.notna().to_numpy()
    groups: list[np.ndarray] = []
    if known.any():
        totals = (
            pd.Series(plays[played][known], index=labels[known].to_numpy())
            .groupby(level=0)
            .sum()
            .sort_values(ascending=False, kind="stable")
        )
        for g in totals.index[:TOP_GENRES]:
            groups.append(played[(labels == g).fillna(False).to_numpy()])
    else:
        groups.append(played)
    chosen: list[int] = []
    strata: list[str] = []
    quota = [n // len(groups) + (1 if i < n % len(groups) else 0) for i in range(len(groups))]
    for members, q in zip(groups, quota, strict=True):
        order = members[np.argsort(-plays[members], kind="stable")]
        cut = max(1, math.ceil(POPULAR_SHARE * len(order)))
        popular, tail = order[:cut], order[cut:]
        want_popular = min(len(popular), max(q - len(tail), math.ceil(q / 2)))
        want_tail = min(len(tail), q - want_popular)
        for stratum, pool, m in (
            ("popular", popular, want_popular),
            ("long tail", tail, want_tail),
        ):
            if m > 0:
                picked = rng.choice(pool, size=m, replace=False)
                chosen += picked.tolist()
                strata += [stratum] * m
    if len(chosen) < n:  # small genres: fill from every other played song
        rest = np.setdiff1d(played, np.asarray(chosen, dtype=np.int64))
        m = min(len(rest), n - len(chosen))
        if m > 0:
            chosen += rng.choice(rest, size=m, replace=False).tolist()
            strata += ["other"] * m
    order = np.argsort(-plays[np.asarray(chosen)], kind="stable")
    return np.asarray(chosen, dtype=np.int64)[order], [strata[i] for i in order]


def choose_songs(
    songs: pd.DataFrame, train_plays: np.ndarray, settings: Settings, seed: int
) -> tuple[np.ndarray, list[str]]:
    """The explorer songs (dataset indices) and how each was chosen."""
    if settings.songs:
        chosen = listed_songs(songs, settings.songs)
        return chosen, ["listed"] * len(chosen)
    genre = songs["genre"].to_numpy(dtype=object)
    return stratified_sample(genre, train_plays, settings.sample, seed)


# -- neighbours and flags ------------------------------------------------------------------------
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


# -- reading it back -----------------------------------------------------------------------------
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
            self._songs = _read_parquet(self.path / SONGS, "the song table")
        return self._songs


def _read_parquet(path: Path, what: str, columns: list[str] | None = None) -> pd.DataFrame:
    from embench.report.load import RunDirError

    try:
        return pd.read_parquet(path, columns=columns)
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing ({what} of the explorer)") from None
    except Exception as exc:
        raise RunDirError(f"{path}: cannot read it ({type(exc).__name__}: {exc})") from None


def load_explorer(run_dir: str | Path) -> Explorer | None:
    """The explorer data of a run directory; None when the run has none (an older run)."""
    from embench.report.load import RunDirError

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
        neighbours=_read_parquet(path / NEIGHBOURS, "the neighbours"),
        map=_read_parquet(path / MAP, "the map"),
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
        from embench.report.load import RunDirError

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
    import os

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


# -- neighbours of any song, from a finished run's files (embench neighbours) --------------------
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
        _read_parquet(folder / "songs.parquet", "exported song ids") for folder in folders.values()
    ]
    songs = pd.concat(frames, ignore_index=True).drop_duplicates("song_id")
    songs = songs.reset_index(drop=True).assign(title=pd.NA, plays=pd.NA)
    for column in ("artist", "genre"):
        if column not in songs:
            songs[column] = pd.NA
    return songs[["song_id", "title", "artist", "genre", "plays"]], None


def read_embedding(folder: Path, catalogue_index: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """``vectors.npy`` and the catalogue position of each row's song (``songs.parquet``)."""
    from embench.report.load import RunDirError

    try:
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{folder / 'vectors.npy'}: cannot read it ({exc})") from None
    table = _read_parquet(folder / "songs.parquet", "exported song ids", ["row", "song_id"])
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
    from embench.report.load import RunDirError

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


CORE_FLAGS_AS_DICTS = [
    {"key": f.key, "label": f.label, "description": f.description, "source": f.source}
    for f in CORE_FLAGS
]


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
