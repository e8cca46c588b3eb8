"""Property tests of the split: every published figure rests on it.

The rounding rule (stated here, documented in docs/benchmark-file.md): with ``n`` sequences,
validation gets ``round(validation x n)`` and test ``round(test x n)`` sequences (Python's
``round``: to the nearest integer, halves to even), train the rest. A subsample at rate ``r``
keeps ``max(1, round(r x n_train))`` of the training sequences.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embench.data.dataset import Dataset, Sequences
from embench.data.split import make_split
from embench.errors import ConfigError

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def datasets(draw) -> tuple[Dataset, list[list[int]]]:
    n_songs = draw(st.integers(1, 12))
    song = st.integers(0, n_songs - 1)
    lists = draw(st.lists(st.lists(song, min_size=1, max_size=7), min_size=1, max_size=60))
    # Every song index must appear in the song table; not every song needs to be played.
    table = pd.DataFrame({"song_id": [f"id{i}" for i in range(n_songs)]})
    return Dataset("prop", Sequences.from_lists(lists), table), lists


fractions_st = st.tuples(st.floats(0.0, 0.45), st.floats(0.0, 0.45)).map(
    lambda vt: (1.0 - vt[0] - vt[1], vt[0], vt[1])
)
seeds = st.integers(0, 2**32 - 1)


def expected_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    n_validation = round(fractions[1] * n)
    n_test = round(fractions[2] * n)
    return n - n_validation - n_test, n_validation, n_test


def assert_corpus_matches(split, lists: list[list[int]]) -> None:
    """The corpus is the training sequences minus each last song; in-set = those last pairs."""
    train = [lists[i] for i in split.train_ids]
    assert len(split.train) == len(train)
    for got, full in zip(split.train, train, strict=True):
        expected = full[:-1] if len(full) >= 2 else full
        assert got.tolist() == expected
    long = [s for s in train if len(s) >= 2]
    queries, targets = split.in_set
    assert queries.tolist() == [s[-2] for s in long]
    assert targets.tolist() == [s[-1] for s in long]
    # Each masked last song is exactly one in-set target: nothing else is missing.
    missing = Counter(song for s in train for song in s) - Counter(split.train.songs.tolist())
    assert missing == Counter(targets.tolist())


@SETTINGS
@given(data=datasets(), fractions=fractions_st, seed=seeds)
def test_parts_are_disjoint_cover_everything_and_follow_the_fractions(data, fractions, seed):
    dataset, lists = data
    n = len(lists)
    split = make_split(dataset, fractions, seed=seed)
    train, validation, test = (
        set(split.train_ids.tolist()),
        set(split.validation_ids.tolist()),
        set(split.test_ids.tolist()),
    )
    # No duplicates inside a part, no overlap between parts, nothing lost.
    assert len(train) == len(split.train_ids)
    assert len(validation) == len(split.validation_ids)
    assert len(test) == len(split.test_ids)
    assert not train & validation and not train & test and not validation & test
    assert train | validation | test == set(range(n))
    assert (len(train), len(validation), len(test)) == expected_sizes(n, fractions)
    # Held-out parts carry the original sequences, untouched.
    for part, ids in (("validation", split.validation_ids), ("test", split.test_ids)):
        held = split.held_out(part)
        assert [s.tolist() for s in held] == [lists[i] for i in ids]
    assert_corpus_matches(split, lists)
    assert split.train.song_ids.tolist() == dataset.songs["song_id"].tolist()


@SETTINGS
@given(
    data=datasets(),
    fractions=fractions_st,
    seed=seeds,
    rate=st.floats(0.01, 1.0, exclude_min=False),
)
def test_subsampling_keeps_the_split_properties(data, fractions, seed, rate):
    dataset, lists = data
    full = make_split(dataset, fractions, seed=seed)
    n_train = len(full.train_ids)
    if n_train == 0:
        return  # nothing to subsample (a benchmark with no training sequence fails earlier)
    sub = make_split(dataset, fractions, seed=seed, subsample=rate)
    # Held-out parts do not depend on the subsample: every trial is scored on the same queries.
    assert sub.validation_ids.tolist() == full.validation_ids.tolist()
    assert sub.test_ids.tolist() == full.test_ids.tolist()
    kept = sub.train_ids.tolist()
    assert len(set(kept)) == len(kept)
    assert set(kept) <= set(full.train_ids.tolist())
    assert len(kept) == max(1, round(rate * n_train))
    assert_corpus_matches(sub, lists)


def tiny(n: int = 300) -> tuple[Dataset, list[list[int]]]:
    rng = np.random.default_rng(0)
    lists = [rng.integers(0, 20, size=int(rng.integers(1, 6))).tolist() for _ in range(n)]
    table = pd.DataFrame({"song_id": [f"id{i}" for i in range(20)]})
    return Dataset("tiny", Sequences.from_lists(lists), table), lists


def test_the_seed_decides_the_split_and_the_subsample():
    dataset, _ = tiny()
    a = make_split(dataset, (0.8, 0.1, 0.1), seed=1, subsample=0.5)
    b = make_split(dataset, (0.8, 0.1, 0.1), seed=1, subsample=0.5)
    c = make_split(dataset, (0.8, 0.1, 0.1), seed=2, subsample=0.5)
    assert a.validation_ids.tolist() == b.validation_ids.tolist()
    assert a.train_ids.tolist() == b.train_ids.tolist()
    assert a.validation_ids.tolist() != c.validation_ids.tolist()
    assert a.train_ids.tolist() != c.train_ids.tolist()
    # The sample is random, not a prefix of the training ids, and the seed picks it: the
    # positions kept within the (equally long) training ids differ between seeds.
    full_a = make_split(dataset, (0.8, 0.1, 0.1), seed=1)
    full_c = make_split(dataset, (0.8, 0.1, 0.1), seed=2)
    assert a.train_ids.tolist() != full_a.train_ids[: len(a.train_ids)].tolist()
    positions_a = np.searchsorted(full_a.train_ids, a.train_ids)
    positions_c = np.searchsorted(full_c.train_ids, c.train_ids)
    assert positions_a.tolist() != positions_c.tolist()


def test_the_default_fractions_are_98_1_1():
    dataset, _ = tiny(1000)
    split = make_split(dataset)
    assert (len(split.train_ids), len(split.validation_ids), len(split.test_ids)) == (980, 10, 10)


@pytest.mark.parametrize(
    ("fractions", "rate"),
    [
        ((0.5, 0.3, 0.3), 1.0),  # sums to 1.1
        ((1.1, -0.1, 0.0), 1.0),  # a negative share
        ((0.8, 0.1, 0.1), 0.0),
        ((0.8, 0.1, 0.1), -0.5),
        ((0.8, 0.1, 0.1), 1.5),
    ],
)
def test_bad_fractions_and_rates_are_config_errors(fractions, rate):
    dataset, _ = tiny()
    with pytest.raises(ConfigError):
        make_split(dataset, fractions, seed=0, subsample=rate)
