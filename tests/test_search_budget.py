"""Work-unit budgets, the cost model, skipped candidates, the default as a candidate, equal-time
mode, standard errors and the bad inputs of a study's budget (issue: searches under budget)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import embench
from embench.benchmark import load_benchmark
from embench.cost import CostModel, compute_corpus_stats, relative_errors
from embench.data.dataset import Sequences
from embench.errors import ConfigError
from embench.journal import Journal
from embench.records import TrialStatus
from tests.search_fakes import OPTIMUM, RecordingSearch, SearchPlugin, benchmark_text, run_study


@pytest.fixture
def plugin(register_plugin):
    RecordingSearch.instances.clear()
    return register_plugin("embench-search-tests", SearchPlugin())


@pytest.fixture
def fits(tmp_path, monkeypatch):
    """The trainings of the costly embedder, as (cost, x, epochs, sequences) tuples."""
    path = tmp_path / "fits.txt"
    monkeypatch.setenv("EMBENCH_TEST_FITS", str(path))

    def read():
        if not path.exists():
            return []
        rows = [line.split() for line in path.read_text().splitlines()]
        return [(float(c), float(x), int(e), int(n)) for c, x, e, n in rows]

    return read


def journal(tmp_path, out="out"):
    return Journal(tmp_path / out / "studies" / "search" / "journal.jsonl").read(repair=False)


# -- corpus statistics and the cost model -------------------------------------------------------
def brute_context_pairs(sequences: list[list[int]], window: int) -> float:
    """Expected skip-gram (centre, context) pairs per pass, enumerating every reduced window."""
    total = 0.0
    for seq in sequences:
        n = len(seq)
        for i in range(n):
            for w in range(1, window + 1):
                total += (min(w, i) + min(w, n - 1 - i)) / window
    return total


def test_context_pairs_follow_the_reduced_window_and_the_sequence_ends():
    rng = np.random.default_rng(1)
    lists = [list(rng.integers(0, 30, size=rng.integers(1, 15))) for _ in range(40)]
    stats = compute_corpus_stats(Sequences.from_lists(lists))
    assert stats.tokens == sum(map(len, lists)) and stats.sequences == 40
    for window in (1, 2, 3, 7, 14, 15, 40):
        assert stats.context_pairs(window) == pytest.approx(brute_context_pairs(lists, window))
    assert stats.mean_effective_window(1) < 1  # the first and last songs have one side
    every_pair = sum(len(seq) * (len(seq) - 1) for seq in lists)  # ordered, in one sequence
    assert stats.context_pairs(100) == pytest.approx(brute_context_pairs(lists, 100))
    assert stats.context_pairs(14) < stats.context_pairs(100) < every_pair


def test_cost_model_recovers_a_power_law_from_noisy_trials():
    rng = np.random.default_rng(0)
    model = CostModel()
    assert model.predict(1e6) is None  # nothing observed yet
    model.observe(2e6, 3.0)
    assert model.predict(4e6) == pytest.approx(6.0)  # one trial: seconds proportional to work
    works = np.exp(rng.uniform(np.log(1e5), np.log(1e8), size=60))
    seconds = 0.5 + 2e-7 * works**0.9 * np.exp(rng.normal(0, 0.05, size=60))  # overhead too
    model = CostModel()
    predicted = []
    for work, second in zip(works, seconds, strict=True):
        predicted.append(model.predict(work))
        model.observe(work, second)
    errors = relative_errors(predicted[10:], list(seconds[10:]))
    assert np.median(errors) < 0.25  # refitted after every trial, predicted before each
    truth = 0.5 + 2e-7 * 3e7**0.9
    assert model.predict(3e7) == pytest.approx(truth, rel=0.25)
    model.observe(None, 1.0)  # an embedder without a work model: ignored
    model.observe(1e6, 0.0)
    assert len(model.works) == 60


# -- skipped candidates -------------------------------------------------------------------------
WORK_STUDY = """
optimiser = "recording"
budget = 6
time_budget = 1.25
"""


def test_a_candidate_over_budget_is_skipped_without_training(tmp_path, plugin, fits):
    result = run_study(tmp_path, benchmark_text(WORK_STUDY))
    trained = fits()
    assert trained[0][:3] == (1.0, 0.2, 4)  # the default first
    records = result.trials
    skipped = [r for r in records if r.status == TrialStatus.SKIPPED]
    ok = [r for r in records if r.status == TrialStatus.OK]
    assert len(ok) == 6 and skipped  # the budget counts trained trials only
    # work units: exactly the candidates with cost > 1.25 x the default's (cost 1) are skipped
    assert all(r.params["cost"] > 1.25 for r in skipped)
    assert all(r.params["cost"] <= 1.25 for r in ok)
    # a skipped candidate consumed no training: only the default and the ok trials trained
    assert sorted(c for c, *_ in trained[1:]) == sorted(r.params["cost"] for r in ok)
    default_work = result.default.work
    for r in skipped:
        assert r.work == pytest.approx(r.params["cost"] / 1.0 * default_work)
        assert r.limit == pytest.approx(1.25 * default_work)
        assert r.train_seconds == 0 and r.metrics == {} and "not trained" in r.error
        assert r.predicted_seconds is not None  # the cost model's prediction is journaled
    # told to the optimiser as infeasible, in the order asked, after the default
    search = RecordingSearch.instances[-1]
    told = search.told[1:]
    assert [feasible for _, _, feasible in told] == [r.status == TrialStatus.OK for r in records]
    assert all(values == [math.inf] for _, values, f in told if not f)
    on_disk = journal(tmp_path).trials
    assert [r.status for r in on_disk] == [r.status for r in records]


def test_decisions_in_work_units_do_not_depend_on_the_machine(tmp_path, plugin, monkeypatch):
    first = run_study(tmp_path, benchmark_text(WORK_STUDY), out="fast")
    slow = benchmark_text(WORK_STUDY, "[study.params]\ndelay = 0.01\n")
    second = run_study(tmp_path, slow, out="slow")  # every training slower: same decisions
    assert [(r.suggested, r.status) for r in first.trials] == [
        (r.suggested, r.status) for r in second.trials
    ]


def test_skips_are_bounded_and_end_the_study_with_a_message(tmp_path, plugin, fits):
    text = benchmark_text(WORK_STUDY.replace("budget = 6", "budget = 2"))
    text += "[study.space]\ncost = { low = 2.0, high = 4.0 }\n"  # everything over budget
    result = run_study(tmp_path, text)
    assert len(fits()) == 1  # the default only
    assert [r.status for r in result.trials] == [TrialStatus.SKIPPED] * 40  # 20 x budget
    assert result.outcome == "no_feasible_trial"
    notes = " ".join(result.notes)
    assert "stopped after 40 candidates predicted over the budget" in notes
    assert "no feasible trial" in notes
    assert [r.kind for r in result.best] == ["default"]
    summary = result.summary()
    assert summary.skipped == 40 and summary.ok == 0 and summary.outcome == "no_feasible_trial"
    again = run_study(tmp_path, text)  # resumed: nothing more to do, the same message
    assert len(fits()) == 1 and len(again.trials) == 40
    assert any("stopped after 40" in n for n in again.notes)


def test_wall_mode_skips_what_the_cost_model_predicts_over_budget(tmp_path, plugin, fits):
    study = WORK_STUDY + 'time_mode = "wall"\n'
    text = benchmark_text(study, "[study.params]\ndelay = 0.005\n")  # seconds follow work
    result = run_study(tmp_path, text)
    assert result.time_mode == "wall"
    statuses = {r.status for r in result.trials}
    assert TrialStatus.SKIPPED in statuses and TrialStatus.OK in statuses
    for record in result.trials:  # the prediction made before each trial is what decided
        assert record.limit == pytest.approx(1.25 * result.default.train_seconds)
        if record.status == TrialStatus.SKIPPED:
            assert record.predicted_seconds > record.limit
            assert "predicted seconds" in record.error
    told = RecordingSearch.instances[-1].overruns[1:]
    for record, overrun in zip(result.trials, told, strict=True):  # in seconds, not work
        if record.status == TrialStatus.SKIPPED:
            assert overrun == pytest.approx(record.predicted_seconds / record.limit)
        else:
            assert record.predicted_seconds <= record.limit * 1.001 + 1e-4
            assert record.predicted_cpu_seconds is not None and record.train_cpu_seconds >= 0
    cost = result.summary().cost
    assert [row["number"] for row in cost["trials"]] == [
        r.number for r in result.trials if r.status != TrialStatus.SKIPPED
    ]
    assert all(row["predicted_seconds"] is not None for row in cost["trials"])


# -- the default as a candidate -----------------------------------------------------------------
def test_the_default_is_the_first_observation_also_on_resume(tmp_path, plugin, fits):
    run_study(tmp_path, benchmark_text(WORK_STUDY), budget=3)
    first = RecordingSearch.instances[-1].told
    default = journal(tmp_path).default
    assert first[0] == ({"cost": 1.0, "x": 0.2}, [-default.objectives[0]], True)
    run_study(tmp_path, benchmark_text(WORK_STUDY), budget=5)  # resume: replay, then go on
    resumed = RecordingSearch.instances[-1].told
    assert resumed[0] == first[0]
    assert resumed[: len(first)] == first  # replayed tells equal the first run's, in order
    straight = run_study(tmp_path, benchmark_text(WORK_STUDY), out="straight", budget=5)
    assert RecordingSearch.instances[-1].told == resumed
    assert [r.suggested for r in straight.trials] == [r.suggested for r in journal(tmp_path).trials]


def test_a_search_never_reports_a_best_below_the_default(tmp_path, plugin):
    # the default sits at the optimum; every trial is worse
    text = benchmark_text(WORK_STUDY, f"[embedders.costly]\nx = {OPTIMUM}\n")
    text += "[study.space]\nx = { low = 0.0, high = 0.3 }\n"
    result = run_study(tmp_path, text)
    assert all(r.feasible for r in result.trials if r.status == TrialStatus.OK)
    assert [r.number for r in result.best] == [-1] and result.outcome == "default"
    assert any("found nothing better than the default" in n for n in result.notes)
    summary = result.summary()
    assert summary.best[0].number == -1 and summary.best[0].params["x"] == OPTIMUM
    assert summary.outcome == "default"


def test_a_default_outside_the_space_is_not_told(tmp_path, plugin):
    text = benchmark_text(WORK_STUDY) + "[study.space]\nx = { low = 0.5, high = 0.9 }\n"
    result = run_study(tmp_path, text)
    told = RecordingSearch.instances[-1].told
    assert len(told) == len(result.trials)  # no tell of params outside the space
    assert result.best and result.outcome == "improved"  # 0.5..0.9 beats x = 0.2


# -- equal-time mode ----------------------------------------------------------------------------
def test_equal_mode_sets_epochs_so_the_work_matches_the_default(tmp_path, plugin, fits):
    study = WORK_STUDY + 'time_mode = "equal"\n'
    result = run_study(tmp_path, benchmark_text(study))
    default_work = result.default.work
    trained = [r for r in result.trials if r.status == TrialStatus.OK]
    for record in trained:  # 4 epochs x cost 1 for the default
        expected = max(1, round(4 / record.params["cost"]))
        assert record.params["epochs"] == expected
        assert record.work <= 1.25 * default_work
    skipped = [r for r in result.trials if r.status == TrialStatus.SKIPPED]
    assert all(r.params["cost"] > 5.0 for r in skipped)  # only when one epoch is too much
    assert sorted(e for _, _, e, _ in fits()[1:]) == sorted(r.params["epochs"] for r in trained)


# -- standard errors ----------------------------------------------------------------------------
def test_every_trial_records_the_standard_error_of_its_objective(tmp_path, plugin):
    result = run_study(tmp_path, benchmark_text(WORK_STUDY))
    noise = np.random.default_rng(0).normal(0, 0.01, size=50)
    expected = float(np.std(noise - noise.mean(), ddof=1) / math.sqrt(50))
    for record in [result.default, *(r for r in result.trials if r.status == TrialStatus.OK)]:
        assert record.standard_errors["score"] == pytest.approx(expected, rel=1e-5)
        assert record.objective_se == [pytest.approx(expected, rel=1e-5)]
    on_disk = journal(tmp_path)
    assert on_disk.default.objective_se[0] == pytest.approx(expected, rel=1e-5)


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("study", "message"),
    [
        ('budget = 4\ntime_mode = "fast"', "time_mode"),
        ("budget = 4\ntime_budget = -1.0", "time_budget"),
        ("budget = 4\ntime_budget = inf", "time_budget"),
        ("budget = 4\ntime_budget = nan", "time_budget"),
        ("budget = -3", "budget"),
        (
            'budget = 4\ntime_mode = "equal"\n[study.space]\nepochs = { low = 1, high = 5 }',
            "epochs",
        ),
    ],
)
def test_bad_budget_settings_are_clear_errors_at_load(tmp_path, plugin, study, message):
    path = tmp_path / "bad.toml"
    path.write_text(benchmark_text('optimiser = "recording"\n' + study))
    with pytest.raises(ConfigError) as caught:
        load_benchmark(path)
    assert message in str(caught.value)


# -- the report's history and work curves ------------------------------------------------------
def test_history_shows_standard_errors_and_the_work_curve_counts_every_training(tmp_path, plugin):
    from embench.report import plots
    from embench.report.load import read_journal

    result = run_study(tmp_path, benchmark_text(WORK_STUDY))
    path = tmp_path / "out" / "studies" / "search" / "journal.jsonl"
    study = read_journal(path, "search")
    data = plots.history_data(study)
    ok = data[data["status"] == "ok"]
    assert (ok["score_se"] > 0).all()  # every trained trial carries its standard error
    assert list(ok["score_se"]) == [r.objective_se[0] for r in result.trials if r.feasible]
    # the best so far starts at the default's value: never below it
    assert (data["score_best"] >= result.default.objectives[0]).all()
    assert (data[data["status"] == "skipped"]["work"] == 0).all()
    curve = plots.work_curve_data(study)
    trained = [r for r in result.trials if r.status != TrialStatus.SKIPPED]
    assert curve["work"].iloc[0] == 1.0  # the default's own training
    total = (result.default.work + sum(r.work for r in trained)) / result.default.work
    assert curve["work"].iloc[-1] == pytest.approx(total)
    assert curve["best"].iloc[-1] == pytest.approx(result.best[0].objectives[0])
    figure = plots.plot_work_curves({"search": study})
    assert plots.to_png(figure)[:4] == b"\x89PNG"
    assert plots.to_png(plots.plot_history(study, study.default))[:4] == b"\x89PNG"


# -- the results table and the report say it plainly -------------------------------------------
def test_table_and_report_say_when_a_search_found_nothing_better(tmp_path, plugin, capsys):
    from embench.cli import main

    nothing = benchmark_text(WORK_STUDY, f"[embedders.costly]\nx = {OPTIMUM}\n")
    nothing += "[study.space]\nx = { low = 0.0, high = 0.3 }\n"
    bench = tmp_path / "nothing.toml"
    bench.write_text(nothing)
    assert main(["run", str(bench), "--output", str(tmp_path / "run"), "--quiet"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "study search: no trial beat the default on validation" in printed
    report = (tmp_path / "run" / "report.html").read_text()
    assert "nothing better than the default: the result is the default" in report
    assert "found nothing better than the default configuration" in report  # the note
    assert "best objective against training work" in report  # the work curve is drawn
    assert (tmp_path / "run" / "report-work-curves.png").exists()


# -- the ask/tell schedule with parallel workers ------------------------------------------------
def test_parallel_trials_follow_a_fixed_ask_tell_schedule(tmp_path, plugin, monkeypatch):
    # random training times: trials finish out of order, yet ask n comes right after the tell
    # of trial n - workers, and tells come in the order asked
    monkeypatch.setenv("EMBENCH_TEST_JITTER", "0.05")
    study = WORK_STUDY.replace("budget = 6", "budget = 8") + 'executor = "process"\nworkers = 3\n'
    result = run_study(tmp_path, benchmark_text(study))
    search = RecordingSearch.instances[-1]
    asks = len(result.trials)
    assert search.events == "t" + "aaa" + "ta" * (asks - 3) + "ttt"  # the default told first
    assert [p for p, _, _ in search.told[1:]] == [r.suggested for r in result.trials]


# -- work models: Word2Vec's, and what check_embedder checks ----------------------------------
def test_word2vec_work_follows_its_formula_and_the_epochs():
    from embench_plugins.word2vec import NEGATIVE_COST, TOKEN_COST, Word2Vec, Word2VecOptions

    rng = np.random.default_rng(3)
    lists = [list(rng.integers(0, 50, size=rng.integers(1, 30))) for _ in range(60)]
    stats = compute_corpus_stats(Sequences.from_lists(lists))
    params = Word2VecOptions(vector_size=64, window=7, negative=9, epochs=3)
    per_epoch = stats.tokens * TOKEN_COST + stats.context_pairs(7) * 10 * (64 + NEGATIVE_COST)
    assert Word2Vec().work(params, stats) == pytest.approx(3 * per_epoch)
    base = Word2Vec().work(params, stats)
    for knob in ("vector_size", "window", "negative"):  # each costs more when larger
        larger = params.model_copy(update={knob: getattr(params, knob) * 2})
        assert Word2Vec().work(larger, stats) > base
    six = params.model_copy(update={"epochs": 6})
    assert Word2Vec().work(six, stats) == pytest.approx(2 * base)


def test_check_embedder_refuses_a_work_model_that_ignores_the_epochs():
    from tests.search_fakes import CostlyEmbedder

    assert embench.check_embedder(CostlyEmbedder, raise_on_error=False).ok

    class Flat(CostlyEmbedder):
        name = "flat"

        def work(self, params, stats):
            return params.cost * stats.tokens  # forgets the epochs

    report = embench.check_embedder(Flat, raise_on_error=False)
    assert not report.ok
    assert any("in proportion to epochs" in str(problem) for problem in report.errors)


def test_searches_learn_how_far_over_budget_a_skipped_candidate_was(tmp_path, plugin):
    from embench_plugins.pymoo_search import Nsga2Options, Nsga2Search

    result = run_study(tmp_path, benchmark_text(WORK_STUDY))
    search = RecordingSearch.instances[-1]
    for record, overrun in zip(result.trials, search.overruns[1:], strict=True):
        if record.status == TrialStatus.SKIPPED:  # the cost over the budget: cost / 1.25
            assert overrun == pytest.approx(record.params["cost"] / 1.25)
        else:
            assert overrun is None
    # NSGA-II: the further over budget, the larger the constraint violation
    space = {"x": embench.Dimension(0.0, 1.0)}
    nsga = Nsga2Search(space, 1, Nsga2Options(pop_size=4), seed=0)
    nsga.tell({"x": 0.3}, [math.inf], False, overrun=8.0)
    nsga.tell({"x": 0.4}, [math.inf], False)
    assert [g for _, _, g in nsga._told] == [4.0, 1.0]


# -- searches that know the budget ask affordable configurations --------------------------------
def test_repair_moves_as_few_values_as_needed_to_the_anchor():
    from embench_plugins.nevergrad_search import repair

    space = {
        "d": embench.Dimension(1, 100, integer=True),
        "n": embench.Dimension(1, 100, integer=True),
        "lr": embench.Dimension(0.001, 0.1, log=True),
    }

    def overrun(p):  # cost d x n against a budget of 100; the learning rate costs nothing
        return p["d"] * p["n"] / 100

    anchor = {"d": 10, "n": 10, "lr": 0.01}
    # n moved back to the anchor's 10 would leave d x n = 80: enough; then n is brought back
    # towards the proposal as far as affordable (8 x 12 <= 100 < 8 x 13); lr stays as proposed
    assert repair({"d": 8, "n": 30, "lr": 0.09}, anchor, space, overrun) == {
        "d": 8,
        "n": 12,
        "lr": 0.09,
    }
    assert repair({"d": 50, "n": 80, "lr": 0.09}, anchor, space, overrun) == {
        "d": 10,
        "n": 10,
        "lr": 0.09,
    }
    affordable = {"d": 5, "n": 5, "lr": 0.05}
    assert repair(affordable, anchor, space, overrun) == affordable
    assert (
        repair({"d": 50, "n": 80, "lr": 0.09}, {"d": 90, "n": 90, "lr": 0.01}, space, overrun)
        is None
    )


@pytest.mark.parametrize("optimiser", ["nevergrad", "asha"])
def test_searches_given_the_budget_ask_only_affordable_candidates(tmp_path, plugin, optimiser):
    study = WORK_STUDY.replace('optimiser = "recording"', f'optimiser = "{optimiser}"')
    study = study.replace("budget = 6", "budget = 14")
    if optimiser == "asha":
        study += '[study.options]\nsampler = "nevergrad"\n'
    result = run_study(tmp_path, benchmark_text(study))
    assert [r.status for r in result.trials] == [TrialStatus.OK] * 14  # nothing skipped
    assert all(r.work <= r.limit for r in result.trials)
    # a search that ignores the budget skips (the same random proposals, told as infeasible)
    blind = benchmark_text(WORK_STUDY.replace('optimiser = "recording"', 'optimiser = "random"'))
    assert any(r.status == TrialStatus.SKIPPED for r in run_study(tmp_path, blind, "blind").trials)
