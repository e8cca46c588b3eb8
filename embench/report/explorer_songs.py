"""Finding the explorer's songs: by id or title (``embench neighbours``, ``[report] songs``)
and the seeded, stratified sample the explorer and the map show.

Which songs
-----------
``[report] songs`` lists song ids; without it a seeded, stratified sample of ``[report] sample``
songs played in the training corpus: the top genres by plays each get an equal share, half of it
drawn from the genre's most played fifth of songs (``popular``) and half from the rest
(``long tail``); a dataset without genres is one group. The map draws ``map_songs`` songs: the
explorer songs plus a sample drawn the same way. Every number is bounded by the settings, not
by the catalogue, so the page stays small at any scale.
"""

from __future__ import annotations

import difflib
import math
import zlib

import numpy as np
import pandas as pd

from embench.errors import ConfigError, DataError

TOP_GENRES = 8  # genres the default sample is stratified over (and coloured on the map)
POPULAR_SHARE = 0.2  # a genre's most played fifth of songs is its "popular" stratum


def _lower(values: pd.Series) -> np.ndarray:
    return values.astype("string").fillna("").str.lower().to_numpy(dtype=object)


def describe(songs: pd.DataFrame, i: int) -> str:
    row = songs.iloc[int(i)]
    title = row["title"] if pd.notna(row["title"]) else "?"
    artist = row["artist"] if pd.notna(row["artist"]) else "?"
    return f"{row['song_id']} ({title} - {artist})"


def close_songs(songs: pd.DataFrame, query: str, n: int = 3) -> list[int]:
    """Songs whose id, title or "title - artist" is close to ``query`` (for "did you mean")."""
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
    raise DataError(
        f"no song '{query}' (by id, title or artist) in {what}{did_you_mean(songs, query)}"
    )


def did_you_mean(songs: pd.DataFrame, query: str) -> str:
    """The "; did you mean 'A' or 'B'?" hint naming the songs closest to ``query`` ("": none)."""
    close = close_songs(songs, query)
    if not close:
        return ""
    return "; did you mean " + " or ".join(f"'{describe(songs, i)}'" for i in close) + "?"


def listed_songs(songs: pd.DataFrame, listed: tuple[str, ...] | list[str]) -> np.ndarray:
    """The dataset indices of ``[report] songs`` (song ids); an unknown id is a ConfigError."""
    index = pd.Index(songs["song_id"].astype(str))
    positions = index.get_indexer(list(listed))
    for song, position in zip(listed, positions, strict=True):
        if position < 0:
            raise ConfigError(
                f"[report] songs: no song with id '{song}' in the dataset"
                f"{did_you_mean(songs, song)}"
            )
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
