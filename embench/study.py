"""The search loop: ask the optimiser, cost the candidate, train it or skip it, tell, journal.

The loop, for one study:

1. **The default configuration** is trained and scored first. Its work (or its training seconds)
   is the reference of the budget, its VRC the reference of rVRC. It is then told to the
   optimiser as its first observation (when its params lie in the search space), and it is a
   candidate for the study's best: a study never reports a best below the default.
2. **Ask.** The optimiser proposes params, or a :class:`~embench.api.Suggestion` (params and a
   :class:`~embench.api.Fidelity`: a subsample rate of the training sequences and/or epochs).
3. **Cost before training.** The embedder's :meth:`~embench.api.Embedder.work` gives the
   training work the candidate implies on its corpus; the cost model (:mod:`embench.cost`)
   predicts its seconds. A candidate over budget (``time_mode = "work"``: its work over
   ``time_budget`` x the default's work at the same fidelity; ``"wall"``: its predicted seconds
   over ``time_budget`` x the default's) is **skipped**: not trained, journaled with its
   predicted cost and told to the optimiser as infeasible. In ``"equal"`` mode its epochs are
   set so that its work matches the default's instead.
4. **Train and score** the others through an executor, on the validation part; journal every
   finished trial at once (flushed and fsynced); tell the optimiser in the order it asked.

Asks and tells follow a fixed schedule: with ``W`` workers, ask ``n`` comes after the tells of
trials ``0 .. n - W``, and tells come in trial-number order, whatever order trials finish in.
So a seeded optimiser sees the same sequence of asks and tells on every run and every executor,
and a resumed study replays its journal through the very same loop: a journaled trial is a
result known at once, a missing one is trained. No finished trial is ever repeated.

``budget`` counts trained trials (ok, infeasible or failed); skipped candidates do not count,
but a study stops after :data:`~embench.cost.SKIP_FACTOR` x budget of them, saying so.
"""

from __future__ import annotations

import inspect
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embench import fingerprint
from embench.api import Fidelity, Suggestion, declares_work
from embench.benchmark import Configuration, StudyPlan
from embench.cost import SKIP_FACTOR, CostModel, corpus_stats, relative_errors
from embench.data.dataset import Dataset
from embench.data.split import Split, subsample_ids
from embench.errors import ConfigError, EmbenchError
from embench.executors import make_executor
from embench.index import IndexChoice
from embench.io import to_jsonable
from embench.journal import FILENAME, Journal
from embench.pareto import non_dominated
from embench.records import Number, StudyHeader, TrialRecord, TrialStatus
from embench.summary import BestTrial, DefaultSummary, StudySummary
from embench.trial import TrialOutcome, train_and_evaluate

EPOCHS = "epochs"
"""The embedder param a fidelity's ``epochs`` and ``time_mode = "equal"`` set."""


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
    subsample: float = 1.0  # the fidelity's share of the training sequences
    fidelity: dict[str, Any] | None = None  # the fidelity as journaled (None: full)
    work: float | None = None
    predicted_seconds: float | None = None
    predicted_cpu_seconds: float | None = None
    limit: float | None = None
    index: IndexChoice | None = None  # the benchmark's [index] (None: the exact search)


# -- subsampled splits (a fidelity's training corpus) ------------------------------------------
_SPLITS: OrderedDict[tuple[int, float, int], tuple[Split, Split]] = OrderedDict()
_SPLITS_KEPT = 6


def fidelity_split(dataset: Dataset, split: Split, rate: float, seed: int) -> Split:
    """``split`` with a seeded ``rate`` share of its training sequences (the validation and
    test parts unchanged): the same sample :func:`embench.data.split.make_split` draws for
    ``subsample = rate``. Cached per process, so every trial at one rate reuses one corpus
    (and the statistics computed from it)."""
    if rate == 1.0:
        return split
    key = (id(split), float(rate), int(seed))
    cached = _SPLITS.get(key)
    if cached is not None and cached[0] is split:
        _SPLITS.move_to_end(key)
        return cached[1]
    ids = subsample_ids(split.train_ids, rate, seed)
    full = dataset.sequences.take(ids)
    sub = Split(
        train_ids=ids,
        validation_ids=split.validation_ids,
        test_ids=split.test_ids,
        train=replace(full.drop_last(), song_ids=split.train.song_ids),
        in_set=full.last_pairs(),
        validation=split.validation,
        test=split.test,
    )
    _SPLITS[key] = (split, sub)
    while len(_SPLITS) > _SPLITS_KEPT:
        _SPLITS.popitem(last=False)
    return sub


