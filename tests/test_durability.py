"""Durability of a study and the summary's counts, tested directly.

- Every journal record is flushed and fsynced before the next trial starts (the calls are
  recorded, and what the disk held at each fsync is read back).
- A study resumed after stopping at a smaller budget equals one run without stopping: params,
  statuses, metrics and objectives of every trial, no kill needed.
- The summary's counts by status add up to the trials journaled, and each count is the one the
  trials' params must give.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import numpy as np
import pytest
from pydantic import Field

import embench
import embench.study
from embench.cli import main
from embench.journal import Journal
from embench.records import TrialStatus
from embench.summary import RunSummary
from tests.helpers import STUDY_BENCHMARK, write_benchmark


def run(tmp_path, text, out, extra=()):
    bench = write_benchmark(tmp_path, text, name=f"{out}.toml")
    code = main(["run", str(bench), "--output", str(tmp_path / out), "--quiet", *extra])
    return code, tmp_path / out


def journal_of(out, study="search"):
    return Journal(out / "studies" / study / "journal.jsonl").read(repair=False)


# -- flushed and fsynced before the next trial ---------------------------------------------------
def test_every_record_is_fsynced_before_the_next_trial_starts(tmp_path, test_plugin, monkeypatch):
    out = tmp_path / "out"
    path = out / "studies" / "search" / "journal.jsonl"
    events: list[tuple] = []
    real_fsync = os.fsync

    def fsync(fd):
        real_fsync(fd)
        if path.exists() and os.path.samestat(os.fstat(fd), os.stat(path)):
            # What a reader (or a machine restarted now) finds: flushed before the fsync.
            events.append(("fsync", path.read_text(encoding="utf-8")))

    real_execute = embench.study.execute_trial

    def execute_trial(state, task):
        events.append(("start", task.number))
        return real_execute(state, task)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(embench.study, "execute_trial", execute_trial)
    bench = write_benchmark(tmp_path, STUDY_BENCHMARK)
    assert main(["run", str(bench), "--output", str(out), "--quiet"]) == 0

    assert [e[1] for e in events if e[0] == "start"] == [-1, 0, 1, 2, 3, 4, 5]
    starts = [i for i, e in enumerate(events) if e[0] == "start"]
    # Before trial k starts (and after the last one) the journal on disk holds, as complete
    # lines, the header, the default and trials 0..k-1, the last of them just fsynced.
    for position, done in zip([*starts[1:], len(events)], range(-1, 6), strict=True):
        fsyncs = [e[1] for e in events[:position] if e[0] == "fsync"]
        assert fsyncs, f"nothing fsynced before trial {done + 1}"
        text = fsyncs[-1]
        assert text.endswith("\n"), "an fsync before the record was flushed"
        records = [json.loads(line) for line in text.splitlines()]
        assert [r["kind"] for r in records] == ["header", "default"] + ["trial"] * (done + 1)
        assert [r["number"] for r in records[1:]] == list(range(-1, done + 1))
    # One fsync per record: header, default, six trials.
    assert len([e for e in events if e[0] == "fsync"]) == 8


# -- resume equals an uninterrupted run ---------------------------------------------------------
COMPARED = ("kind", "number", "status", "error", "params", "metrics", "suggested", "objectives")


def comparable(record) -> dict:
    data = record.to_json()
    return {key: data.get(key) for key in COMPARED}


@pytest.mark.parametrize("optimiser", ["uniform", "nsga2"])
def test_resume_equals_an_uninterrupted_run(tmp_path, test_plugin, optimiser):
    text = STUDY_BENCHMARK.replace("budget = 6", "budget = 8")
    text = text.replace('optimiser = "uniform"', f'optimiser = "{optimiser}"')
    text += "[study.params]\nfail_above = 0.03\n"  # some trials fail: statuses must match too
    if optimiser == "nsga2":
        text += "[study.options]\npop_size = 3\n"  # later asks depend on what was told

    code, whole = run(tmp_path, text, "whole")
    assert code == 0
    code, part = run(tmp_path, text, "part", extra=["--budget", "4"])
    assert code == 0 and len(journal_of(part).trials) == 4
    code, part = run(tmp_path, text, "part")
    assert code == 0

    a, b = journal_of(whole), journal_of(part)
    assert a.header.to_json() == b.header.to_json()
    assert comparable(a.default) == comparable(b.default)
    assert [comparable(r) for r in a.trials] == [comparable(r) for r in b.trials]
    assert [r.number for r in b.trials] == list(range(8))
    statuses = Counter(r.status for r in b.trials)
    assert statuses[TrialStatus.OK] and statuses[TrialStatus.FAILED]  # both kinds compared
    # The summaries agree too: counts and best trial.
    sa = RunSummary.from_disk(whole).studies["search"]
    sb = RunSummary.from_disk(part).studies["search"]
    assert (sa.trials, sa.ok, sa.failed, sa.infeasible) == (sb.trials, sb.ok, sb.failed, 0)
    assert sa.trials == 8 and sa.ok == statuses[TrialStatus.OK]
    assert [t.number for t in sa.best] == [t.number for t in sb.best]


# -- summary counts add up ----------------------------------------------------------------------
class StatusOptions(embench.Options):
    mode: int = Field(3, ge=0, le=3, description="0 ok, 1 raise, 2 over budget, 3 the default")
    dim: int = Field(4, ge=1)


class StatusEmbedder(embench.Embedder):
    """Ends each trial in the status its ``mode`` names (tests only).

    The default (mode 3) takes 0.2 s, so the time budget (1.25 x that) is far from the ok trials
    (instant) and the over-budget ones (until told to stop).
    """

    name = "statuses"
    Options = StatusOptions
    search_space = {"mode": embench.Dimension(0, 2, integer=True)}

    def fit(self, corpus, params, *, seed, threads, monitor):
        if params.mode == 1:
            raise RuntimeError("mode 1 fails")
        if params.mode == 2:
            deadline = time.perf_counter() + 10
            while not monitor.should_stop() and time.perf_counter() < deadline:
                time.sleep(0.01)
            raise embench.BudgetExceeded("mode 2 is over budget")
        if params.mode == 3:
            time.sleep(0.2)
        songs = np.unique(corpus.songs)
        return embench.Embedding(songs, np.random.default_rng(seed).normal(size=(len(songs), 4)))


class StatusPlugin:
    @embench.hookimpl
    def register_embedders(self, register):
        register(StatusEmbedder)


STATUS_BENCHMARK = """
[benchmark]
name = "statuses"
seed = 2
threads = 1

