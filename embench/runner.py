"""Runs a benchmark: load data, split, train each configuration, run the studies, write results.

The output directory holds ``embeddings/NAME/``, ``per_query/METRIC.parquet``, ``config.json``,
``studies/NAME/journal.jsonl``, ``explorer/``, ``report.html`` and, written last,
``summary.json`` (a :class:`RunSummary`).

A run happens in two steps, so that a folder with ``summary.json`` is always one consistent run:

1. :meth:`Runner.preflight`, which writes nothing: every check that can fail on user input
   (output path, dataset, labels the metrics need, empty split parts), the lock on the output
   directory (:mod:`embench.lock`: one writer at a time), and the run's fingerprint
   (:mod:`embench.fingerprint`) compared with what the folder already holds (its
   ``summary.json``, an interrupted run's ``running.json``, each study's journal header);
2. the run itself: ``running.json`` marks the folder as in progress and the old
   ``summary.json`` is removed *before* any other file is rewritten; the new ``summary.json``
   is written last, after ``report.html`` and its plots, and only then is the marker removed.
   A run killed in between leaves no ``summary.json`` beside its new files; running the same
   command again resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from embench import fingerprint
from embench.benchmark import Benchmark, Configuration, StudyPlan
from embench.config import THREADS_MAX, ScaleSection, scale_label
from embench.data.dataset import Dataset
from embench.data.split import Split, make_split
from embench.data.stats import dataset_stats
from embench.errors import ConfigError, DataError
from embench.io import to_jsonable, write_json, write_parquet
from embench.journal import FILENAME as JOURNAL
from embench.lock import LOCK_FILE, OutputLock
from embench.output import (
    CONFIG,
    EMBEDDING_FILES,
    RUNNING,
    check_output,
    check_previous_run,
    mark_finished,
    mark_in_progress,
    remove_stale_embeddings,
)
from embench.provenance import machine, versions
from embench.report.explorer import Settings, check_settings, write_explorer_after_run
from embench.report.html import REPORT, write_report_after_run
from embench.report.marks import compute_marks, default_name
from embench.study import Study, StudyResult
from embench.summary import SUMMARY, ConfigurationResult, RunSummary, ScaleResult, StudySummary
from embench.trial import TrialOutcome, export_embedding, train_and_evaluate


@dataclass
class StudyJob:
    """A study to run on a given training subsample, in ``studies/FOLDER``."""

    plan: StudyPlan
    folder: str
    subsample: float | None  # a [scale] rate; None: the [split] subsample
    extra: dict[str, Any] | None = None  # what its journal header adds (fingerprint, rate)
    header: dict[str, Any] | None = None  # its journal header (JSON form)


def check_positive(value: Any, what: str, maximum: int | None = None) -> None:
    """``value`` is None or an integer >= 1 (and <= ``maximum``); else a ConfigError."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be an integer >= 1, found {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{what} must be at most {maximum}, found {value}")


def make_progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


