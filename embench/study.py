"""The search loop: ask the optimiser, run trials through an executor, journal every result.

Every finished trial is appended to ``journal.jsonl`` (fsynced) before the next one starts.
Running the same benchmark again replays the journal into a fresh optimiser (ask, then tell the
recorded outcome) and continues to the budget, never repeating a finished trial.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embench import fingerprint
from embench.benchmark import Configuration, StudyPlan
from embench.data.dataset import Dataset
from embench.data.split import Split
from embench.errors import EmbenchError
from embench.executors import make_executor
from embench.index import IndexChoice
from embench.io import to_jsonable
from embench.journal import FILENAME, Journal
from embench.pareto import non_dominated
from embench.records import Number, StudyHeader, TrialRecord, TrialStatus
from embench.summary import BestTrial, DefaultSummary, StudySummary
from embench.trial import train_and_evaluate


@dataclass
class TrialTask:
    """What a worker needs to run one trial (picklable)."""

    number: int
    name: str
    configuration: Configuration
    metrics: list
    seed: int
    threads: int
    time_limit: float | None
    fail_fast: bool
    suggested: dict[str, Any] | None = None  # what the optimiser asked (None: the default)
    index: IndexChoice | None = None  # the benchmark's [index] (None: the exact search)


def execute_trial(state: tuple[Dataset, Split], task: TrialTask) -> TrialRecord:
    """Train and score one trial on the validation part; returns its record (objectives to
    be filled in by the study)."""
    dataset, split = state
    outcome = train_and_evaluate(
        task.configuration,
        task.metrics,
        dataset,
        split,
        part="validation",
        seed=task.seed,
        threads=task.threads,
        fail_fast=task.fail_fast,
        time_limit=task.time_limit,
        index=task.index,
    )
    return TrialRecord(
        kind="trial" if task.suggested is not None else "default",
        number=task.number,
        status=outcome.status,
        error=outcome.error,
        params=outcome.params,
        metrics=to_jsonable(outcome.metrics),
        train_seconds=round(outcome.train_seconds, 4),
        eval_seconds={k: round(v, 4) for k, v in outcome.eval_seconds.items()},
        suggested=task.suggested,
        objectives=[],
    )


@dataclass
class StudyResult:
    name: str
    default: TrialRecord
    trials: list[TrialRecord]
    best: list[TrialRecord]
    seconds: float
    directory: Path
    set_aside: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> StudySummary:
        """What ``summary.json`` records of the study: counts, times, the default, the best."""
        counts = summarise_trials(self.trials)
        spent = (
            counts["train_seconds"]
            + sum(sum(t.eval_seconds.values()) for t in self.trials)
            + self.default.train_seconds
            + sum(self.default.eval_seconds.values())
        )
        return StudySummary(
            **counts,
            wall_seconds_this_run=round(self.seconds, 3),
            optimisation_seconds=round(spent, 3),
            journal=str(self.directory / FILENAME),
            default=DefaultSummary(
                params=self.default.params,
                metrics=self.default.metrics,
                train_seconds=self.default.train_seconds,
            ),
            best=[
                BestTrial(
                    number=r.number, params=r.params, objectives=r.objectives, metrics=r.metrics
                )
                for r in self.best
            ],
        )


def objective_values(
    plan: StudyPlan, metrics: dict[str, Number | None], default: TrialRecord | None
) -> list[Number | None]:
    """The study's objectives for ``metrics`` (as the user reads them, not yet negated).

    ``default``: the default's record (the reference of a scalarised objective's rVRC); None
    when ``metrics`` are the default's own.
    """
    section = plan.section
    values = {k: math.nan if v is None else v for k, v in metrics.items()}
    if section.scalarised:
        s = section.scalarised
        vrc_default = (default.metrics if default is not None else metrics).get(s.vrc)
        if not vrc_default:
            return [math.nan]
        relative = (values.get(s.vrc, math.nan) - vrc_default) / vrc_default
        return [s.alpha * values.get(s.hitrate, math.nan) + (1 - s.alpha) * relative]
    return [values.get(o.key, math.nan) for o in plan.objectives]


def to_minimise(plan: StudyPlan, values: list[Number | None]) -> list[float]:
    """``values`` as minimisation objectives (``None`` read as NaN)."""
    out = [math.nan if v is None else v for v in values]
    return [-v if o.direction == "max" else v for o, v in zip(plan.objectives, out, strict=True)]


def pareto_front(records: list[TrialRecord], plan: StudyPlan) -> list[TrialRecord]:
    """Feasible records that no other feasible record dominates."""
    feasible = [r for r in records if r.feasible]
    if not feasible:
        return []
    mask = non_dominated([to_minimise(plan, r.objectives) for r in feasible])
    return [r for r, keep in zip(feasible, mask, strict=True) if keep]


class Study:
    """Runs one :class:`StudyPlan` on a fixed dataset and split, durably."""

    def __init__(
        self,
        plan: StudyPlan,
        metrics: list,
        dataset: Dataset,
        split: Split,
        directory: Path,
        *,
        seed: int,
        threads: int,
        budget: int | None = None,
        header_extra: dict | None = None,
        progress=None,
        index: IndexChoice | None = None,
    ) -> None:
        self.plan = plan
        self.metrics = metrics
        self.index = index
        self.dataset = dataset
        self.split = split
        self.directory = Path(directory)
        self.seed = plan.section.seed if plan.section.seed is not None else seed
        self.threads = threads
        self.budget = budget or plan.section.budget
        self.journal = Journal(self.directory / FILENAME)
        self.header = StudyHeader(
            study=plan.name,
            optimiser=plan.optimiser.name,
            optimiser_options=plan.optimiser_options.model_dump(mode="json"),
            embedder=plan.embedder.name,
            fixed=plan.fixed,
            space=plan.space,
            objectives=[vars(o) for o in plan.objectives],
            scalarised=plan.section.scalarised.model_dump() if plan.section.scalarised else None,
            seed=self.seed,
            time_budget=plan.section.time_budget,
            **(header_extra or {}),
        )
        self.progress = progress

    # -- journal ---------------------------------------------------------------------------
    def _check_header(self, recorded: StudyHeader) -> None:
        """Refuse to resume a journal written by another study, data or benchmark (exit 2)."""
        changed = self.header.differences(recorded)
        if changed:
            raise fingerprint.refusal(
                f"study '{self.plan.name}' was started with a different {', '.join(changed)}",
                str(self.journal.path),
                fingerprint.changes(recorded.to_json(), self.header.to_json(), ignore=["kind"]),
                f"use another --output directory, or delete {self.directory}",
            )

    def check_journal(self) -> None:
        """Before anything runs: the journal is readable and was written by this very study
        (reads it without modifying it; :class:`~embench.errors.EmbenchError` otherwise)."""
        contents = self.journal.read(repair=False)
        if contents.header is not None:
            self._check_header(contents.header)

    def _configuration(self, name: str, suggested: dict[str, Any]) -> Configuration:
        return Configuration(name, self.plan.embedder, self.plan.params(suggested))

    def _task(self, number: int, name: str, suggested: dict | None, time_limit, threads: int):
        return TrialTask(
            number,
            name,
            self._configuration(name, suggested or {}),
            self.metrics,
            self.seed,
            threads,
            time_limit,
            self.plan.section.fail_fast,
            suggested,
            index=self.index,
        )

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> StudyResult:
        started = time.perf_counter()
        contents = self.journal.read(repair=True)
        if contents.header is not None:
            self._check_header(contents.header)
        else:
            self.journal.append(self.header)
        default = contents.default or self._run_default()
        trials = list(contents.trials)
        section = self.plan.section
        time_limit = section.time_budget * default.train_seconds if section.time_budget else None
        search = self.plan.optimiser.cls().create(
            self.plan.space,
            len(self.plan.objectives),
            self.plan.optimiser_options,
            seed=self.seed,
            budget=self.budget,
        )
        for record in trials:  # replay: the same asks as the first run, then the recorded tells
            search.ask()
            self._tell(search, record)
        executor_threads = max(1, self.threads // section.workers)
        executor = make_executor(
            section.executor,
            (self.dataset, self.split),
            section.workers,
            executor_threads if section.executor != "local" else self.threads,
            section.scheduler,
        )
        task_id = self._progress_start(len(trials))
        try:
            pending: list = []
            number = len(trials)
            while len(trials) < self.budget:
                while len(pending) < executor.workers and number < self.budget:
                    task = self._task(
                        number,
                        f"{self.plan.name}-{number}",
                        search.ask(),
                        time_limit,
                        executor_threads if section.executor != "local" else self.threads,
                    )
                    pending.append(executor.submit(execute_trial, task))
                    number += 1
                done, pending = executor.wait_any(pending)
                for future in done:
                    record = future.result()
                    record.objectives = (
                        objective_values(self.plan, record.metrics, default)
                        if record.status == TrialStatus.OK
                        else [None] * len(self.plan.objectives)
                    )
                    self.journal.append(record)
                    trials.append(record)
                    self._tell(search, record)
                    self._progress_update(task_id, trials)
        finally:
            executor.close()
        trials.sort(key=lambda r: r.number)
        best = self._best(trials)
        return StudyResult(
            self.plan.name,
            default,
            trials,
            best,
            time.perf_counter() - started,
            self.directory,
            self.journal.set_aside,
        )

    def _run_default(self) -> TrialRecord:
        """Train and score the default configuration: the time budget and rVRC refer to it."""
        task = self._task(-1, f"{self.plan.name}-default", None, None, self.threads)
        record = execute_trial((self.dataset, self.split), task)
        if record.status != TrialStatus.OK:
            raise EmbenchError(
                f"study '{self.plan.name}': the default configuration failed: {record.error}"
            )
        record.objectives = objective_values(self.plan, record.metrics, None)
        self.journal.append(record)
        return record

    def _tell(self, search, record: TrialRecord) -> None:
        feasible = record.feasible
        values = (
            to_minimise(self.plan, record.objectives)
            if feasible
            else [math.inf] * len(self.plan.objectives)
        )
        search.tell(record.suggested, values, feasible)

    def _best(self, trials: list[TrialRecord]) -> list[TrialRecord]:
        feasible = [r for r in trials if r.feasible]
        if not feasible:
            return []
        if len(self.plan.objectives) == 1:
            return [
                min(
                    feasible,
                    key=lambda r: (to_minimise(self.plan, r.objectives)[0], r.number),
                )
            ]
        front = pareto_front(feasible, self.plan)
        front.sort(key=lambda r: to_minimise(self.plan, r.objectives))
        return front[:1] if self.plan.section.final == "best" else front

    # -- progress --------------------------------------------------------------------------
    def _progress_start(self, done: int):
        if self.progress is None:
            return None
        return self.progress.add_task(f"study {self.plan.name}", total=self.budget, completed=done)

    def _progress_update(self, task_id, trials: list[TrialRecord]) -> None:
        if self.progress is None or task_id is None:
            return
        best = self._best(trials)
        shown = ""
        if best and len(self.plan.objectives) == 1:
            shown = f" best {best[0].objectives[0]:.4f}"
        self.progress.update(
            task_id,
            completed=len(trials),
            description=f"study {self.plan.name}: {len(trials)}/{self.budget}{shown}",
        )


def summarise_trials(trials: list[TrialRecord]) -> dict[str, Any]:
    """How many trials ended in each status, and their training seconds."""
    statuses = [t.status for t in trials]
    return {
        "trials": len(trials),
        **{status.value: statuses.count(status) for status in TrialStatus},
        "train_seconds": float(np.sum([t.train_seconds for t in trials])) if trials else 0.0,
    }