[dataset]
plugin = "tiny"

[split]
train = 0.8
validation = 0.1
test = 0.1

[[configuration]]
name = "default"
embedder = "random"

[[study]]
name = "search"
optimiser = "uniform"
embedder = "statuses"
budget = 12
objective = "hitrate"
time_budget = 1.25
final = "none"
"""

EXPECTED = {0: TrialStatus.OK, 1: TrialStatus.FAILED, 2: TrialStatus.INFEASIBLE}


def test_summary_counts_add_up_to_the_journaled_trials(tmp_path, test_plugin, register_plugin):
    register_plugin("statuses", StatusPlugin())
    code, out = run(tmp_path, STATUS_BENCHMARK, "out")
    assert code == 0
    trials = journal_of(out).trials
    assert len(trials) == 12
    for record in trials:
        assert record.status == EXPECTED[record.params["mode"]], record.error
    journaled = Counter(r.status for r in trials)
    assert all(journaled[s] for s in EXPECTED.values())  # every status occurs
    study = RunSummary.from_disk(out).studies["search"]
    assert study.ok == journaled[TrialStatus.OK]
    assert study.failed == journaled[TrialStatus.FAILED]
    assert study.infeasible == journaled[TrialStatus.INFEASIBLE]
    assert study.skipped == journaled[TrialStatus.SKIPPED] == 0
    assert study.ok + study.infeasible + study.failed + study.skipped == study.trials == 12
    # The best is an ok trial or the default (mode 3, a candidate that wins ties); failed and
    # infeasible trials never are.
    assert [b.params["mode"] for b in study.best] in ([0], [3])

    # Resumed with a larger budget the counts cover the journal, not only this run's trials.
    code, out = run(tmp_path, STATUS_BENCHMARK, "out", extra=["--budget", "15"])
    assert code == 0
    trials = journal_of(out).trials
    study = RunSummary.from_disk(out).studies["search"]
    journaled = Counter(r.status for r in trials)
    assert study.trials == len(trials) == 15
    assert (study.ok, study.failed, study.infeasible) == (
        journaled[TrialStatus.OK],
        journaled[TrialStatus.FAILED],
        journaled[TrialStatus.INFEASIBLE],
    )
