"""Multi-fidelity search (asha): promotions, fidelities applied by the harness, resume after a
SIGKILL mid-bracket, parallel workers, and its bad options."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from embench.benchmark import load_benchmark
from embench.errors import ConfigError
from embench.journal import Journal
from embench.records import TrialStatus
from tests.helpers import REPO
from tests.search_fakes import OPTIMUM, SearchPlugin, benchmark_text, run_study

RUNGS = [1 / 9, 1 / 3, 1.0]
ASHA = """
optimiser = "asha"
budget = 30
time_budget = 1.25
[study.options]
eta = 3
rates = [0.1111111111111111, 0.3333333333333333, 1.0]
"""


@pytest.fixture
def plugin(register_plugin):
    return register_plugin("embench-search-tests", SearchPlugin())


def rate_of(record) -> float:
    return (record.fidelity or {}).get("subsample", 1.0)


def check_promotions(trials, eta: int = 3) -> dict[int, int]:
    """Every trial above the lowest rung promotes a configuration that was among the best
    ``floor(n / eta)`` of the ``n`` feasible results of the rung below, told before it was asked
    (one worker: ask ``n`` follows the tells of every trial before it). Returns the number of
    trials per rung."""
    per_rung: dict[int, int] = {}
    for record in trials:
        if record.status == TrialStatus.SKIPPED:
            continue
        rung = RUNGS.index(min(RUNGS, key=lambda r: abs(r - rate_of(record))))
        per_rung[rung] = per_rung.get(rung, 0) + 1
        if rung == 0:
            continue
        below = [
            t
            for t in trials
            if t.number < record.number and t.feasible and abs(rate_of(t) - RUNGS[rung - 1]) < 1e-9
        ]
        top = sorted(below, key=lambda t: (-t.objectives[0], t.number))[: len(below) // eta]
        assert record.suggested in [t.suggested for t in top], (record.number, rung)
    return per_rung


def test_successive_halving_promotes_the_best_towards_the_known_optimum(tmp_path, plugin):
    result = run_study(tmp_path, benchmark_text(ASHA))
    trials = result.trials
    trained = [t for t in trials if t.status != TrialStatus.SKIPPED]
    assert len(trained) == 30
    per_rung = check_promotions(trials)
    assert per_rung[0] > per_rung[1] > per_rung.get(2, 0) > 0
    # the harness applied each fidelity: a rung's trials train on its share of the sequences
    stats = {round(rate_of(t), 4): t for t in trained}
    assert len(stats) == 3
    # work is costed at each rung's own rate, against the default at that rate
    for record in trials:
        if record.limit is not None:
            assert record.limit == pytest.approx(1.25 * record.work / record.params["cost"])
    # the best is a full training, near the optimum, and at least as good as the default
    (best,) = result.best
    assert best.kind == "trial" and best.fidelity is None
    assert abs(best.params["x"] - OPTIMUM) < 0.1
    assert best.objectives[0] >= result.default.objectives[0]
    assert result.outcome == "improved"
    # configurations are trained at the top rung only after winning both rungs below
    full = [t for t in trained if rate_of(t) == 1.0]
    rung0 = {tuple(t.suggested.items()) for t in trained if rate_of(t) < 0.2}
    assert all(tuple(t.suggested.items()) in rung0 for t in full)


def test_the_rung_subsample_is_trained_on_that_share_of_sequences(tmp_path, plugin, monkeypatch):
    path = tmp_path / "fits.txt"
    monkeypatch.setenv("EMBENCH_TEST_FITS", str(path))
    result = run_study(tmp_path, benchmark_text(ASHA.replace("budget = 30", "budget = 12")))
    sizes = [int(line.split()[3]) for line in path.read_text().splitlines()]
    full = sizes[0]  # the default: the whole training split
    trained = [t for t in result.trials if t.status != TrialStatus.SKIPPED]
    expected = [max(1, round(rate_of(t) * full)) for t in trained]
    assert sizes[1:] == expected


def test_scalarised_objective_and_epoch_rungs(tmp_path, plugin, monkeypatch):
    path = tmp_path / "fits.txt"
    monkeypatch.setenv("EMBENCH_TEST_FITS", str(path))
    study = ASHA.replace("rates = [", 'fidelity = "epochs"\nrates = [').replace(
        "0.1111111111111111, 0.3333333333333333", "0.25, 0.5"
    )
    objective = 'scalarised = { alpha = 0.5, hitrate = "score", vrc = "spread" }'
    result = run_study(tmp_path, benchmark_text(study, objective=objective))
    epochs = [int(line.split()[2]) for line in path.read_text().splitlines()]
    assert set(epochs) == {1, 2, 4}  # 0.25, 0.5 and 1 x the default's 4 epochs
    assert {tuple((t.fidelity or {}).items()) for t in result.trials} == {
        (("epochs", 0.25),),
        (("epochs", 0.5),),
        (),
    }
    (best,) = result.best
    assert best.fidelity is None and abs(best.params["x"] - OPTIMUM) < 0.15


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from embench.plugins import temporary_plugin
    from tests.search_fakes import SearchPlugin, run_study
    with temporary_plugin("embench-search-tests", SearchPlugin()):
        run_study(Path(sys.argv[1]), Path(sys.argv[2]).read_text(), out=sys.argv[3])
    """
)


