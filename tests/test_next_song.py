"""The next-song metric against a slow, obviously-correct reference (pure Python loops)."""

import itertools
import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import embench
from embench.data.dataset import Dataset, Sequences
from embench.data.split import make_split
from embench_plugins.next_song import NextSong, NextSongOptions


def _tie_vector(positions, signs):
    vector = [0] * 6
    for position, sign in zip(positions, signs, strict=True):
        vector[position] = sign
    return vector


TIE_VECTOR = st.one_of(
    st.just([0] * 6),
    st.builds(
        _tie_vector,
        st.sampled_from(list(itertools.combinations(range(6), 4))),
        st.lists(st.sampled_from([-1, 1]), min_size=4, max_size=4),
    ),
)


def reference_rank(vectors: dict[int, list[float]], query: int, target: int, k: int) -> int:
    """1-based rank of target among query's top-k cosine neighbours (ties: lower song first)."""
    if query not in vectors or target not in vectors:
        return 0

    def cosine(a, b):
        na = math.sqrt(sum(x * x for x in a))
        nb = math.sqrt(sum(x * x for x in b))
        if na == 0 or nb == 0:
            return 0.0
        return sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb)

    others = [s for s in vectors if s != query]
    others.sort(key=lambda s: (-cosine(vectors[query], vectors[s]), s))
    top = others[:k]
    return top.index(target) + 1 if target in top else 0


def build_context(sequences, n_songs, known, vectors, seed):
    songs = pd.DataFrame({"song_id": [str(i) for i in range(n_songs)]})
    dataset = Dataset("prop", Sequences.from_lists(sequences), songs)
    split = make_split(dataset, (0.6, 0.2, 0.2), seed=seed)
    embedding = embench.Embedding(np.asarray(known, dtype=np.int64), vectors)
    return embench.EvalContext(dataset=dataset, split=split, embedding=embedding, part="test")


@settings(max_examples=60, deadline=None)
@given(
    n_songs=st.integers(2, 14),
    k=st.integers(1, 20),
    seed=st.integers(0, 10_000),
    data=st.data(),
)
def test_matches_reference(n_songs, k, seed, data):
    sequences = data.draw(
        st.lists(
            st.lists(st.integers(0, n_songs - 1), min_size=1, max_size=8), min_size=3, max_size=25
        )
    )
    # Some songs get no vector (unknown): they must count as misses, never be dropped.
    known = sorted(data.draw(st.sets(st.integers(0, n_songs - 1), min_size=1, max_size=n_songs)))
    # Four entries of +-1 (or none): normalised entries are +-0.5, so every cosine is an
    # exact multiple of 0.25 in float32 whatever the summation order, and ties are frequent.
    vectors = np.array(
        data.draw(st.lists(TIE_VECTOR, min_size=len(known), max_size=len(known))),
        dtype=np.float32,
    )
    ctx = build_context(sequences, n_songs, known, vectors, seed)
    result = NextSong().compute(ctx, NextSongOptions(k=k))
    table = {s: vectors[i].tolist() for i, s in enumerate(known)}
    pairs = {"in": ctx.split.in_set, "out": ctx.split.test.consecutive_pairs()}
    per_query = result.per_query
    for part, (queries, targets) in pairs.items():
        expected = [
            reference_rank(table, int(q), int(t), k) for q, t in zip(queries, targets, strict=True)
        ]
        got = per_query[per_query.set == part]["rank"].tolist()
        assert got == expected
        if expected:
            hit = sum(r > 0 for r in expected) / len(expected)
            ndcg = sum(1 / math.log2(1 + r) for r in expected if r) / len(expected)
            assert math.isclose(result.values[f"hitrate_{part}"], hit)
            assert math.isclose(result.values[f"ndcg_{part}"], ndcg)
        else:
            assert math.isnan(result.values[f"hitrate_{part}"])


def test_unknown_query_and_target_are_misses():
    sequences = [[0, 1], [0, 1], [1, 2], [2, 0], [0, 2]]
    ctx = build_context(sequences, 4, [0, 1], np.eye(2, dtype=np.float32), 0)
    result = NextSong().compute(ctx, NextSongOptions(k=5))
    queries, targets = ctx.split.in_set
    in_set = result.per_query[result.per_query.set == "in"]
    assert len(in_set) == len(queries)
    for q, t, rank in zip(queries, targets, in_set["rank"], strict=True):
        if q > 1 or t > 1:
            assert rank == 0


def test_mean_is_the_average_of_in_and_out():
    sequences = [[i % 5, (i + 1) % 5, (i + 2) % 5] for i in range(40)]
    vectors = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    ctx = build_context(sequences, 5, list(range(5)), vectors, 1)
    values = NextSong().compute(ctx, NextSongOptions(k=2)).values
    assert math.isclose(values["hitrate"], (values["hitrate_in"] + values["hitrate_out"]) / 2)
    assert math.isclose(values["ndcg"], (values["ndcg_in"] + values["ndcg_out"]) / 2)
