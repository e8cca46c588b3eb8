"""The search loop: journal, resume, failures, time budget, executors."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import embench.study
from embench.cli import main
from embench.journal import Journal
from tests.helpers import REPO, STUDY_BENCHMARK, write_benchmark


def run(tmp_path, text=STUDY_BENCHMARK, out="out", extra=()):
    bench = write_benchmark(tmp_path, text)
    code = main(["run", str(bench), "--output", str(tmp_path / out), "--quiet", *extra])
    return code, tmp_path / out


def journal(out, name="search"):
    """The journal's records (header, default, trials in file order) as written."""
    contents = Journal(out / "studies" / name / "journal.jsonl").read()
    records = (contents.header, contents.default, *contents.trials)
    return [r.to_json() for r in records if r is not None]


def trials(out, name="search"):
    return [r for r in journal(out, name) if r["kind"] == "trial"]


def test_study_runs_to_budget_and_retrains_the_best(tmp_path, test_plugin):
    code, out = run(tmp_path)
    assert code == 0
    records = journal(out)
    assert [r["kind"] for r in records[:2]] == ["header", "default"]
    assert sorted(r["number"] for r in trials(out)) == list(range(6))
    summary = json.loads((out / "summary.json").read_text())
    study = summary["studies"]["search"]
    assert study["trials"] == 6 and study["ok"] == 6
    assert study["failed"] == study["infeasible"] == study["skipped"] == 0
    # the default is a candidate too, and wins ties: a study never reports a best below it
    default = next(r for r in records if r["kind"] == "default")
    best = max([default, *trials(out)], key=lambda r: (r["metrics"]["hitrate"], -r["number"]))
    best = default if best["metrics"]["hitrate"] == default["metrics"]["hitrate"] else best
    assert study["best"][0]["number"] == best["number"]
    assert study["outcome"] == ("default" if best is default else "improved")
    final = [c for c in summary["configurations"] if c["study"] == "search"]
    assert len(final) == 1 and final[0]["params"]["dim"] == best["params"]["dim"]


def test_rerun_resumes_without_repeating(tmp_path, test_plugin, monkeypatch):
    code, out = run(tmp_path)
    first = trials(out)
    started = []  # the trials (and default) each later run trains
    real_execute = embench.study.execute_trial

    def execute_trial(state, task):
        started.append(task.number)
        return real_execute(state, task)

    monkeypatch.setattr(embench.study, "execute_trial", execute_trial)
    code, out = run(tmp_path)
    assert code == 0 and trials(out) == first  # nothing retrained: the budget was reached
    assert started == []
    code, out = run(tmp_path, STUDY_BENCHMARK.replace("budget = 6", "budget = 8"))
    assert code == 0 and started == [6, 7]  # a larger budget in the file continues the study
    assert trials(out)[:6] == first
    code, out = run(tmp_path, extra=["--budget", "9"])
    assert code == 0 and started == [6, 7, 8]
    again = trials(out)
    assert again[:6] == first and sorted(r["number"] for r in again) == list(range(9))
    study = json.loads((out / "summary.json").read_text())["studies"]["search"]
    assert study["trials"] == study["ok"] == 9


def test_resume_with_a_changed_space_is_refused(tmp_path, test_plugin, capsys):
    run(tmp_path)
    text = STUDY_BENCHMARK + "[study.space]\ndim = { low = 2, high = 4 }\n"
    code, _ = run(tmp_path, text)
    assert code == 2
    assert "different space" in " ".join(capsys.readouterr().err.split())


def test_corrupt_last_line_is_set_aside(tmp_path, test_plugin):
    code, out = run(tmp_path)
    path = out / "studies" / "search" / "journal.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    code, out = run(tmp_path)
    assert code == 0
    assert (out / "studies" / "search" / "journal.jsonl.corrupt").exists()
    assert sorted(r["number"] for r in trials(out)) == list(range(6))


def test_failing_trials_are_recorded_and_the_study_goes_on(tmp_path, test_plugin):
    text = STUDY_BENCHMARK + "[study.params]\nfail_above = 0.02\n"
    code, out = run(tmp_path, text)
    assert code == 0
    records = trials(out)
    failed = [r for r in records if r["status"] == "failed"]
    assert len(records) == 6 and failed
    assert all("too long" in r["error"] for r in failed)
    assert all(r["params"]["delay"] > 0.02 for r in failed)
    assert all(r["params"]["delay"] <= 0.02 for r in records if r["status"] == "ok")
    study = json.loads((out / "summary.json").read_text())["studies"]["search"]
    assert study["failed"] == len(failed)
    assert study["ok"] == 6 - len(failed) > 0
    assert study["infeasible"] == study["skipped"] == 0 and study["trials"] == 6


def test_fail_fast_stops_the_study(tmp_path, test_plugin, capsys):
    text = STUDY_BENCHMARK.replace("time_budget = 1000", "time_budget = 1000\nfail_fast = true")
    text += "[study.params]\nfail_above = 0.0\n"
    code, out = run(tmp_path, text)
    assert code == 2 and "too long" in capsys.readouterr().err
    assert not (out / "summary.json").exists()


def test_time_budget_marks_slow_trials_infeasible(tmp_path, test_plugin):
    # The default trains in ~0 s (delay 0): any trial with a real delay exceeds 1.25x of it.
    text = STUDY_BENCHMARK.replace("time_budget = 1000", "time_budget = 1.25")
    text += "[study.space]\ndelay = { low = 0.2, high = 0.3 }\n"
    code, out = run(tmp_path, text)
    assert code == 0
    records = trials(out)
    assert records and all(r["status"] == "infeasible" for r in records)
    summary = json.loads((out / "summary.json").read_text())
    study = summary["studies"]["search"]
    assert study["infeasible"] == study["trials"] == 6
    assert study["ok"] == study["failed"] == study["skipped"] == 0
    assert [b["number"] for b in study["best"]] == [-1]  # the default, said plainly
    assert study["outcome"] == "no_feasible_trial"
    assert any("no feasible trial" in note for note in study["notes"])


