"""Building blocks of the event readers: column encoders that work chunk by chunk, and the
cutting of plays into sessions (:func:`sessionise`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class _Encoder:
    """Codes for the values of a column read in chunks: 0, 1, ... in order of first appearance
    over all chunks (as ``pandas.factorize`` of the whole column), one hash lookup per chunk."""

    def __init__(self) -> None:
        self.values: pa.Array | None = None

    def encode(self, array: pa.Array) -> np.ndarray:
        encoded = pc.dictionary_encode(array)
        local = encoded.dictionary
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        if self.values is None:
            self.values = local
            return indices.astype(np.int32)
        index = pc.fill_null(pc.index_in(local, value_set=self.values), -1)
        mapping = index.to_numpy(zero_copy_only=False).astype(np.int64)
        new = mapping < 0
        mapping[new] = len(self.values) + np.arange(int(new.sum()))
        if new.any():
            self.values = pa.concat_arrays([self.values, local.filter(pa.array(new))])
        return mapping[indices].astype(np.int32)

    def __len__(self) -> int:
        return 0 if self.values is None else len(self.values)


class _FirstLabels:
    """Per song id, the label of its first row (in file order) that has one, over chunks."""

    def __init__(self) -> None:
        self.tracks: list[pa.Array] = []
        self.labels: list[pa.Array] = []
        self.known: pa.Array | None = None

    def add(self, tracks: pa.Array, labels: pa.Array) -> None:
        if not (pa.types.is_string(labels.type) or pa.types.is_large_string(labels.type)):
            labels = pc.cast(labels, pa.string())
        present = pc.and_(pc.is_valid(labels), pc.not_equal(pc.utf8_trim_whitespace(labels), ""))
        present = pc.fill_null(present, False)
        tracks, labels = tracks.filter(present), labels.filter(present)
        if len(tracks) == 0:
            return
        codes = pc.dictionary_encode(tracks)
        _, first = np.unique(codes.indices.to_numpy(zero_copy_only=False), return_index=True)
        tracks, labels = tracks.take(pa.array(first)), labels.take(pa.array(first))
        if self.known is not None:
            new = pc.invert(pc.is_in(tracks, value_set=self.known))
            tracks, labels = tracks.filter(new), labels.filter(new)
        if len(tracks):
            self.tracks.append(tracks)
            self.labels.append(labels)
            self.known = pa.concat_arrays(self.tracks)

    def per_song(self, song_ids: pa.Array) -> np.ndarray:
        """The labels aligned with ``song_ids`` (None where a song has none)."""
        out = np.full(len(song_ids), None, dtype=object)
        if self.tracks:
            where = pc.index_in(pa.concat_arrays(self.tracks), value_set=song_ids)
            out[where.to_numpy(zero_copy_only=False).astype(np.int64)] = pa.concat_arrays(
                self.labels
            ).to_numpy(zero_copy_only=False)
        return out


@dataclass(frozen=True, eq=False)
class Sessions:
    """Plays cut into sessions (what :func:`sessionise` returns)."""

    lengths: np.ndarray  # int64: the length of each kept session, in order
    tracks: np.ndarray  # the track codes of the kept sessions, in play order
    total: int  # sessions before the short ones were dropped
    dropped_short: int  # sessions shorter than min_length


def sessionise(
    users: np.ndarray | list[np.ndarray],
    stamps: np.ndarray | list[np.ndarray],
    tracks: np.ndarray | list[np.ndarray],
    *,
    gap: int | float,
    min_length: int = 1,
) -> Sessions:
    """Each user's plays ordered by time (ties keep the input order), cut into sessions where
    the user is silent for more than ``gap`` (in the unit of ``stamps``); sessions shorter than
    ``min_length`` are dropped.

    Vectorised: one stable sort by (user, time), no Python loop per play. The arrays may be
    given as lists of chunks (e.g. one per block of a file); the lists are emptied as they are
    joined, and the tracks are joined only once users and times are freed.
    """
    user_of = _concatenate(users) if isinstance(users, list) else users
    time_of = _concatenate(stamps) if isinstance(stamps, list) else stamps
    order = np.lexsort((time_of, user_of))
    sorted_users = user_of[order]
    del user_of
    sorted_stamps = time_of[order]
    del time_of
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (sorted_users[1:] != sorted_users[:-1]) | (np.diff(sorted_stamps) > gap)
    del sorted_users, sorted_stamps
    session = np.cumsum(starts, dtype=np.int64) - 1
    del starts
    lengths = np.bincount(session)
    keep = lengths[session] >= min_length
    del session
    ordered = (_concatenate(tracks) if isinstance(tracks, list) else tracks)[order]
    del order
    return Sessions(
        lengths=lengths[lengths >= min_length],
        tracks=ordered[keep],
        total=len(lengths),
        dropped_short=int((lengths < min_length).sum()),
    )


def _concatenate(chunks: list[np.ndarray]) -> np.ndarray:
    """One array of the chunks, freeing them as it goes (``chunks`` ends empty)."""
    if len(chunks) == 1:
        return chunks.pop()
    out = np.empty(sum(len(c) for c in chunks), dtype=chunks[0].dtype)
    position = 0
    while chunks:
        chunk = chunks.pop(0)
        out[position : position + len(chunk)] = chunk
        position += len(chunk)
    return out