class Runner:
    """Drives one benchmark run and writes its output directory."""

    def __init__(
        self,
        benchmark: Benchmark,
        output: Path,
        *,
        console: Console | None = None,
        threads: int | None = None,
        fail_fast: bool = False,
    ) -> None:
        check_positive(threads, "--threads", THREADS_MAX)
        self.benchmark = benchmark
        self.output = Path(output)
        self.console = console or Console(stderr=True)
        self.threads = threads or benchmark.config.benchmark.threads
        self.fail_fast = fail_fast
        self._dataset: Dataset | None = None
        self._split: Split | None = None
        self.summary: RunSummary | None = None
        self.lock = OutputLock(self.output)
        self.fingerprint: dict[str, Any] | None = None
        self.jobs: list[StudyJob] = []

    def prepare(self) -> None:
        """Load the dataset and split it (seeded); check what the metrics and the studies
        need of them (before any training)."""
        config = self.benchmark.config
        with self.console.status(f"loading dataset '{config.dataset.plugin}'"):
            self._dataset = self.benchmark.load_dataset()
        check_settings(self._dataset, Settings.of(config.report))  # [report] songs, before training
        self.check_labels(self._dataset)
        self._split = make_split(
            self._dataset,
            config.split.fractions,
            seed=self.benchmark.seed,
            subsample=config.split.subsample,
        )
        self.check_parts(self._split)

    def check_labels(self, dataset: Dataset) -> None:
        """Every song-table column a metric ``requires`` has labels in ``dataset``."""
        for name, metric, _ in self.benchmark.metrics:
            for column in sorted(metric.requires):
                if not dataset.has_labels(column):
                    raise DataError(
                        f"{self.benchmark.source}: [metrics.{name}] needs a '{column}' label on "
                        f"songs, but dataset '{dataset.name}' (plugin "
                        f"'{self.benchmark.dataset.name}') has none; remove [metrics.{name}] "
                        f"or give the dataset {column} labels"
                    )

    def check_parts(self, split: Split) -> None:
        """The held-out parts the run scores on are not empty once the fractions are rounded."""
        config = self.benchmark.config
        total = len(split.train_ids) + len(split.validation_ids) + len(split.test_ids)
        needed = {config.evaluation.part: "[evaluation] part scores the configurations on it"}
        if config.study:
            needed.setdefault("validation", "studies score their trials on it")
        for part, why in needed.items():
            if len(split.held_out(part)) == 0:
                fraction = getattr(config.split, part)
                raise ConfigError(
                    f"{self.benchmark.source}: [split] {part} = {fraction:g} of {total} "
                    f"sequences rounds to none, but {why}; give a larger {part} fraction"
                )

    @property
    def dataset(self) -> Dataset:
        """The benchmark's dataset (loaded by :meth:`prepare`)."""
        if self._dataset is None:
            raise RuntimeError("Runner.prepare() loads the dataset; call it first")
        return self._dataset

    @property
    def split(self) -> Split:
        """The benchmark's split of the dataset (made by :meth:`prepare`)."""
        if self._split is None:
            raise RuntimeError("Runner.prepare() splits the dataset; call it first")
        return self._split

    def run_configuration(
        self, configuration: Configuration, progress: Progress, part: str
    ) -> TrialOutcome:
        task = progress.add_task(f"train {configuration.name}", total=1.0)
        outcome = train_and_evaluate(
            configuration,
            self.benchmark.metrics,
            self.dataset,
            self.split,
            part=part,
            seed=self.benchmark.seed,
            threads=self.threads,
            fail_fast=self.fail_fast,
            on_progress=lambda f: progress.update(task, completed=f),
            on_stage=lambda stage: progress.update(
                task, description=f"{stage} {configuration.name}"
            ),
            index=self.benchmark.index,
        )
        progress.update(task, completed=1.0, description=f"{configuration.name}: {outcome.status}")
        return outcome

    def run(self, budget: int | None = None) -> dict[str, Any]:
        """Run the listed configurations, then every study (and [scale]), then write.

        Returns the summary as written (its JSON form); :attr:`summary` holds the typed one.
        Everything a user can get wrong is checked first (:meth:`preflight`), before anything
        is written or trained.
        """
        check_positive(budget, "--budget")
        started = datetime.now(UTC)
        self.preflight(budget)
        try:
            self.mark_in_progress()
            return self.execute(budget, started)
        finally:
            self.lock.release()

    # -- before anything is written --------------------------------------------------------
    def preflight(self, budget: int | None = None) -> None:
        """Check the output path, take the output lock, load and check the data, compute the
        fingerprint and compare it with what the folder holds. Writes nothing (the lock file
        and folders it created are removed again on failure); holds the lock on success."""
        check_output(self.output, self.layout())
        self.lock.acquire()
        try:
            if self._dataset is None:
                self.prepare()
            digest = fingerprint.dataset_digest(self.dataset)
            self.jobs = self.study_jobs()
            studies = []
            for job in self.jobs:
                rate = job.subsample
                job.extra = {
                    "fingerprint": fingerprint.study_fingerprint(
                        self.benchmark,
                        digest,
                        rate if rate is not None else self.benchmark.config.split.subsample,
                    )
                }
                if rate is not None:
                    job.extra["subsample"] = rate
                study = self.make_study(job, self.split, budget, None)
                job.header = study.header.to_json()
                studies.append(study)
            headers = {j.plan.name: j.header for j in self.jobs if j.subsample is None and j.header}
            self.fingerprint = fingerprint.run_fingerprint(self.benchmark, digest, headers)
            self.check_previous_run()
            for study in studies:
                study.check_journal()
        except BaseException:
            self.lock.release(remove_created=True)
            raise

    def layout(self) -> tuple[list[str], list[str]]:
        """The folders and files of the output directory this run writes (relative paths)."""
        folders = ["embeddings", "per_query", "studies", "explorer"]
        files = [SUMMARY, RUNNING, CONFIG, REPORT, LOCK_FILE]
        for configuration in self.benchmark.configurations:
            folders.append(f"embeddings/{configuration.name}")
            files += [f"embeddings/{configuration.name}/{n}" for n in EMBEDDING_FILES]
        files += [f"per_query/{name}.parquet" for name, _, _ in self.benchmark.metrics]
        for job in self.study_jobs():
            folders.append(f"studies/{job.folder}")
            files.append(f"studies/{job.folder}/{JOURNAL}")
        return folders, files

    def study_jobs(self) -> list[StudyJob]:
        """Every study this run runs: each ``[[study]]``, then each ``[scale]`` rate's."""
        jobs = [StudyJob(plan, plan.name, None) for plan in self.benchmark.studies]
        section = self.benchmark.config.scale
        if section is not None:
            names = section.studies or [p.name for p in self.benchmark.studies]
            for rate in section.rates:
                for plan in (p for p in self.benchmark.studies if p.name in names):
                    jobs.append(StudyJob(plan, f"{plan.name}@{scale_label(rate)}", rate))
        return jobs

    def check_previous_run(self) -> None:
        """The folder's earlier run has this run's fingerprint (see :func:`check_previous_run`)."""
        assert self.fingerprint is not None
        check_previous_run(self.output, self.fingerprint)

    def mark_in_progress(self) -> None:
        """Before anything is rewritten: the marker in, the old ``summary.json`` out."""
        mark_in_progress(self.output, self.fingerprint)

    # -- the run ---------------------------------------------------------------------------
    def execute(self, budget: int | None, started: datetime) -> dict[str, Any]:
        """Train, search, write every file, and ``summary.json`` last."""
        part = self.benchmark.config.evaluation.part
        outcomes: list[TrialOutcome] = []
        studies: dict[str, StudySummary] = {}
        scale: list[ScaleResult] = []
        with make_progress(self.console) as progress:
            for configuration in self.benchmark.configurations:
                outcomes.append(self.run_configuration(configuration, progress, part))
            for job in self.jobs:
                if job.subsample is None:
                    result = self.run_study(job, self.split, budget, progress)
                    studies[job.plan.name] = result.summary()
                    outcomes += self.final_evaluation(job.plan, result, progress, part)
            if self.benchmark.config.scale:
                scale = self.run_scale(self.benchmark.config.scale, budget, progress, part)
        summary = self.write(outcomes, part, started, studies=studies, scale=scale)
        write_explorer_after_run(  # explorer/: the report's neighbour explorer and song map
            self.output,
            {o.name: o.embedding for o in outcomes if o.embedding is not None},
            self.dataset,
            self.split,
            self.benchmark,
            part=part,
            threads=self.threads,
            console=self.console,
        )
        # report.html + PNG plots, from the summary in memory: summary.json is not there yet
        write_report_after_run(self.output, self.console, summary=summary)
        summary.to_disk(self.output / SUMMARY)  # last: the folder is one finished run again
        mark_finished(self.output)
        self.summary = summary
        return summary.to_json()

    def make_study(
        self, job: StudyJob, split: Split, budget: int | None, progress: Progress | None
    ) -> Study:
        return Study(
            job.plan,
            self.benchmark.metrics,
            self.dataset,
            split,
            self.output / "studies" / job.folder,
            seed=self.benchmark.seed,
            threads=self.threads,
            budget=budget,
            header_extra=job.extra,
            progress=progress,
            index=self.benchmark.index,
        )

    def run_study(
        self, job: StudyJob, split: Split, budget: int | None, progress: Progress
    ) -> StudyResult:
        """Run a study :meth:`preflight` checked, on ``split`` (a [scale] rate's subsample)."""
        plan = job.plan
        result = self.make_study(job, split, budget, progress).run()
        if result.set_aside:
            self.console.print(
                f"[yellow]study {plan.name}: a corrupt last journal line (an interrupted write) "
                f"was set aside in {result.set_aside}[/yellow]"
            )
        return result

    def final_evaluation(
        self, plan, result: StudyResult, progress, part: str, suffix: str = ""
    ) -> list[TrialOutcome]:
        """Retrain each chosen configuration on the full training split; score it on ``part``."""
        if plan.section.final == "none":
            return []
        outcomes = []
        for i, record in enumerate(result.best):
            name = plan.name + suffix + (f"-p{i + 1}" if len(result.best) > 1 else "")
            configuration = Configuration(name, plan.embedder, plan.params(record.suggested))
            outcome = self.run_configuration(configuration, progress, part)
            outcome.study = plan.name
            outcomes.append(outcome)
        return outcomes

    def run_scale(self, section: ScaleSection, budget, progress, part: str) -> list[ScaleResult]:
        """The studies on subsamples of the training sequences (the paper's Table 6)."""
        config = self.benchmark.config
        rows = []
        for rate in section.rates:
            split = make_split(
                self.dataset, config.split.fractions, seed=self.benchmark.seed, subsample=rate
            )
            for job in (j for j in self.jobs if j.subsample == rate):
                plan = job.plan
                result = self.run_study(job, split, budget, progress)
                suffix = f"@{scale_label(rate)}"
                finals = self.final_evaluation(plan, result, progress, part, suffix=suffix)
                seconds = result.summary().optimisation_seconds
                for outcome in finals:
                    rows.append(
                        ScaleResult(
                            rate=rate,
                            study=plan.name,
                            configuration=outcome.name,
                            optimisation_seconds=seconds,
                            status=outcome.status,
                            params=outcome.params,
                            metrics=to_jsonable(outcome.metrics),
                        )
                    )
        return rows

    def write(
        self,
        outcomes: list[TrialOutcome],
        part: str,
        started: datetime,
        studies: dict[str, StudySummary] | None = None,
        scale: list[ScaleResult] | None = None,
    ) -> RunSummary:
        """Write embeddings, per-query values and the resolved config; return the summary
        (written by :meth:`execute`, last of all)."""
        out = self.output
        for outcome in outcomes:
            if outcome.embedding is not None:
                export_embedding(out / "embeddings" / outcome.name, outcome.embedding, self.dataset)
        remove_stale_embeddings(out / "embeddings", {o.name for o in outcomes})
        per_metric: dict[str, list[pd.DataFrame]] = {}
        for outcome in outcomes:
            if outcome.evaluation is None:
                continue
            for metric, result in outcome.evaluation.results.items():
                if result.per_query is not None:
                    frame = result.per_query.copy()
                    frame.insert(0, "configuration", outcome.name)
                    per_metric.setdefault(metric, []).append(frame)
        tables = {m: pd.concat(frames, ignore_index=True) for m, frames in per_metric.items()}
        for metric, table in tables.items():
            write_parquet(out / "per_query" / f"{metric}.parquet", table)
        rows: list[ConfigurationResult] = [o.result() for o in outcomes]
        plain = [row.to_json() for row in rows]
        single = [
            o.name
            for o in outcomes
            for plan in self.benchmark.studies
            if o.study == plan.name and plan.section.objective is not None
        ]
        marks = compute_marks(plain, tables, self.benchmark.metrics, single)
        for row in rows:
            row.marks = marks.get(row.name, {})
        write_json(out / CONFIG, self.benchmark.resolved())
        plugin_packages = sorted(
            {e.origin.package for r in self.benchmark.plugins.registries().values() for e in r}
        )
        summary = RunSummary(
            benchmark=self.benchmark.config.benchmark.name,
            source=self.benchmark.source,
            seed=self.benchmark.seed,
            threads=self.threads,
            evaluated_on=part,
            started=started.isoformat(timespec="seconds"),
            finished=datetime.now(UTC).isoformat(timespec="seconds"),
            versions=versions(plugin_packages),
            machine=machine(),
            dataset={
                "plugin": self.benchmark.dataset.name,
                "stats": dataset_stats(self.dataset),
                "split": {
                    "train": len(self.split.train_ids),
                    "validation": len(self.split.validation_ids),
                    "test": len(self.split.test_ids),
                },
            },
            compared_with=default_name(plain),
            configurations=rows,
            studies=studies or {},
            scale=scale or [],
            fingerprint=self.fingerprint,
        )
        return summary