def test_process_executor_matches_local(tmp_path, test_plugin):
    text = STUDY_BENCHMARK + "[study.params]\nfail_above = 0.03\n"  # ok and failed trials
    code, local = run(tmp_path, text, out="local")
    assert code == 0
    pooled_text = text.replace(
        "time_budget = 1000", 'time_budget = 1000\nexecutor = "process"\nworkers = 2'
    )
    code, pooled = run(tmp_path, pooled_text, out="pooled")
    assert code == 0
    keys = ("kind", "status", "error", "params", "suggested", "metrics", "objectives")

    def by_number(out):
        records = [r for r in journal(out) if r["kind"] != "header"]  # the default is -1
        return {r["number"]: {key: r.get(key) for key in keys} for r in records}

    assert sorted(by_number(local)) == list(range(-1, 6))
    assert by_number(pooled) == by_number(local)
    assert {r["status"] for r in trials(local)} == {"ok", "failed"}


KILL_SCRIPT = textwrap.dedent(
    """
    import signal
    import sys
    from embench.cli import main
    # A shell's background job starts with SIGINT ignored, and a child inherits that: restore
    # Python's handler so the interrupt test does not depend on how the tests were started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from embench.plugins import temporary_plugin
    from tests.helpers import TestPlugin
    with temporary_plugin("embench-tests", TestPlugin()):
        sys.exit(main(["run", sys.argv[1], "--output", sys.argv[2], "--quiet"]))
    """
)


def test_sigkill_mid_study_then_resume_equals_uninterrupted(tmp_path, test_plugin):
    text = STUDY_BENCHMARK.replace("budget = 6", "budget = 8") + "[study.params]\ndelay = 0.25\n"
    bench = write_benchmark(tmp_path, text)
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(bench), str(out)], cwd=REPO, env=env
    )
    path = out / "studies" / "search" / "journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the study process ended early with code {proc.returncode}")
        if path.exists() and sum(1 for _ in path.open()) >= 5:  # header, default, 3 trials
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(trials(out))
    assert 3 <= killed_at < 8, "the kill must land mid-study"
    assert main(["run", str(bench), "--output", str(out), "--quiet"]) == 0
    resumed = trials(out)
    assert sorted(r["number"] for r in resumed) == list(range(8))  # none repeated, none lost
    assert main(["run", str(bench), "--output", str(tmp_path / "straight"), "--quiet"]) == 0
    straight = trials(tmp_path / "straight")
    key = lambda r: (r["number"], r["params"], r["metrics"], r["status"])  # noqa: E731
    assert sorted(map(key, resumed)) == sorted(map(key, straight))


def test_dask_local_cluster_runs_a_study(tmp_path, test_plugin):
    pytest.importorskip("distributed", reason="Dask distributed is a test dependency")
    text = STUDY_BENCHMARK.replace(
        "time_budget = 1000", 'time_budget = 1000\nexecutor = "dask"\nworkers = 2'
    )
    code, out = run(tmp_path, text)
    assert code == 0
    assert sorted(r["number"] for r in trials(out)) == list(range(6))
    assert all(r["status"] == "ok" for r in trials(out))


def test_scale_runs_each_study_on_subsamples_and_tests_the_best(tmp_path, test_plugin):
    text = STUDY_BENCHMARK + "[scale]\nrates = [0.25, 0.5]\n"
    code, out = run(tmp_path, text)
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = summary["scale"]
    assert [r["rate"] for r in rows] == [0.25, 0.5]
    assert all(r["status"] == "ok" and r["optimisation_seconds"] > 0 for r in rows)
    for rate in ("0.25", "0.5"):
        header = journal(out, f"search@{rate}")[0]
        assert header["subsample"] == float(rate)
        assert len(trials(out, f"search@{rate}")) == 6


def test_sigint_stops_cleanly_and_leaves_a_resumable_study(tmp_path, test_plugin):
    text = STUDY_BENCHMARK.replace("budget = 6", "budget = 8") + "[study.params]\ndelay = 0.25\n"
    bench = write_benchmark(tmp_path, text)
    out = tmp_path / "interrupted"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(bench), str(out)],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    path = out / "studies" / "search" / "journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and sum(1 for _ in path.open()) >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "run the same command to resume" in err
    assert "Traceback" not in err
    assert main(["run", str(bench), "--output", str(out), "--quiet"]) == 0
    assert sorted(r["number"] for r in trials(out)) == list(range(8))


SYNTHETIC_SEARCH = """
[benchmark]
name = "w2v-search"
seed = 11
threads = 1
[dataset]
plugin = "synthetic"
[dataset.options]
songs = 600
sequences = 500
genres = 6
[split]
train = 0.9
validation = 0.05
test = 0.05
[embedders.word2vec]
epochs = 3
vector_size = 32
[[configuration]]
name = "default"
[metrics.next_song]
[[study]]
name = "hitrate"
optimiser = "nevergrad"
objective = "hitrate"
budget = 14
time_budget = 20
[study.space]
window = { high = 10 }
negative = { high = 10 }
"""


def test_hitrate_study_beats_the_default_on_validation(tmp_path):
    code, out = run(tmp_path, SYNTHETIC_SEARCH)
    assert code == 0
    records = journal(out, "hitrate")
    default = next(r for r in records if r["kind"] == "default")["metrics"]["hitrate"]
    best = max(r["metrics"]["hitrate"] for r in records if r["kind"] == "trial" and r["metrics"])
    assert best > default
