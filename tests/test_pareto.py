"""The one Pareto-front implementation against a brute-force reference."""

import itertools

import numpy as np
import pytest

from embench import pareto
from embench.pareto import non_dominated, pareto_indices


def brute_force(points, directions=None):
    """Row i is on the front when no row j is nowhere worse and somewhere strictly better."""
    points = [list(p) for p in points]
    if directions is not None:
        points = [
            [-v if d == "max" else v for v, d in zip(p, directions, strict=True)] for p in points
        ]
    out = []
    for p in points:
        dominated = False
        for q in points:
            pairs = list(zip(q, p, strict=True))
            if all(a <= b for a, b in pairs) and any(a < b for a, b in pairs):
                dominated = True
        out.append(not dominated)
    return out


@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_with_ties_and_duplicates(seed, m):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    points = rng.integers(0, 5, size=(n, m)).astype(float)  # few values: many ties, duplicates
    assert non_dominated(points).tolist() == brute_force(points)
    directions = [("max", "min")[i % 2] for i in range(m)]
    assert non_dominated(points, directions).tolist() == brute_force(points, directions)


def test_matches_brute_force_across_blocks():
    rng = np.random.default_rng(7)
    n = 2 * pareto.BLOCK + 37  # rows compared in several blocks, the last one partial
    points = np.column_stack([rng.random(n), rng.random(n)])
    points[:, 1] = 1 - points[:, 0] + 0.2 * rng.random(n)  # a front of many points
    points[n - 1] = points[3]  # a duplicate across blocks
    assert non_dominated(points).tolist() == brute_force(points)


def test_known_points_in_both_directions():
    points = np.array([[1.0, 1.0], [2.0, 0.0], [0.5, 0.5], [0.0, 2.0], [1.0, 1.0]])
    assert non_dominated(points, ["max", "max"]).tolist() == [True, True, False, True, True]
    assert non_dominated(points, ["min", "min"]).tolist() == [False, True, True, True, False]
    assert pareto_indices(points, ["min", "min"]) == [1, 2, 3]


def test_one_objective_keeps_every_minimum():
    assert non_dominated([3.0, 1.0, 2.0, 1.0]).tolist() == [False, True, False, True]


def test_degenerate_inputs():
    assert non_dominated(np.zeros((0, 2))).tolist() == []
    assert non_dominated([], ["max", "min"]).tolist() == []
    assert non_dominated([[1.0, 2.0]]).tolist() == [True]
    with pytest.raises(ValueError, match="2 directions for 3 objectives"):
        non_dominated([[1.0, 2.0, 3.0]], ["max", "min"])
    with pytest.raises(ValueError, match="'max' or 'min'"):
        non_dominated([[1.0, 2.0]], ["max", "up"])


def test_all_permutations_of_a_small_set_agree():
    base = [[0, 3], [1, 1], [3, 0], [2, 2], [1, 1]]
    for order in itertools.permutations(range(len(base))):
        points = np.array([base[i] for i in order], dtype=float)
        assert non_dominated(points).tolist() == brute_force(points)
