"""Runs a benchmark: load data, split, train each configuration, evaluate, write results."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from embench.api import BudgetExceeded, ContractError, Embedding, TrainingMonitor
from embench.benchmark import Benchmark, Configuration
from embench.data.dataset import Dataset
from embench.data.split import Split, make_split
from embench.errors import EmbenchError, PluginError
from embench.evaluation import EvalContext, Evaluation, evaluate
from embench.provenance import machine, versions
from embench.report import files
from embench.report.html import write_report_after_run
from embench.report.marks import compute_marks, default_name


@dataclass
class TrialOutcome:
    """One trained and evaluated configuration (or its failure)."""

    name: str
    embedder: str
    params: dict[str, Any]
    status: str = "ok"
    error: str | None = None
    train_seconds: float = 0.0
    eval_seconds: dict[str, float] = field(default_factory=dict)
    embedding: Embedding | None = None
    evaluation: Evaluation | None = None
    study: str | None = None

    def summary(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": self.name,
            "embedder": self.embedder,
            "params": self.params,
            "status": self.status,
            "error": self.error,
            "study": self.study,
            "train_seconds": round(self.train_seconds, 3),
            "eval_seconds": {k: round(v, 3) for k, v in self.eval_seconds.items()},
        }
        if self.evaluation is not None:
            row["metrics"] = self.evaluation.values
            row["tables"] = {
                f"{metric}.{name}": table.to_dict(orient="split")
                for metric, result in self.evaluation.results.items()
                for name, table in result.tables.items()
            }
        return row


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


def train(
    configuration: Configuration,
    split: Split,
    dataset: Dataset,
    *,
    seed: int,
    threads: int,
    monitor: TrainingMonitor,
) -> Embedding:
    """Fit one configuration; contract violations and plugin exceptions name the plugin."""
    origin = configuration.embedder.origin
    who = f"embedder '{configuration.embedder.name}' (plugin {origin.plugin}, {origin.package})"
    try:
        embedding = configuration.instance.fit(
            split.train, configuration.params, seed=seed, threads=threads, monitor=monitor
        )
    except (EmbenchError, BudgetExceeded):
        raise
    except ContractError as exc:
        raise PluginError(f"{who} returned an invalid embedding: {exc}") from exc
    except Exception as exc:
        raise PluginError(f"{who} raised in fit: {type(exc).__name__}: {exc}") from exc
    if not isinstance(embedding, Embedding):
        raise PluginError(f"{who} returned {type(embedding).__name__}, expected embench.Embedding")
    try:
        embedding.rows_of(dataset.n_songs)
    except ContractError as exc:
        raise PluginError(f"{who} returned an invalid embedding: {exc}") from exc
    return embedding


def export_embedding(directory: Path, embedding: Embedding, dataset: Dataset) -> None:
    """``vectors.npy`` (float32, one row per song) + ``songs.parquet`` naming each row's song."""
    songs = dataset.songs.iloc[embedding.song_index]
    table = pd.DataFrame(
        {
            "row": np.arange(len(embedding), dtype=np.int64),
            "song_id": songs["song_id"].to_numpy(),
            "artist": songs["artist"].to_numpy(),
            "genre": songs["genre"].to_numpy(),
        }
    )
    files.write_npy(directory / "vectors.npy", embedding.vectors)
    files.write_parquet(directory / "songs.parquet", table)


def train_and_evaluate(
    configuration: Configuration,
    metrics: list,
    dataset: Dataset,
    split: Split,
    *,
    part: str,
    seed: int,
    threads: int,
    fail_fast: bool = False,
    time_limit: float | None = None,
    on_progress=None,
    on_stage=None,
) -> TrialOutcome:
    """Train one configuration and score it on ``part``; failures are recorded, not raised
    (unless ``fail_fast``). A training slower than ``time_limit`` seconds is infeasible."""
    outcome = TrialOutcome(
        configuration.name,
        configuration.embedder.name,
        configuration.params.model_dump(mode="json"),
    )
    start = time.perf_counter()

    def over_budget() -> bool:
        return time_limit is not None and time.perf_counter() - start > time_limit

    monitor = TrainingMonitor(on_progress=on_progress, deadline=over_budget)
    try:
        if on_stage:
            on_stage("train")
        try:
            outcome.embedding = train(
                configuration, split, dataset, seed=seed, threads=threads, monitor=monitor
            )
        except BudgetExceeded as exc:
            outcome.status, outcome.error = "infeasible", f"over the time budget ({exc})"
        outcome.train_seconds = time.perf_counter() - start
        if outcome.status == "ok" and over_budget():
            outcome.status = "infeasible"
            outcome.error = f"training took {outcome.train_seconds:.1f}s > {time_limit:.1f}s"
        if outcome.status == "ok":
            if on_stage:
                on_stage("evaluate")
            ctx = EvalContext(
                dataset=dataset,
                split=split,
                embedding=outcome.embedding,
                part=part,
                seed=seed,
                threads=threads,
            )
            outcome.evaluation = evaluate(ctx, metrics)
            outcome.eval_seconds = outcome.evaluation.seconds
    except EmbenchError as exc:
        if fail_fast:
            raise
        outcome.status, outcome.error = "failed", str(exc)
        outcome.train_seconds = outcome.train_seconds or time.perf_counter() - start
    return outcome


