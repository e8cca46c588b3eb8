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

from embench.benchmark import Configuration, StudyPlan
from embench.data.dataset import Dataset
from embench.data.split import Split
from embench.errors import ConfigError, EmbenchError
from embench.executors import make_executor
from embench.journal import Journal
from embench.runner import train_and_evaluate


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


def execute_trial(state: tuple[Dataset, Split], task: TrialTask) -> dict[str, Any]:
    """Train and score one trial on the validation part; returns its journal record."""
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
    )
    return {
        "kind": "trial",
        "number": task.number,
        "status": outcome.status,
        "error": outcome.error,
        "params": outcome.params,
        "metrics": outcome.evaluation.values if outcome.evaluation else {},
        "train_seconds": round(outcome.train_seconds, 4),
        "eval_seconds": {k: round(v, 4) for k, v in outcome.eval_seconds.items()},
    }


@dataclass
class StudyResult:
    name: str
    default: dict[str, Any]
    trials: list[dict[str, Any]]
    best: list[dict[str, Any]]
    seconds: float
    directory: Path
    set_aside: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def objective_values(plan: StudyPlan, metrics: dict[str, float], default: dict) -> list[float]:
    """The study's objectives for ``metrics`` (as the user reads them, not yet negated)."""
    section = plan.section
    if section.scalarised:
        s = section.scalarised
        vrc_default = default["metrics"].get(s.vrc)
        if not vrc_default:
            return [math.nan]
        relative = (metrics.get(s.vrc, math.nan) - vrc_default) / vrc_default
        return [s.alpha * metrics.get(s.hitrate, math.nan) + (1 - s.alpha) * relative]
    return [metrics.get(o.key, math.nan) for o in plan.objectives]


def to_minimise(plan: StudyPlan, values: list[float]) -> list[float]:
    return [-v if o.direction == "max" else v for o, v in zip(plan.objectives, values, strict=True)]


def is_feasible(record: dict) -> bool:
    return record["status"] == "ok" and all(
        v is not None and math.isfinite(v) for v in record["objectives"]
    )


