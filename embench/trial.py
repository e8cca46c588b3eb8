"""One configuration, trained and scored: what a listed configuration and every study trial run.

:func:`train` fits an embedder and checks what it returns; :func:`train_and_evaluate` adds the
time budget and the metrics, and records a failure instead of raising it (unless ``fail_fast``);
:func:`export_embedding` writes a trained embedding beside the results.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embench import contract
from embench.api import BudgetExceeded, Embedding, TrainingMonitor
from embench.benchmark import Configuration
from embench.data.dataset import Dataset
from embench.data.split import Split
from embench.errors import EmbenchError, PluginError
from embench.evaluation import EvalContext, Evaluation, evaluate
from embench.index import IndexChoice
from embench.io import to_jsonable, write_npy, write_parquet
from embench.records import TrialStatus
from embench.summary import ConfigurationResult


@dataclass
class TrialOutcome:
    """One trained and evaluated configuration (or its failure)."""

    name: str
    embedder: str
    params: dict[str, Any]
    status: TrialStatus = TrialStatus.OK
    error: str | None = None
    train_seconds: float = 0.0
    train_cpu_seconds: float = 0.0  # CPU time of this process (all threads) while training
    eval_seconds: dict[str, float] = field(default_factory=dict)
    embedding: Embedding | None = None
    evaluation: Evaluation | None = None
    study: str | None = None

    @property
    def metrics(self) -> dict[str, float]:
        """The metric values (empty when the configuration was not scored)."""
        return self.evaluation.values if self.evaluation is not None else {}

    def result(self) -> ConfigurationResult:
        """Its row of the results table (``summary.json``'s ``configurations``)."""
        metrics = tables = intervals = index = None
        if self.evaluation is not None:
            metrics = to_jsonable(self.evaluation.values)
            tables = {
                f"{metric}.{name}": table.to_dict(orient="split")
                for metric, result in self.evaluation.results.items()
                for name, table in result.tables.items()
            }
            intervals = {k: i.to_json() for k, i in self.evaluation.intervals.items()} or None
            if self.evaluation.index is not None:
                index = self.evaluation.index.to_json()
        return ConfigurationResult(
            name=self.name,
            embedder=self.embedder,
            params=self.params,
            status=self.status,
            error=self.error,
            study=self.study,
            train_seconds=round(self.train_seconds, 3),
            eval_seconds={k: round(v, 3) for k, v in self.eval_seconds.items()},
            metrics=metrics,
            tables=tables,
            intervals=intervals,
            index=index,
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
    entry = configuration.embedder
    who = contract.describe("embedder", entry.name, entry.origin)
    try:
        embedding = configuration.instance.fit(
            split.train, configuration.params, seed=seed, threads=threads, monitor=monitor
        )
    except (EmbenchError, BudgetExceeded):
        raise
    except Exception as exc:
        raise PluginError(f"{who} raised in fit: {type(exc).__name__}: {exc}") from exc
    return contract.accept_embedding(embedding, dataset.n_songs, who)


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
    write_npy(directory / "vectors.npy", embedding.vectors)
    write_parquet(directory / "songs.parquet", table)


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
    on_progress: Callable[[float], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    index: IndexChoice | None = None,
) -> TrialOutcome:
    """Train one configuration and score it on ``part``; failures are recorded, not raised
    (unless ``fail_fast``). A training slower than ``time_limit`` seconds is infeasible.
    ``index``: the benchmark's ``[index]`` neighbour search (None: the exact kernel)."""
    outcome = TrialOutcome(
        configuration.name,
        configuration.embedder.name,
        configuration.params.model_dump(mode="json"),
    )
    start = time.perf_counter()
    cpu_start = time.process_time()

    def over_budget() -> bool:
        return time_limit is not None and time.perf_counter() - start > time_limit

    monitor = TrainingMonitor(on_progress=on_progress, deadline=over_budget)
    try:
        if on_stage:
            on_stage("train")
        embedding = None
        try:
            embedding = train(
                configuration, split, dataset, seed=seed, threads=threads, monitor=monitor
            )
        except BudgetExceeded as exc:
            outcome.status, outcome.error = TrialStatus.INFEASIBLE, f"over the time budget ({exc})"
        outcome.train_seconds = time.perf_counter() - start
        outcome.train_cpu_seconds = time.process_time() - cpu_start
        outcome.embedding = embedding
        if outcome.status == TrialStatus.OK and over_budget():
            outcome.status = TrialStatus.INFEASIBLE
            outcome.error = f"training took {outcome.train_seconds:.1f}s > {time_limit:.1f}s"
        if outcome.status == TrialStatus.OK and embedding is not None:
            if on_stage:
                on_stage("evaluate")
            ctx = EvalContext(
                dataset=dataset,
                split=split,
                embedding=embedding,
                part=part,
                seed=seed,
                threads=threads,
            )
            outcome.evaluation = evaluate(ctx, metrics, index=index)
            outcome.eval_seconds = outcome.evaluation.seconds
    except EmbenchError as exc:
        if fail_fast:
            raise
        outcome.status, outcome.error = TrialStatus.FAILED, str(exc)
        outcome.train_seconds = outcome.train_seconds or time.perf_counter() - start
    return outcome
