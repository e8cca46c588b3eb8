"""What a study makes of its trial records: objectives (as read and as minimised), their
standard errors, the Pareto front, budget overruns, cost and status summaries, and the
:class:`StudyResult`."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embench.benchmark import StudyPlan
from embench.cost import relative_errors
from embench.io import to_jsonable
from embench.journal import FILENAME
from embench.pareto import non_dominated
from embench.records import Number, TrialRecord, TrialStatus
from embench.summary import BestTrial, DefaultSummary, StudySummary


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
    outcome: str = "improved"  # improved | default | no_feasible_trial
    notes: list[str] = field(default_factory=list)
    time_mode: str = "work"  # the mode in force ("wall" when the embedder has no work model)

    def summary(self) -> StudySummary:
        """What ``summary.json`` records of the study: counts, times, the default, the best,
        the outcome, and the predicted and measured cost of every trained trial."""
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
                objectives=self.default.objectives,
                objective_se=self.default.objective_se,
                work=self.default.work,
            ),
            best=[
                BestTrial(
                    number=r.number,
                    params=r.params,
                    objectives=r.objectives,
                    metrics=r.metrics,
                    objective_se=r.objective_se,
                )
                for r in self.best
            ],
            outcome=self.outcome,
            notes=self.notes,
            time_mode=self.time_mode,
            cost=cost_summary(self.default, self.trials),
        )


def cost_summary(default: TrialRecord, trials: list[TrialRecord]) -> dict[str, Any]:
    """Predicted vs measured training cost of every trained trial, and the model's error."""
    trained = [t for t in trials if t.status != TrialStatus.SKIPPED]
    rows = [
        {
            "number": t.number,
            "fidelity": t.fidelity,
            "work": t.work,
            "predicted_seconds": t.predicted_seconds,
            "train_seconds": t.train_seconds,
            "predicted_cpu_seconds": t.predicted_cpu_seconds,
            "train_cpu_seconds": t.train_cpu_seconds,
        }
        for t in trained
    ]
    judged = [t for t in trained if t.status == TrialStatus.OK]  # infeasible ones were stopped
    errors = relative_errors(
        [t.predicted_seconds for t in judged], [t.train_seconds for t in judged]
    )
    cpu_errors = relative_errors(
        [t.predicted_cpu_seconds for t in judged], [t.train_cpu_seconds or 0.0 for t in judged]
    )
    work = [t.work for t in [default, *trials] if t.status != TrialStatus.SKIPPED]
    return to_jsonable(
        {
            "default_work": default.work,
            "total_work": float(sum(w for w in work if w is not None))
            if all(w is not None for w in work)
            else None,
            "median_error": float(np.median(errors)) if len(errors) else None,
            "median_error_cpu": float(np.median(cpu_errors)) if len(cpu_errors) else None,
            "predicted": len(errors),
            "trials": rows,
        }
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


def objective_errors(plan: StudyPlan, record: TrialRecord) -> list[Number | None]:
    """The standard error of each objective, from the per-query values of its metric.

    A scalarised objective's is ``alpha`` x HitRate's: VRC has no per-query values and is
    counted as exact.
    """
    errors = record.standard_errors or {}

    def get(key: str) -> float:
        value = errors.get(key)
        return math.nan if value is None else float(value)

    if plan.section.scalarised:
        s = plan.section.scalarised
        return [s.alpha * get(s.hitrate)]
    return [get(o.key) for o in plan.objectives]


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


def takes_overrun(search: Any) -> bool:
    """Whether ``search.tell`` accepts the optional ``overrun`` keyword."""
    try:
        return "overrun" in inspect.signature(search.tell).parameters
    except (TypeError, ValueError):
        return False


def overrun(record: TrialRecord, mode: str) -> float | None:
    """How far over its budget an infeasible trial was: its cost over its limit (work in work
    units; in wall-clock mode predicted, or measured, seconds); None when unknown (a failure)."""
    if record.limit is None or record.limit <= 0:
        return None
    if record.status == TrialStatus.SKIPPED:
        cost = record.predicted_seconds if mode == "wall" else record.work
    elif record.status == TrialStatus.INFEASIBLE:
        cost = max(record.train_seconds, record.predicted_seconds or 0.0)
    else:
        return None
    return float(cost / record.limit) if cost else None


def summarise_trials(trials: list[TrialRecord]) -> dict[str, Any]:
    """How many trials ended in each status, and their training seconds."""
    statuses = [t.status for t in trials]
    return {
        "trials": len(trials),
        **{status.value: statuses.count(status) for status in TrialStatus},
        "train_seconds": float(np.sum([t.train_seconds for t in trials])) if trials else 0.0,
    }


def best_records(
    plan: StudyPlan, trials: list[TrialRecord], default: TrialRecord
) -> list[TrialRecord]:
    """The study's best: feasible full-fidelity trials and the default (which wins ties,
    so that a study never reports a best below the default)."""
    candidates = [r for r in trials if r.feasible and not r.fidelity]
    if default.feasible:  # as a candidate: ``suggested`` empty, i.e. the defaults
        candidates.insert(0, default.model_copy(update={"suggested": {}}))
    if not candidates:
        return []
    if len(plan.objectives) == 1:
        return [min(candidates, key=lambda r: to_minimise(plan, r.objectives)[0])]
    front = pareto_front(candidates, plan)
    front.sort(key=lambda r: to_minimise(plan, r.objectives))
    return front[:1] if plan.section.final == "best" else front


def study_outcome(trials: list[TrialRecord], best: list[TrialRecord]) -> tuple[str, list[str]]:
    """How the study ended (``improved``, ``default`` or ``no_feasible_trial``) and the notes
    the table and the report show about it."""
    feasible = [r for r in trials if r.feasible]
    counts = summarise_trials(trials)
    if not feasible:
        return "no_feasible_trial", [
            f"no feasible trial ({counts['ok']} ok, {counts['infeasible']} infeasible, "
            f"{counts['failed']} failed, {counts['skipped']} skipped): the study's result is "
            "the default configuration"
        ]
    if best and all(r.kind == "default" for r in best):
        return "default", [
            "the search found nothing better than the default configuration on validation: "
            "the study's result is the default"
        ]
    return "improved", []
