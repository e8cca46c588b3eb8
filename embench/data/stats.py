"""A dataset's figures, as in the paper's Table 2 (songs, events, sequences, length percentiles)."""

from __future__ import annotations

import numpy as np

from embench.data.dataset import Dataset


def dataset_stats(dataset: Dataset) -> dict[str, int | float]:
    """Plain ints and floats (JSON-ready), in display order.

    ``songs``: rows of the song table; ``songs_played``: those occurring at least once;
    ``events``: song occurrences in all sequences; ``sequences``; ``length_mean`` and
    ``length_p25``/``length_p50``/``length_p75`` (linear-interpolated percentiles of sequence
    length); ``length_max``; ``artists``/``genres``: distinct non-missing labels;
    ``play_log_pairs`` when the dataset has a play log.
    """
    lengths = dataset.sequences.lengths
    p25, p50, p75 = (float(v) for v in np.percentile(lengths, [25, 50, 75]))
    stats: dict[str, int | float] = {
        "songs": int(dataset.n_songs),
        "songs_played": int((dataset.sequences.counts(dataset.n_songs) > 0).sum()),
        "events": int(dataset.sequences.n_events),
        "sequences": len(dataset.sequences),
        "length_mean": float(lengths.mean()),
        "length_p25": p25,
        "length_p50": p50,
        "length_p75": p75,
        "length_max": int(lengths.max()),
        "artists": int(dataset.songs["artist"].dropna().nunique()),
        "genres": int(dataset.songs["genre"].dropna().nunique()),
    }
    if dataset.play_log is not None:
        stats["play_log_pairs"] = len(dataset.play_log)
    return stats