def pareto_front(records: list[dict], plan: StudyPlan) -> list[dict]:
    """Feasible records that no other feasible record dominates (minimisation space)."""
    points = [(r, to_minimise(plan, r["objectives"])) for r in records if is_feasible(r)]
    front = []
    for record, p in points:
        dominated = any(
            all(a <= b for a, b in zip(q, p, strict=True))
            and any(a < b for a, b in zip(q, p, strict=True))
            for _, q in points
        )
        if not dominated:
            front.append(record)
    return front


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
    ) -> None:
        self.plan = plan
        self.metrics = metrics
        self.dataset = dataset
        self.split = split
        self.directory = Path(directory)
        self.seed = plan.section.seed if plan.section.seed is not None else seed
        self.threads = threads
        self.budget = budget or plan.section.budget
        self.journal = Journal(self.directory / "journal.jsonl")
        self.header = {
            "kind": "header",
            "study": plan.name,
            "optimiser": plan.optimiser.name,
            "optimiser_options": plan.optimiser_options.model_dump(mode="json"),
            "embedder": plan.embedder.name,
            "fixed": plan.fixed,
            "space": {k: vars(v) for k, v in plan.space.items()},
            "objectives": [vars(o) for o in plan.objectives],
            "scalarised": plan.section.scalarised.model_dump() if plan.section.scalarised else None,
            "seed": self.seed,
            "time_budget": plan.section.time_budget,
            **(header_extra or {}),
        }
        self.progress = progress

    # -- journal ---------------------------------------------------------------------------
    def _check_header(self, recorded: dict) -> None:
        changed = [k for k in self.header if k != "kind" and recorded.get(k) != self.header[k]]
        if changed:
            raise ConfigError(
                f"study '{self.plan.name}' in {self.directory} was started with a different "
                f"{', '.join(changed)}; refusing to resume it. Use another --output directory "
                f"or delete {self.journal.path} to start over."
            )

    def _configuration(self, name: str, suggested: dict[str, Any]) -> Configuration:
        return Configuration(name, self.plan.embedder, self.plan.params(suggested))

    def _task(self, number: int, name: str, suggested: dict, time_limit, threads: int):
        return TrialTask(
            number,
            name,
            self._configuration(name, suggested),
            self.metrics,
            self.seed,
            threads,
            time_limit,
            self.plan.section.fail_fast,
        )

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> StudyResult:
        started = time.perf_counter()
        records = self.journal.read()
        if records:
            if records[0].get("kind") != "header":
                raise EmbenchError(f"{self.journal.path}: the first line is not a study header")
            self._check_header(records[0])
        else:
            self.journal.append(self.header)
        default = next((r for r in records if r.get("kind") == "default"), None)
        if default is None:
            default = self._run_default()
        trials = [r for r in records if r.get("kind") == "trial"]
        section = self.plan.section
        time_limit = section.time_budget * default["train_seconds"] if section.time_budget else None
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
            asked: dict = {}
            number = len(trials)
            while len(trials) < self.budget:
                while len(pending) < executor.workers and number < self.budget:
                    suggested = search.ask()
                    task = self._task(
                        number,
                        f"{self.plan.name}-{number}",
                        suggested,
                        time_limit,
                        executor_threads if section.executor != "local" else self.threads,
                    )
                    future = executor.submit(execute_trial, task)
                    asked[id(future)] = suggested
                    pending.append(future)
                    number += 1
                done, pending = executor.wait_any(pending)
                for future in done:
                    record = future.result()
                    record["suggested"] = asked.pop(id(future))
                    record["objectives"] = (
                        objective_values(self.plan, record["metrics"], default)
                        if record["status"] == "ok"
                        else [math.nan] * len(self.plan.objectives)
                    )
                    self.journal.append(record)
                    trials.append(record)
                    self._tell(search, record)
                    self._progress_update(task_id, trials)
        finally:
            executor.close()
        trials.sort(key=lambda r: r["number"])
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

    def _run_default(self) -> dict[str, Any]:
        """Train and score the default configuration: the time budget and rVRC refer to it."""
        task = self._task(-1, f"{self.plan.name}-default", {}, None, self.threads)
        record = execute_trial((self.dataset, self.split), task)
        if record["status"] != "ok":
            raise EmbenchError(
                f"study '{self.plan.name}': the default configuration failed: {record['error']}"
            )
        record["kind"] = "default"
        record["objectives"] = objective_values(self.plan, record["metrics"], record)
        self.journal.append(record)
        return record

    def _tell(self, search, record: dict) -> None:
        feasible = is_feasible(record)
        values = (
            to_minimise(self.plan, record["objectives"])
            if feasible
            else [math.inf] * len(self.plan.objectives)
        )
        search.tell(record["suggested"], values, feasible)

    def _best(self, trials: list[dict]) -> list[dict]:
        feasible = [r for r in trials if is_feasible(r)]
        if not feasible:
            return []
        if len(self.plan.objectives) == 1:
            return [
                min(
                    feasible,
                    key=lambda r: (to_minimise(self.plan, r["objectives"])[0], r["number"]),
                )
            ]
        front = pareto_front(feasible, self.plan)
        front.sort(key=lambda r: to_minimise(self.plan, r["objectives"]))
        return front[:1] if self.plan.section.final == "best" else front

    # -- progress --------------------------------------------------------------------------
    def _progress_start(self, done: int):
        if self.progress is None:
            return None
        return self.progress.add_task(f"study {self.plan.name}", total=self.budget, completed=done)

    def _progress_update(self, task_id, trials: list[dict]) -> None:
        if self.progress is None or task_id is None:
            return
        best = self._best(trials)
        shown = ""
        if best and len(self.plan.objectives) == 1:
            shown = f" best {best[0]['objectives'][0]:.4f}"
        self.progress.update(
            task_id,
            completed=len(trials),
            description=f"study {self.plan.name}: {len(trials)}/{self.budget}{shown}",
        )


def summarise_trials(trials: list[dict]) -> dict[str, Any]:
    statuses = [t["status"] for t in trials]
    return {
        "trials": len(trials),
        "ok": statuses.count("ok"),
        "infeasible": statuses.count("infeasible"),
        "failed": statuses.count("failed"),
        "train_seconds": float(np.sum([t["train_seconds"] for t in trials])) if trials else 0.0,
    }
