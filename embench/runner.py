"""Runs a benchmark: load data, split, train each configuration, run the studies, write results.

The output directory holds ``embeddings/NAME/``, ``per_query/METRIC.parquet``, ``config.json``,
``studies/NAME/journal.jsonl`` and, written last, ``summary.json`` (a :class:`RunSummary`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from embench.benchmark import Benchmark, Configuration
from embench.config import ScaleSection
from embench.data.dataset import Dataset
from embench.data.split import Split, make_split
from embench.data.stats import dataset_stats
from embench.io import to_jsonable, write_json, write_parquet
from embench.provenance import machine, versions
from embench.report.explorer import Settings, check_settings, write_explorer_after_run
from embench.report.html import write_report_after_run
from embench.report.marks import compute_marks, default_name
from embench.study import Study, StudyResult
from embench.summary import SUMMARY, ConfigurationResult, RunSummary, ScaleResult, StudySummary
from embench.trial import TrialOutcome, export_embedding, train_and_evaluate


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
        self.benchmark = benchmark
        self.output = Path(output)
        self.console = console or Console(stderr=True)
        self.threads = threads or benchmark.config.benchmark.threads
        self.fail_fast = fail_fast
        self._dataset: Dataset | None = None
        self._split: Split | None = None
        self.summary: RunSummary | None = None

    def prepare(self) -> None:
        """Load the dataset and split it (seeded)."""
        config = self.benchmark.config
        with self.console.status(f"loading dataset '{config.dataset.plugin}'"):
            self._dataset = self.benchmark.load_dataset()
        check_settings(self._dataset, Settings.of(config.report))  # [report] songs, before training
        self._split = make_split(
            self._dataset,
            config.split.fractions,
            seed=self.benchmark.seed,
            subsample=config.split.subsample,
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
        )
        progress.update(task, completed=1.0, description=f"{configuration.name}: {outcome.status}")
        return outcome

    def run(self, budget: int | None = None) -> dict[str, Any]:
        """Run the listed configurations, then every study (and [scale]), then write.

        Returns the summary as written (its JSON form); :attr:`summary` holds the typed one.
        """
        started = datetime.now(UTC)
        if self._dataset is None:
            self.prepare()
        part = self.benchmark.config.evaluation.part
        outcomes: list[TrialOutcome] = []
        studies: dict[str, StudySummary] = {}
        scale: list[ScaleResult] = []
        with make_progress(self.console) as progress:
            for configuration in self.benchmark.configurations:
                outcomes.append(self.run_configuration(configuration, progress, part))
            for plan in self.benchmark.studies:
                result = self.run_study(plan, self.split, plan.name, budget, progress)
                studies[plan.name] = result.summary()
                outcomes += self.final_evaluation(plan, result, progress, part)
            if self.benchmark.config.scale:
                scale = self.run_scale(self.benchmark.config.scale, budget, progress, part)
        self.summary = self.write(outcomes, part, started, studies=studies, scale=scale)
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
        write_report_after_run(self.output, self.console)  # report.html + PNG plots
        return self.summary.to_json()

    def run_study(
        self, plan, split: Split, folder: str, budget, progress, extra=None
    ) -> StudyResult:
        study = Study(
            plan,
            self.benchmark.metrics,
            self.dataset,
            split,
            self.output / "studies" / folder,
            seed=self.benchmark.seed,
            threads=self.threads,
            budget=budget,
            header_extra=extra,
            progress=progress,
        )
        result = study.run()
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
        names = section.studies or [p.name for p in self.benchmark.studies]
        rows = []
        for rate in section.rates:
            split = make_split(
                self.dataset, config.split.fractions, seed=self.benchmark.seed, subsample=rate
            )
            for plan in (p for p in self.benchmark.studies if p.name in names):
                folder = f"{plan.name}@{rate:g}"
                result = self.run_study(plan, split, folder, budget, progress, {"subsample": rate})
                finals = self.final_evaluation(plan, result, progress, part, suffix=f"@{rate:g}")
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
        """Write embeddings, per-query values, the resolved config and last the summary."""
        out = self.output
        for outcome in outcomes:
            if outcome.embedding is not None:
                export_embedding(out / "embeddings" / outcome.name, outcome.embedding, self.dataset)
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
        write_json(out / "config.json", self.benchmark.resolved())
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
        )
        summary.to_disk(out / SUMMARY)
        return summary