# -- standard errors ---------------------------------------------------------------------------
def standard_error(frame: pd.DataFrame, column: str, value: float, strata: str | None) -> float:
    """Standard error of a value that is the mean of the per-query ``column``.

    When the value is instead the mean of the group means of a few groups named by ``strata``
    (next-song's HitRate: the mean of in-set and out-of-set), the stratified standard error
    ``sqrt(sum se_g^2) / groups`` is returned.
    """
    x = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    finite = np.isfinite(x)
    if finite.sum() < 2:
        return math.nan
    if strata is not None and strata in frame:
        groups = frame.loc[finite, [strata]].assign(_x=x[finite]).groupby(strata)["_x"]
        sizes = groups.size()
        if 1 < len(sizes) <= 10 and (sizes >= 2).all():
            means = groups.mean()
            if math.isclose(float(means.mean()), value, rel_tol=1e-9, abs_tol=1e-12):
                variances = groups.var(ddof=1) / sizes
                return float(math.sqrt(float(variances.sum())) / len(sizes))
    return float(x[finite].std(ddof=1) / math.sqrt(finite.sum()))


def standard_errors(outcome: TrialOutcome, metrics: list) -> dict[str, float]:
    """The standard error of every value key that a metric backs with per-query values."""
    if outcome.evaluation is None:
        return {}
    out: dict[str, float] = {}
    for name, metric, _ in metrics:
        result = outcome.evaluation.results.get(name)
        if result is None or result.per_query is None:
            continue
        strata = metric.query_keys[0] if metric.query_keys else None
        for key, declared in metric.values.items():
            column = declared.per_query
            if column is None or column not in result.per_query or key not in result.values:
                continue
            value = float(result.values[key])
            out[key] = standard_error(result.per_query, column, value, strata)
    return out


def execute_trial(state: tuple[Dataset, Split], task: TrialTask) -> TrialRecord:
    """Train and score one trial on the validation part (on its fidelity's subsample); returns
    its record (objectives to be filled in by the study)."""
    dataset, split = state
    split = fidelity_split(dataset, split, task.subsample, task.seed)
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
    errors = standard_errors(outcome, task.metrics)
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
        fidelity=task.fidelity,
        work=task.work,
        predicted_seconds=_rounded(task.predicted_seconds),
        train_cpu_seconds=round(outcome.train_cpu_seconds, 4),
        predicted_cpu_seconds=_rounded(task.predicted_cpu_seconds),
        limit=task.limit,
        standard_errors=to_jsonable(errors) if errors else None,
    )


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


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


def as_suggestion(asked: Any) -> Suggestion:
    """What a search's ``ask`` returned, as a :class:`Suggestion` (plain params: full fidelity)."""
    if isinstance(asked, Suggestion):
        return asked
    if not isinstance(asked, dict):
        raise EmbenchError(
            f"the optimiser's ask() returned {type(asked).__name__}; expected a dict of params "
            "or an embench.Suggestion"
        )
    return Suggestion(dict(asked))


