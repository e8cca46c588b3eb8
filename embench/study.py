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

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embench import fingerprint
from embench.api import Fidelity, Suggestion, declares_work
from embench.benchmark import Configuration, StudyPlan
from embench.cost import SKIP_FACTOR, CostModel, corpus_stats
from embench.data.dataset import Dataset
from embench.data.split import Split
from embench.errors import ConfigError, EmbenchError
from embench.executors import make_executor
from embench.index import IndexChoice
from embench.journal import FILENAME, Journal
from embench.objectives import StudyResult as StudyResult
from embench.objectives import best_records, study_outcome
from embench.objectives import cost_summary as cost_summary
from embench.objectives import objective_errors as objective_errors
from embench.objectives import objective_values as objective_values
from embench.objectives import overrun as overrun
from embench.objectives import pareto_front as pareto_front
from embench.objectives import summarise_trials as summarise_trials
from embench.objectives import takes_overrun as takes_overrun
from embench.objectives import to_minimise as to_minimise
from embench.records import StudyHeader, TrialRecord, TrialStatus
from embench.study_trial import EPOCHS as EPOCHS
from embench.study_trial import TrialTask as TrialTask
from embench.study_trial import _rounded, as_suggestion
from embench.study_trial import execute_trial as execute_trial
from embench.study_trial import fidelity_split as fidelity_split
from embench.study_trial import standard_error as standard_error
from embench.study_trial import standard_errors as standard_errors


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
        best = best_records(self.plan, records, default)
        outcome, notes = study_outcome(records, best)
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
        best = best_records(self.plan, records, default)
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
