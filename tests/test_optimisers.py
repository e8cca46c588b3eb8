"""The built-in optimisers (nevergrad, nsga2, random) through the harness's ask/tell protocol."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import embench
from embench.errors import ConfigError
from embench.pareto import non_dominated
from embench.plugins import get_plugin_manager
from embench.space import Dimension, sample_uniform
from embench_plugins.nevergrad_search import Nevergrad, NevergradOptions
from embench_plugins.pymoo_search import Nsga2, Nsga2Options
from embench_plugins.random_search import Random, RandomOptions

SPACE = {
    "n": Dimension(1, 100, integer=True),
    "lr": Dimension(1e-4, 1.0, log=True),
}
MIXED = {**SPACE, "x": Dimension(-1.0, 1.0), "k": Dimension(2, 2000, integer=True, log=True)}


def quadratic(p) -> float:
    """Minimum 0 at n = 30, lr = 0.01."""
    return ((p["n"] - 30) / 50) ** 2 + (math.log10(p["lr"]) + 2) ** 2


def two_objectives(p) -> list[float]:
    """A ZDT1-like trade-off: small x is good for the first objective, bad for the second."""
    g = 1 + ((p["n"] - 30) / 50) ** 2 + (math.log10(p["lr"]) + 2) ** 2
    x = (p["x"] + 1) / 2
    return [x, g * (1 - math.sqrt(x / g))]


def make(name: str, space=SPACE, n_objectives: int = 1, seed: int = 0, budget: int = 30, **options):
    cls = {"nevergrad": Nevergrad, "nsga2": Nsga2, "random": Random}[name]
    return cls().create(space, n_objectives, cls.Options(**options), seed=seed, budget=budget)


def drive(search, objective, trials: int, feasible=lambda p: True) -> list[dict]:
    asked = []
    for _ in range(trials):
        params = search.ask()
        asked.append(params)
        values = objective(params)
        search.tell(params, values if isinstance(values, list) else [values], feasible(params))
    return asked


ALL = ["nevergrad", "nsga2", "random"]


def test_optimisers_come_through_the_entry_points(monkeypatch):
    monkeypatch.setenv("EMBENCH_LOAD_PLUGINS", "nevergrad,nsga2,random")
    plugins = get_plugin_manager()
    assert plugins.optimisers.names() == ["nevergrad", "nsga2", "random"]
    assert plugins.optimisers.get("nsga2").cls.multi_objective
    assert plugins.optimisers.get("random").cls.multi_objective
    assert not plugins.optimisers.get("nevergrad").cls.multi_objective


@pytest.mark.parametrize("cls", [Nevergrad, Nsga2, Random])
def test_options_are_documented_and_strict(cls):
    assert issubclass(cls.Options, embench.Options)
    for name, field in cls.Options.model_fields.items():
        assert field.description, f"{cls.name}.{name} has no description"
    with pytest.raises(ValueError):
        cls.Options(no_such_option=1)


@pytest.mark.parametrize("name", ALL)
def test_bounds_integers_and_logs_are_respected(name):
    trials = 16 if name == "nevergrad" else 40  # BO: 10 random trials, then 6 GP proposals
    search = make(name, MIXED, budget=trials)
    asked = drive(search, quadratic, trials)
    json.dumps(asked)  # plain Python numbers: the journal stores them
    for params in asked:
        assert set(params) == set(MIXED)
        for key, dim in MIXED.items():
            value = params[key]
            assert dim.low <= value <= dim.high, (key, value)
            assert type(value) is (int if dim.integer else float), (key, value)
    if name != "nevergrad":  # BO concentrates; the others must sample log dims in log space
        lr = np.array([p["lr"] for p in asked])
        assert (lr < 1e-2).mean() > 0.2, "a log dimension sampled linearly"


def test_random_sampling_is_uniform_over_integers_and_log_uniform():
    rng = np.random.default_rng(0)
    space = {"n": Dimension(1, 4, integer=True), "lr": Dimension(1e-4, 1.0, log=True)}
    draws = [sample_uniform(space, rng) for _ in range(4000)]
    counts = np.bincount([p["n"] for p in draws])[1:]
    assert counts.min() > 850  # end points as likely as inner integers (1000 each)
    decades = np.histogram(np.log10([p["lr"] for p in draws]), bins=4, range=(-4, 0))[0]
    assert decades.min() > 850


@pytest.mark.parametrize("name", ALL)
def test_deterministic_for_a_seed(name):
    trials = 12  # BO: 10 random trials, then 2 proposals of the Gaussian process
    first = drive(make(name, MIXED, seed=3), quadratic, trials)
    again = drive(make(name, MIXED, seed=3), quadratic, trials)
    other = drive(make(name, MIXED, seed=4), quadratic, trials)
    assert first == again
    assert first != other


def test_nevergrad_bo_beats_random_draws():
    search = make("nevergrad", budget=25)
    drive(search, quadratic, 25)
    (best,) = search.best()
    draws = np.array(
        [quadratic(sample_uniform(SPACE, np.random.default_rng(i))) for i in range(2000)]
    )
    assert quadratic(best) < np.median(draws)
    # the best of 25 uniform draws beats the 1% quantile only 22% of the time; BO does reliably
    assert quadratic(best) < np.quantile(draws, 0.01)


def test_nevergrad_default_starts_with_ten_random_trials():
    search = make("nevergrad", budget=30)
    assert search.options.initial_random == 10 and search.options.optimizer == "BO"
    assert type(search.optimizer).__name__ == "_BO"


@pytest.mark.parametrize("optimizer", ["TwoPointsDE", "NGOpt"])
def test_nevergrad_other_optimisers_by_name(optimizer):
    search = make("nevergrad", budget=30, optimizer=optimizer, initial_random=5)
    asked = drive(search, quadratic, 30)
    assert len({json.dumps(p) for p in asked}) == 30
    assert quadratic(search.best()[0]) == min(quadratic(p) for p in asked)


def test_unknown_nevergrad_optimizer_is_a_config_error():
    with pytest.raises(ConfigError, match="did you mean 'NGOpt'"):
        make("nevergrad", optimizer="NGOpz")
    with pytest.raises(ConfigError, match="did you mean 'TwoPointsDE'"):
        make("nevergrad", optimizer="twopointsde")


def test_nevergrad_is_single_objective():
    with pytest.raises(ConfigError, match="one objective"):
        make("nevergrad", n_objectives=2)


@pytest.mark.parametrize("name", ALL)
def test_tell_of_params_never_asked(name):
    n_obj = 2 if name == "nsga2" else 1
    objective = (lambda p: two_objectives(p)) if n_obj == 2 else quadratic
    space = {**SPACE, "x": Dimension(-1.0, 1.0)}
    rng = np.random.default_rng(7)
    recorded = [sample_uniform(space, rng) for _ in range(12)]
    recorded[0]["n"] = float(recorded[0]["n"])  # e.g. 25.0 read back from a journal
    recorded.append({"n": 1, "lr": 1.0, "x": 1.0})  # the very bounds
    recorded.append({"n": 100, "lr": 1e-4, "x": -1.0})
    recorded.append(dict(recorded[-1]))  # the same configuration twice
    search = make(name, space, n_objectives=n_obj)
    for params in recorded:
        values = objective(params)
        search.tell(params, values if isinstance(values, list) else [values], True)
    asked = drive(search, objective, 12)  # it goes on from there
    assert len(asked) == 12
    best = search.best()
    if n_obj == 1:
        told = [*recorded, *asked]
        assert quadratic(best[0]) == min(quadratic(p) for p in told)


@pytest.mark.parametrize("name", ALL)
def test_replay_with_tells_that_differ_from_the_asks(name):
    """A resumed parallel study replays ask() + tell() of the params recorded in the journal."""
    first = make(name, SPACE, seed=1)
    pending = [first.ask() for _ in range(4)]  # four workers
    journal = []
    for params in reversed(pending):  # finishing in another order
        journal.append((params, quadratic(params)))
        first.tell(params, [quadratic(params)], True)
    for _ in range(8):
        params = first.ask()
        journal.append((params, quadratic(params)))
        first.tell(params, [quadratic(params)], True)
    replayed = make(name, SPACE, seed=1)
    for params, value in journal:
        replayed.ask()
        replayed.tell(params, [value], True)
    assert replayed.best() == first.best()
    drive(replayed, quadratic, 3)


@pytest.mark.parametrize("name", ALL)
def test_infeasible_and_failed_trials_are_never_best(name):
    n_obj = 2 if name == "nsga2" else 1
    search = make(name, {**SPACE, "x": Dimension(-1.0, 1.0)}, n_objectives=n_obj)
    bad = set()
    for i in range(20):
        params = search.ask()
        if i % 3 == 0:  # over the time budget, but "excellent"
            search.tell(params, [-100.0] * n_obj, False)
            bad.add(json.dumps(params, sort_keys=True))
        elif i % 3 == 1:  # failed: NaN objective even if flagged feasible
            search.tell(params, [math.nan] * n_obj, True)
            bad.add(json.dumps(params, sort_keys=True))
        else:
            search.tell(params, [float(i)] * n_obj, True)
    best = search.best()
    assert best
    assert not {json.dumps(p, sort_keys=True) for p in best} & bad


@pytest.mark.parametrize("name", ALL)
def test_no_feasible_trial_means_no_best(name):
    search = make(name)
    for _ in range(12):  # nevergrad holds these back until a feasible loss sets the penalty
        search.tell(search.ask(), [math.inf], False)
    assert search.best() == []
    params = search.ask()
    search.tell(params, [1.0], True)
    assert search.best() == [params]


def test_nevergrad_penalises_infeasible_trials():
    search = make("nevergrad", budget=30)
    told = []
    search.optimizer.register_callback("tell", lambda opt, cand, loss: told.append(loss))
    search.tell(search.ask(), [math.inf], False)  # held back: no feasible loss yet
    assert told == []
    search.tell(search.ask(), [1.0], True)
    search.tell(search.ask(), [3.0], True)
    search.tell(search.ask(), [math.inf], False)
    # penalty = worst + (worst - best) at tell time, at least 10% of |worst|
    assert told == pytest.approx([1.0, 1.1, 3.0, 5.0])


def test_nevergrad_parallel_asks_do_not_repeat():
    search = make("nevergrad", budget=30)
    drive(search, quadratic, 12)  # past the 10 random trials: the Gaussian process proposes
    pending = [search.ask() for _ in range(4)]
    assert len({json.dumps(p, sort_keys=True) for p in pending}) == 4
    for params in pending:
        search.tell(params, [quadratic(params)], True)


def test_nsga2_returns_a_non_dominated_feasible_set():
    space = {**SPACE, "x": Dimension(-1.0, 1.0)}
    search = make("nsga2", space, n_objectives=2, pop_size=10)
    asked = drive(search, two_objectives, 80, feasible=lambda p: p["n"] < 90)
    front = search.best()
    assert len(front) >= 3
    F_front = np.array([two_objectives(p) for p in front])
    assert non_dominated(F_front).all()
    assert all(p["n"] < 90 for p in front)
    feasible = [p for p in asked if p["n"] < 90]
    for p in feasible:  # every feasible trial is on the front or dominated by it
        f = np.array(two_objectives(p))
        on_front = any(np.array_equal(f, g) for g in F_front)
        dominated = any(np.all(g <= f) and np.any(g < f) for g in F_front)
        assert on_front or dominated
    # NSGA-II moves the population towards the trade-off: later generations beat the first
    g = [sum(two_objectives(p)) for p in asked]
    assert np.median(g[-20:]) < np.median(g[:10])


def test_nsga2_parallel_asks_beyond_a_generation():
    search = make("nsga2", MIXED, n_objectives=2, pop_size=4)
    objective = lambda p: [quadratic(p), abs(p["x"])]  # noqa: E731
    pending = [search.ask() for _ in range(6)]  # more than one generation in flight
    # Six different proposals in bounds: the second batch is not a replay of the first.
    assert len({tuple(sorted(p.items())) for p in pending}) == 6
    for params in pending:
        assert all(MIXED[k].low <= v <= MIXED[k].high for k, v in params.items())
        assert isinstance(params["n"], int) and isinstance(params["k"], int)
    for params in pending:
        search.tell(params, objective(params), True)
    # Every tell counts, the ones beyond the first generation included.
    assert canonical(search.best()) == brute_force_front(pending, objective)
    later = drive(search, objective, 10)
    told = pending + later
    assert canonical(search.best()) == brute_force_front(told, objective)
    # Later asks are bred from the told generations: crossover copies continuous genes exactly,
    # which fresh uniform draws never do.
    told_genes = {(k, p[k]) for p in pending for k in ("lr", "x")}
    assert any((k, p[k]) in told_genes for p in later for k in ("lr", "x"))


def canonical(params: list[dict]) -> list[tuple]:
    return sorted(tuple(sorted(p.items())) for p in params)


def brute_force_front(params: list[dict], objective) -> list[tuple]:
    """The non-dominated params (all feasible), by pairwise comparison, in a canonical order."""
    values = [objective(p) for p in params]

    def dominated(f):
        return any(all(g <= h for g, h in zip(o, f, strict=True)) and o != f for o in values)

    return canonical([p for p, f in zip(params, values, strict=True) if not dominated(f)])


def test_random_multi_objective_best_is_the_front():
    space = {**SPACE, "x": Dimension(-1.0, 1.0)}
    search = make("random", space, n_objectives=2, seed=5)
    asked = drive(search, two_objectives, 40)
    front = search.best()
    F = np.array([two_objectives(p) for p in asked])
    expected = [asked[i] for i in np.flatnonzero(non_dominated(F))]
    assert front == expected


def test_random_avoids_repeats_in_a_small_space():
    space = {"n": Dimension(1, 6, integer=True), "m": Dimension(1, 2, integer=True)}
    search = Random().create(space, 1, RandomOptions(), seed=0, budget=12)
    asked = drive(search, lambda p: float(p["n"]), 12)
    assert len({(p["n"], p["m"]) for p in asked}) == 12


def test_bad_tells_are_contract_errors():
    search = make("random")
    with pytest.raises(ValueError, match="do not match"):
        search.tell({"n": 3}, [1.0], True)
    with pytest.raises(ValueError, match="objectives"):
        search.tell(search.ask(), [1.0, 2.0], True)
    with pytest.raises(ValueError, match="not finite"):
        search.tell({"n": 3, "lr": math.nan}, [1.0], True)


def test_default_options_are_accepted_without_arguments():
    for cls in (Nevergrad, Nsga2, Random):
        cls().create(SPACE, 1, None, seed=0, budget=5).ask()
    assert NevergradOptions().optimizer == "BO" and Nsga2Options().pop_size == 10


@pytest.mark.parametrize("name", ["nevergrad", "nsga2"])
def test_a_study_runs_and_resumes_through_the_harness(tmp_path, test_plugin, monkeypatch, name):
    from tests.helpers import STUDY_BENCHMARK
    from tests.test_study import run, trials

    monkeypatch.setenv("EMBENCH_LOAD_PLUGINS", "nevergrad,nsga2,random,next_song")
    text = STUDY_BENCHMARK.replace('optimiser = "uniform"', f'optimiser = "{name}"')
    text = text.replace("budget = 6", "budget = 12")
    code, out = run(tmp_path, text)
    assert code == 0
    first = trials(out)
    code, out = run(tmp_path, text, extra=["--budget", "14"])  # resume: replay, then go on
    assert code == 0
    again = trials(out)
    assert again[:12] == first and len(again) == 14
