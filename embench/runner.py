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

from embench.api import ContractError, Embedding, TrainingMonitor
from embench.benchmark import Benchmark, Configuration
from embench.data.dataset import Dataset
from embench.data.split import Split, make_split
from embench.errors import EmbenchError, PluginError
from embench.evaluation import EvalContext, Evaluation, evaluate
from embench.provenance import machine, versions
from embench.report import files


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

    def summary(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": self.name,
            "embedder": self.embedder,
            "params": self.params,
            "status": self.status,
            "error": self.error,
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
    except EmbenchError:
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
        outcome = TrialOutcome(
            configuration.name,
            configuration.embedder.name,
            configuration.params.model_dump(mode="json"),
        )
        task = progress.add_task(f"train {configuration.name}", total=1.0)
        monitor = TrainingMonitor(on_progress=lambda f: progress.update(task, completed=f))
        start = time.perf_counter()
        try:
            outcome.embedding = train(
                configuration,
                self.split,
                self.dataset,
                seed=self.benchmark.seed,
                threads=self.threads,
                monitor=monitor,
            )
            outcome.train_seconds = time.perf_counter() - start
            progress.update(task, completed=1.0, description=f"evaluate {configuration.name}")
            ctx = EvalContext(
                dataset=self.dataset,
                split=self.split,
                embedding=outcome.embedding,
                part=part,
                seed=self.benchmark.seed,
                threads=self.threads,
            )
            outcome.evaluation = evaluate(
                ctx,
                self.benchmark.metrics,
                on_metric=lambda m: progress.update(
                    task, description=f"evaluate {configuration.name}: {m}"
                ),
            )
            outcome.eval_seconds = outcome.evaluation.seconds
        except EmbenchError as exc:
            if self.fail_fast:
                raise
            outcome.status, outcome.error = "failed", str(exc)
            outcome.train_seconds = outcome.train_seconds or time.perf_counter() - start
        progress.update(task, description=f"done {configuration.name} ({outcome.status})")
        return outcome

    def run(self) -> dict[str, Any]:
        started = datetime.now(UTC)
        if self.dataset is None:
            self.prepare()
        part = self.benchmark.config.evaluation.part
        outcomes: list[TrialOutcome] = []
        with make_progress(self.console) as progress:
            for configuration in self.benchmark.configurations:
                outcomes.append(self.run_configuration(configuration, progress, part))
        summary = self.write(outcomes, part, started)
        return summary

    def write(self, outcomes: list[TrialOutcome], part: str, started: datetime) -> dict[str, Any]:
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
        for metric, frames in per_metric.items():
            files.write_parquet(
                out / "per_query" / f"{metric}.parquet", pd.concat(frames, ignore_index=True)
            )
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
            "configurations": [o.summary() for o in outcomes],
        }
        files.write_json(out / files.SUMMARY, summary)
        return summary
