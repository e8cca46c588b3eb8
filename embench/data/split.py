"""Seeded split of whole sequences into train/validation/test, subsampling and in-set masking."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from embench.data.dataset import Dataset, Sequences
from embench.errors import ConfigError


@dataclass(frozen=True, eq=False)
class Split:
    """The sequences each part of a benchmark sees.

    ``train`` is the training corpus: the (subsampled) training sequences with the last song of
    every sequence of length >= 2 masked; ``in_set`` holds those (second-to-last, last) pairs.
    """

    train_ids: np.ndarray
    validation_ids: np.ndarray
    test_ids: np.ndarray
    train: Sequences
    in_set: tuple[np.ndarray, np.ndarray]
    validation: Sequences
    test: Sequences

    def held_out(self, part: str) -> Sequences:
        if part not in ("validation", "test"):
            raise ValueError(f"unknown held-out part {part!r}")
        return self.validation if part == "validation" else self.test


def split_ids(n: int, fractions: tuple[float, float, float], seed: int) -> tuple[np.ndarray, ...]:
    """Permute ``range(n)`` with ``seed`` and cut it by the train/validation/test fractions."""
    if not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ConfigError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    order = np.random.default_rng(seed).permutation(n)
    n_validation = int(round(fractions[1] * n))
    n_test = int(round(fractions[2] * n))
    n_train = n - n_validation - n_test
    return (
        np.sort(order[:n_train]),
        np.sort(order[n_train : n_train + n_validation]),
        np.sort(order[n_train + n_validation :]),
    )


def subsample_ids(ids: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """A seeded sample of ``rate`` x len(ids) of the ids (at least one), order kept."""
    if not 0 < rate <= 1:
        raise ConfigError(f"subsample rate must be in (0, 1], got {rate}")
    if rate == 1:
        return ids
    size = max(1, int(round(rate * len(ids))))
    chosen = np.random.default_rng([seed, 1]).choice(len(ids), size=size, replace=False)
    return ids[np.sort(chosen)]


def make_split(
    dataset: Dataset,
    fractions: tuple[float, float, float] = (0.98, 0.01, 0.01),
    seed: int = 0,
    subsample: float = 1.0,
) -> Split:
    """Split ``dataset`` by whole sequences, subsample training, mask each training last song."""
    train_ids, validation_ids, test_ids = split_ids(len(dataset.sequences), fractions, seed)
    train_ids = subsample_ids(train_ids, subsample, seed)
    train_full = dataset.sequences.take(train_ids)
    in_set = train_full.last_pairs()
    train = train_full.drop_last()
    del train_full  # at most two copies of the training songs at once
    song_ids = dataset.songs["song_id"].to_numpy()
    return Split(
        train_ids=train_ids,
        validation_ids=validation_ids,
        test_ids=test_ids,
        train=replace(train, song_ids=song_ids),
        in_set=in_set,
        validation=dataset.sequences.take(validation_ids),
        test=dataset.sequences.take(test_ids),
    )