def study_summary(result) -> dict[str, Any]:
    """What summary.json records of a study: counts, times, the default and the best."""
    from embench.study import summarise_trials

    counts = summarise_trials(result.trials)
    spent = (
        counts["train_seconds"]
        + sum(sum(t["eval_seconds"].values()) for t in result.trials)
        + result.default["train_seconds"]
        + sum(result.default["eval_seconds"].values())
    )
    return {
        **counts,
        "wall_seconds_this_run": round(result.seconds, 3),
        "optimisation_seconds": round(spent, 3),
        "journal": str(result.directory / "journal.jsonl"),
        "default": {k: result.default[k] for k in ("params", "metrics", "train_seconds")},
        "best": [
            {k: r[k] for k in ("number", "params", "objectives", "metrics")} for r in result.best
        ],
    }


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
        self.dataset: Dataset | None = None
        self.split: Split | None = None

    def prepare(self) -> None:
        """Load the dataset and split it (seeded)."""
        config = self.benchmark.config
        with self.console.status(f"loading dataset '{config.dataset.plugin}'"):
            self.dataset = self.benchmark.load_dataset()
        self.split = make_split(
            self.dataset,
            config.split.fractions,
            seed=self.benchmark.seed,
            subsample=config.split.subsample,
        )

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
        """Run the listed configurations, then every study (and [scale]), then write."""
        started = datetime.now(UTC)
        if self.dataset is None:
            self.prepare()
        part = self.benchmark.config.evaluation.part
        outcomes: list[TrialOutcome] = []
        studies: dict[str, Any] = {}
        scale: list[dict[str, Any]] = []
        with make_progress(self.console) as progress:
            for configuration in self.benchmark.configurations:
                outcomes.append(self.run_configuration(configuration, progress, part))
            for plan in self.benchmark.studies:
                result = self.run_study(plan, self.split, plan.name, budget, progress)
                studies[plan.name] = study_summary(result)
                outcomes += self.final_evaluation(plan, result, progress, part)
            if self.benchmark.config.scale:
                scale = self.run_scale(budget, progress, part)
        summary = self.write(outcomes, part, started, studies=studies, scale=scale)
        write_report_after_run(self.output, self.console)  # report.html + PNG plots
        return summary

    def run_study(self, plan, split: Split, folder: str, budget, progress, extra=None):
        from embench.study import Study

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

    def final_evaluation(self, plan, result, progress, part: str, suffix: str = ""):
        """Retrain each chosen configuration on the full training split; score it on ``part``."""
        if plan.section.final == "none":
            return []
        outcomes = []
        for i, record in enumerate(result.best):
            name = plan.name + suffix + (f"-p{i + 1}" if len(result.best) > 1 else "")
            configuration = Configuration(name, plan.embedder, plan.params(record["suggested"]))
            outcome = self.run_configuration(configuration, progress, part)
            outcome.study = plan.name
            outcomes.append(outcome)
        return outcomes

    def run_scale(self, budget, progress, part: str) -> list[dict[str, Any]]:
        """The studies on subsamples of the training sequences (the paper's Table 6)."""
        config = self.benchmark.config
        names = config.scale.studies or [p.name for p in self.benchmark.studies]
        rows = []
        for rate in config.scale.rates:
            split = make_split(
                self.dataset, config.split.fractions, seed=self.benchmark.seed, subsample=rate
            )
            for plan in (p for p in self.benchmark.studies if p.name in names):
                folder = f"{plan.name}@{rate:g}"
                result = self.run_study(plan, split, folder, budget, progress, {"subsample": rate})
                finals = self.final_evaluation(plan, result, progress, part, suffix=f"@{rate:g}")
                summary = study_summary(result)
                for outcome in finals:
                    rows.append(
                        {
                            "rate": rate,
                            "study": plan.name,
                            "configuration": outcome.name,
                            "optimisation_seconds": summary["optimisation_seconds"],
                            "status": outcome.status,
                            "params": outcome.params,
                            "metrics": outcome.evaluation.values if outcome.evaluation else {},
                        }
                    )
        return rows

    def write(
        self,
        outcomes: list[TrialOutcome],
        part: str,
        started: datetime,
        studies: dict[str, Any] | None = None,
        scale: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Write embeddings, per-query values, the resolved config and last the summary."""
        from embench.data.stats import dataset_stats

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
            files.write_parquet(out / "per_query" / f"{metric}.parquet", table)
        rows = [o.summary() for o in outcomes]
        single = [
            o.name
            for o in outcomes
            for plan in self.benchmark.studies
            if o.study == plan.name and plan.section.objective is not None
        ]
        marks = compute_marks(rows, tables, self.benchmark.metrics, single)
        for row in rows:
            row["marks"] = marks.get(row["name"], {})
        resolved = self.benchmark.resolved()
        files.write_json(out / "config.json", resolved)
        plugin_packages = sorted(
            {e.origin.package for r in self.benchmark.plugins.registries().values() for e in r}
        )
        summary = {
            "format_version": files.FORMAT_VERSION,
            "benchmark": self.benchmark.config.benchmark.name,
            "source": self.benchmark.source,
            "seed": self.benchmark.seed,
            "threads": self.threads,
            "evaluated_on": part,
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": versions(plugin_packages),
            "machine": machine(),
            "dataset": {
                "plugin": self.benchmark.dataset.name,
                "stats": dataset_stats(self.dataset),
                "split": {
                    "train": len(self.split.train_ids),
                    "validation": len(self.split.validation_ids),
                    "test": len(self.split.test_ids),
                },
            },
            "compared_with": default_name(rows),
            "configurations": rows,
            "studies": studies or {},
            "scale": scale or [],
        }
        files.write_json(out / files.SUMMARY, summary)
        return summary