@dataclass
class Candidate:
    """One asked candidate, costed: trained (``task``) or skipped (``record``)."""

    asked: Any
    task: TrialTask | None = None
    record: TrialRecord | None = None


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
            time_mode=plan.section.time_mode,
            **(header_extra or {}),
        )
        self.progress = progress
        self.embedder = plan.embedder.cls()
        self.has_work = declares_work(plan.embedder.cls)
        mode = plan.section.time_mode
        if mode == "equal" and not self.has_work:
            raise ConfigError(
                f"study '{plan.name}': time_mode = 'equal' needs an embedder with a work "
                f"model; '{plan.embedder.name}' declares no work()"
            )
        self.mode = mode if self.has_work else "wall"
        self.notes: list[str] = []
        if mode != self.mode:
            self.notes.append(
                f"embedder '{plan.embedder.name}' declares no work model: the budget is in "
                "wall-clock seconds (time_mode = 'wall'), so feasibility depends on the machine"
            )
        self.cost = CostModel()  # work -> wall-clock training seconds
        self.cpu_cost = CostModel()  # work -> CPU seconds of the training process
        self.default: TrialRecord | None = None

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

    # -- cost ------------------------------------------------------------------------------
    def _params(
        self, suggested: dict[str, Any], fidelity: Fidelity | None = None, epochs: int | None = None
    ):
        """The embedder's params of ``suggested`` at ``fidelity`` (its share of the epochs), or
        with ``epochs`` set."""
        params = self.plan.params(dict(suggested))
        if epochs is None and fidelity is not None and fidelity.epochs != 1.0:
            epochs = fidelity.apply_epochs(int(getattr(params, EPOCHS)))
        if epochs is None:
            return params
        return self.plan.params({**suggested, EPOCHS: epochs})

    def _work(self, params, split: Split) -> float | None:
        if not self.has_work:
            return None
        try:
            work = self.embedder.work(params, corpus_stats(split.train))
        except Exception as exc:
            raise EmbenchError(
                f"embedder '{self.plan.embedder.name}' raised in work(): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if work is None:
            return None
        work = float(work)
        if not (math.isfinite(work) and work >= 0):
            raise EmbenchError(
                f"embedder '{self.plan.embedder.name}': work() returned {work}; expected a "
                "finite number >= 0"
            )
        return work

    def _cost(self, number: int, suggestion: Suggestion, threads: int) -> Candidate:
        """Cost ``suggestion`` before training: a task to run, or a skipped record."""
        fidelity = suggestion.fidelity
        split = fidelity_split(self.dataset, self.split, fidelity.subsample, self.seed)
        params = self._params(suggestion.params, fidelity)
        default = self.default
        assert default is not None
        default_params = self._params({}, fidelity)
        default_work = self._work(default_params, split)
        work = self._work(params, split)
        factor = self.plan.section.time_budget
        limit: float | None = None
        over = False
        time_limit: float | None = None
        if self.mode == "equal" and work is not None and default_work:
            single = self._work(self._params(suggestion.params, epochs=1), split) or 0.0
            epochs = max(1, int(round(default_work / single))) if single > 0 else 1
            params = self._params(suggestion.params, epochs=epochs)
            work = self._work(params, split)
        if self.mode in ("work", "equal") and work is not None and default_work is not None:
            if factor is not None:
                limit = factor * default_work
                over = work > limit * (1 + 1e-9)
        elif factor is not None:  # wall clock
            if fidelity.full:
                reference = default.train_seconds
            else:  # the default at this fidelity, costed at its own rate
                predicted_default = self.cost.predict(default_work)
                reference = (
                    predicted_default
                    if predicted_default is not None
                    else default.train_seconds * fidelity.subsample
                )
            limit = factor * reference
            time_limit = limit
            predicted = self.cost.predict(work)
            over = predicted is not None and predicted > limit
        predicted = self.cost.predict(work)
        name = f"{self.plan.name}-{number}"
        if over:
            unit = "work" if self.mode != "wall" else "predicted seconds"
            cost = work if self.mode != "wall" else predicted
            record = TrialRecord(
                kind="trial",
                number=number,
                status=TrialStatus.SKIPPED,
                error=(
                    f"not trained: {unit} {cost:.4g} over the budget {limit:.4g} "
                    f"({factor:g} x the default's)"
                ),
                params=params.model_dump(mode="json"),
                metrics={},
                train_seconds=0.0,
                eval_seconds={},
                suggested=dict(suggestion.params),
                objectives=[math.nan] * len(self.plan.objectives),
                fidelity=fidelity.to_json(),
                work=work,
                predicted_seconds=_rounded(predicted),
                predicted_cpu_seconds=_rounded(self.cpu_cost.predict(work)),
                limit=limit,
            )
            return Candidate(suggestion, record=record)
        task = TrialTask(
            number,
            name,
            Configuration(name, self.plan.embedder, params),
            self.metrics,
            self.seed,
            threads,
            time_limit,
            self.plan.section.fail_fast,
            dict(suggestion.params),
            subsample=fidelity.subsample,
            fidelity=fidelity.to_json(),
            work=work,
            predicted_seconds=predicted,
            predicted_cpu_seconds=self.cpu_cost.predict(work),
            limit=limit,
            index=self.index,
        )
        return Candidate(suggestion, task=task)

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> StudyResult:
        started = time.perf_counter()
        contents = self.journal.read(repair=True)
        if contents.header is not None:
            self._check_header(contents.header)
        else:
            self.journal.append(self.header)
        self.default = default = contents.default or self._run_default()
        self._fill(default, None)
        journaled = {r.number: r for r in contents.unique_trials()}
        section = self.plan.section
        search = self.plan.optimiser.cls().create(
            self.plan.space,
            len(self.plan.objectives),
            self.plan.optimiser_options,
            seed=self.seed,
            budget=self.budget,
        )
        self._observe(default)
        self._tell_default(search, default)
        if self._exact_budget() and callable(getattr(search, "constrain", None)):
            search.constrain(self.budget_overrun)
        local = section.executor == "local"
        threads = self.threads if local else max(1, self.threads // section.workers)
        workers = 1 if local else section.workers
        executor = None  # started at the first trial to train (a finished study needs none)
        trials: dict[int, TrialRecord] = {}
        asked: dict[int, Any] = {}
        pending: dict[Any, int] = {}  # future -> trial number
        trained = skipped = 0
        number = told = 0
        stop_reason: str | None = None
        task_id = self._progress_start(
            sum(r.status != TrialStatus.SKIPPED for r in journaled.values())
        )
        try:
            while True:
                # ask while fewer than `workers` trials are asked and not yet told
                while number - told < workers and stop_reason is None:
                    if trained >= self.budget:
                        break
                    if skipped >= SKIP_FACTOR * self.budget:
                        stop_reason = (
                            f"stopped after {skipped} candidates predicted over the budget "
                            f"(the limit is {SKIP_FACTOR} x budget = {SKIP_FACTOR * self.budget}) "
                            f"with {trained} of {self.budget} trials trained: the budget "
                            "(time_budget) is too tight for this search space; raise it or "
                            "narrow [study.space]"
                        )
                        break
                    asked_now = search.ask()
                    suggestion = as_suggestion(asked_now)
                    asked[number] = asked_now
                    if number in journaled:
                        record = journaled[number]
                        trials[number] = record
                    else:
                        candidate = self._cost(number, suggestion, threads)
                        if candidate.record is not None:
                            record = candidate.record
                            self.journal.append(record)
                            trials[number] = record
                        else:
                            assert candidate.task is not None
                            if executor is None:
                                executor = make_executor(
                                    section.executor,
                                    (self.dataset, self.split),
                                    section.workers,
                                    threads,
                                    section.scheduler,
                                )
                            pending[executor.submit(execute_trial, candidate.task)] = number
                            record = None
                    if record is not None and record.status == TrialStatus.SKIPPED:
                        skipped += 1
                    else:
                        trained += 1
                    number += 1
                if told == number:
                    break
                while told not in trials:
                    assert executor is not None and pending
                    done, _ = executor.wait_any(list(pending))
                    for future in done:
                        finished = pending.pop(future)
                        record = future.result()
                        self._fill(record, default)
                        self.journal.append(record)
                        trials[finished] = record
                # one tell, then the asks it allows: the schedule never depends on timing
                record = trials[told]
                self._tell(search, asked[told], record)
                if record.status != TrialStatus.SKIPPED:
                    self._observe(record)
                told += 1
                self._progress_update(task_id, trials, default, skipped)
        finally:
            if executor is not None:
                executor.close()
        for n, record in journaled.items():  # journaled beyond a smaller budget: kept
            trials.setdefault(n, record)
        records = [trials[n] for n in sorted(trials)]
        best = self._best(records, default)
        outcome, notes = self._outcome(records, best, default)
        if stop_reason:
            notes.append(stop_reason)
        return StudyResult(
            self.plan.name,
            default,
            records,
            best,
            time.perf_counter() - started,
            self.directory,
            self.journal.set_aside,
            outcome=outcome,
            notes=[*self.notes, *notes],
            time_mode=self.mode,
        )

    def _exact_budget(self) -> bool:
        """Whether the budget decision is known exactly before training (work units)."""
        return self.mode in ("work", "equal") and self.plan.section.time_budget is not None

    def budget_overrun(self, params: dict[str, Any]) -> float:
        """Full-fidelity ``params``' cost over their budget (affordable when <= 1; the
        decision a candidate gets), offered to searches that take it (``Search.constrain``)
        so that they ask affordable configurations."""
        try:
            candidate = self._cost(-2, Suggestion(dict(params)), 1)
        except EmbenchError:
            return math.inf
        record = candidate.record if candidate.record is not None else candidate.task
        assert record is not None
        if record.work is None or not record.limit:
            return 0.0 if candidate.record is None else math.inf
        return record.work / record.limit

    def _observe(self, record: TrialRecord) -> None:
        """Refit the cost models with a trained trial (or the default)."""
        self.cost.observe(record.work, record.train_seconds)
        if record.train_cpu_seconds is not None:
            self.cpu_cost.observe(record.work, record.train_cpu_seconds)

    def _fill(self, record: TrialRecord, default: TrialRecord | None) -> None:
        """Objectives and their standard errors of a trial (or of the default)."""
        if record.status == TrialStatus.OK:
            record.objectives = objective_values(self.plan, record.metrics, default)
            record.objective_se = objective_errors(self.plan, record)
        else:
            record.objectives = [None] * len(self.plan.objectives)

    def _run_default(self) -> TrialRecord:
        """Train and score the default configuration: the budget and rVRC refer to it."""
        params = self.plan.default_params()
        name = f"{self.plan.name}-default"
        task = TrialTask(
            -1,
            name,
            Configuration(name, self.plan.embedder, params),
            self.metrics,
            self.seed,
            self.threads,
            None,
            self.plan.section.fail_fast,
            None,
            work=self._work(params, self.split),
            index=self.index,
        )
        record = execute_trial((self.dataset, self.split), task)
        if record.status != TrialStatus.OK:
            raise EmbenchError(
                f"study '{self.plan.name}': the default configuration failed: {record.error}"
            )
        self._fill(record, None)
        self.journal.append(record)
        return record

    def default_in_space(self) -> dict[str, Any] | None:
        """The default's values of the searched params, when every one lies in the space."""
        values = self.plan.default_params().model_dump(mode="json")
        out: dict[str, Any] = {}
        for name, dim in self.plan.space.items():
            value = values.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            if not dim.low <= value <= dim.high:
                return None
            out[name] = int(value) if dim.integer else float(value)
        return out

    def _tell_default(self, search, default: TrialRecord) -> None:
        """The default is the optimiser's first observation (when it lies in the space)."""
        params = self.default_in_space()
        if params is None:
            return
        self._tell(search, params, default)

    def _tell(self, search, asked: Any, record: TrialRecord) -> None:
        """Tell ``record``'s outcome; an infeasible trial's ``overrun`` (its cost over its
        budget) goes to searches whose ``tell`` takes it."""
        feasible = record.feasible
        values = (
            to_minimise(self.plan, record.objectives)
            if feasible
            else [math.inf] * len(self.plan.objectives)
        )
        told = asked
        if record.kind == "trial":
            recorded = Fidelity.from_json(record.fidelity)
            suggestion = as_suggestion(asked)
            if (suggestion.params, suggestion.fidelity) != (record.suggested, recorded):
                # the optimiser asked differently than when the trial ran: tell what ran
                told = Suggestion(dict(record.suggested or {}), recorded)
                if isinstance(asked, dict) and recorded.full:
                    told = dict(record.suggested or {})
        if not feasible and takes_overrun(search):
            search.tell(told, values, feasible, overrun=overrun(record, self.mode))
        else:
            search.tell(told, values, feasible)

    def _best(self, trials: list[TrialRecord], default: TrialRecord) -> list[TrialRecord]:
        """The study's best: feasible full-fidelity trials and the default (which wins ties,
        so that a study never reports a best below the default)."""
        candidates = [r for r in trials if r.feasible and not r.fidelity]
        if default.feasible:
            candidates.insert(0, self._default_candidate(default))
        if not candidates:
            return []
        if len(self.plan.objectives) == 1:
            return [min(candidates, key=lambda r: to_minimise(self.plan, r.objectives)[0])]
        front = pareto_front(candidates, self.plan)
        front.sort(key=lambda r: to_minimise(self.plan, r.objectives))
        return front[:1] if self.plan.section.final == "best" else front

    @staticmethod
    def _default_candidate(default: TrialRecord) -> TrialRecord:
        """The default's record as a candidate: ``suggested`` empty, i.e. the defaults."""
        return default.model_copy(update={"suggested": {}})

    def _outcome(
        self, trials: list[TrialRecord], best: list[TrialRecord], default: TrialRecord
    ) -> tuple[str, list[str]]:
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

    # -- progress --------------------------------------------------------------------------
    def _progress_start(self, done: int):
        if self.progress is None:
            return None
        for note in self.notes:
            self.progress.console.print(f"[yellow]study {self.plan.name}: {note}[/yellow]")
        return self.progress.add_task(f"study {self.plan.name}", total=self.budget, completed=done)

    def _progress_update(
        self, task_id, trials: dict[int, TrialRecord], default: TrialRecord, skipped: int
    ) -> None:
        if self.progress is None or task_id is None:
            return
        records = list(trials.values())
        trained = sum(r.status != TrialStatus.SKIPPED for r in records)
        best = self._best(records, default)
        shown = ""
        if best and len(self.plan.objectives) == 1:
            shown = f" best {best[0].objectives[0]:.4f}"
        if skipped:
            shown += f", {skipped} skipped"
        self.progress.update(
            task_id,
            completed=trained,
            description=f"study {self.plan.name}: {trained}/{self.budget}{shown}",
        )


def summarise_trials(trials: list[TrialRecord]) -> dict[str, Any]:
    """How many trials ended in each status, and their training seconds."""
    statuses = [t.status for t in trials]
    return {
        "trials": len(trials),
        **{status.value: statuses.count(status) for status in TrialStatus},
        "train_seconds": float(np.sum([t.train_seconds for t in trials])) if trials else 0.0,
    }