def comparable(record) -> tuple:
    return (
        record.number,
        tuple(sorted(record.suggested.items())),
        tuple(sorted((record.fidelity or {}).items())),
        record.status,
        tuple(sorted(record.metrics.items())),
    )


def test_sigkill_mid_bracket_resumes_with_no_trial_lost_or_repeated(tmp_path, plugin):
    text = benchmark_text(
        ASHA.replace("budget = 30", "budget = 16"), "[study.params]\ndelay = 0.1\n"
    )
    bench = tmp_path / "bench.toml"
    bench.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(tmp_path), str(bench), "killed"], cwd=REPO, env=env
    )
    path = tmp_path / "killed" / "studies" / "search" / "journal.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the study process ended early with code {proc.returncode}")
        contents = Journal(path).read(repair=False) if path.exists() else None
        # killed once a configuration has been promoted (mid-bracket) and before the end
        if contents and any(rate_of(t) > 0.2 for t in contents.trials):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = Journal(path).read(repair=False).trials
    trained_before = sum(t.status != TrialStatus.SKIPPED for t in before)
    assert 3 <= trained_before < 16, "the kill must land mid-study"
    resumed = run_study(tmp_path, text, out="killed")
    straight = run_study(tmp_path, text, out="straight")
    on_disk = Journal(path).read(repair=False)
    assert on_disk.duplicates == 0  # nothing repeated
    assert [comparable(t) for t in on_disk.unique_trials()] == [
        comparable(t) for t in straight.trials
    ]  # nothing lost: the same trials, asks and results as an uninterrupted study
    assert [comparable(t) for t in resumed.trials] == [comparable(t) for t in straight.trials]
    assert [t.number for t in resumed.trials] == list(range(len(resumed.trials)))


def test_parallel_workers_give_the_same_study_every_time(tmp_path, plugin, monkeypatch):
    # trainings take random times, so trials finish in another order on each run; asks and
    # tells follow the fixed schedule all the same
    monkeypatch.setenv("EMBENCH_TEST_JITTER", "0.08")
    study = ASHA.replace("budget = 30", "budget = 14") + ""
    study = study.replace("[study.options]", 'executor = "process"\nworkers = 2\n[study.options]')
    first = run_study(tmp_path, benchmark_text(study), out="first")
    second = run_study(tmp_path, benchmark_text(study), out="second")
    assert [comparable(t) for t in first.trials] == [comparable(t) for t in second.trials]
    assert sum(t.status != TrialStatus.SKIPPED for t in first.trials) == 14
    assert any(rate_of(t) > 0.2 for t in first.trials)  # promotions happened


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("eta = 1", "eta"),
        ("rates = [0.5, 0.2, 1.0]", "strictly increasing"),
        ("rates = [0.1, 0.1, 1.0]", "strictly increasing"),
        ("rates = [0.0, 0.5]", "(0, 1]"),
        ("rates = [0.5, 1.5]", "(0, 1]"),
        ("rates = [-0.2, 1.0]", "(0, 1]"),
        ("min_rate = 0", "min_rate"),
        ("min_rate = 2.0", "min_rate"),
        ('fidelity = "epochs"\n[study.space]\nepochs = { low = 1, high = 8 }', "epochs"),
    ],
)
def test_bad_multi_fidelity_options_are_clear_errors_at_load(tmp_path, plugin, options, message):
    path = tmp_path / "bad.toml"
    path.write_text(benchmark_text('optimiser = "asha"\nbudget = 5\n[study.options]\n' + options))
    with pytest.raises(ConfigError) as caught:
        load_benchmark(path)
    assert message in str(caught.value)


def test_rungs_default_to_powers_of_eta():
    from embench_plugins.multi_fidelity import AshaOptions

    assert AshaOptions().rungs() == pytest.approx([1 / 9, 1 / 3, 1.0])
    assert AshaOptions(eta=2, min_rate=0.2).rungs() == pytest.approx([0.2, 0.4, 0.8, 1.0])
    assert AshaOptions(rates=[0.25, 0.5]).rungs() == [0.25, 0.5, 1.0]
    assert math.isclose(AshaOptions(eta=4).rungs()[0], 1 / 16)


def test_a_rung_subsample_is_the_sample_scale_would_draw():
    import numpy as np

    from embench.data.split import make_split
    from embench.data.tiny import make_tiny_dataset
    from embench.study import fidelity_split

    dataset = make_tiny_dataset(60, 400, seed=1)
    split = make_split(dataset, (0.8, 0.1, 0.1), seed=5)
    for rate in (0.1, 1 / 3, 0.5):
        sub = fidelity_split(dataset, split, rate, 5)
        scale = make_split(dataset, (0.8, 0.1, 0.1), seed=5, subsample=rate)
        assert np.array_equal(sub.train_ids, scale.train_ids)
        assert np.array_equal(sub.train.songs, scale.train.songs)
        assert all(np.array_equal(a, b) for a, b in zip(sub.in_set, scale.in_set, strict=True))
        assert sub.validation is split.validation  # held-out parts unchanged
        assert fidelity_split(dataset, split, rate, 5) is sub  # cached: one corpus per rate
    assert fidelity_split(dataset, split, 1.0, 5) is split
