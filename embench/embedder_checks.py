"""The checks of one embedder (:func:`embench.checks.check_embedder`): its declaration, a fit
through the harness's :func:`embench.trial.train` on the check data, the embedding, progress,
the seed, the work it declares and the time budget."""

from __future__ import annotations

import math
import time

import numpy as np

from embench import contract
from embench.api import BudgetExceeded, TrainingMonitor, declares_work
from embench.benchmark import Configuration
from embench.check_report import CheckReport, cause_of, check_data, where_raised
from embench.cost import corpus_stats
from embench.data.dataset import Dataset
from embench.data.split import Split
from embench.embedding import ContractError, Embedding
from embench.errors import EmbenchError, PluginError
from embench.registry import Entry
from embench.trial import train


def run_embedder_checks(entry: Entry, params, report: CheckReport, *, seed: int = 0) -> None:
    """Declaration, fit through the harness, the embedding, progress, seed, time budget."""
    try:
        contract.validate_embedder_class(entry.cls)
    except ContractError as exc:
        report.error("declaration", str(exc))
        return
    for key in entry.cls.search_space:
        try:
            contract.validate_dimension(entry.cls, key, params)
        except ContractError as exc:
            report.error("search_space", str(exc))
    dataset, split = check_data(seed)
    configuration = Configuration(f"check-{entry.name}", entry, params)

    def fit(monitor: TrainingMonitor) -> Embedding:
        return train(configuration, split, dataset, seed=seed, threads=1, monitor=monitor)

    before = (split.train.indptr.copy(), split.train.songs.copy())
    progress: list[float] = []
    start = time.perf_counter()
    try:
        embedding = fit(TrainingMonitor(on_progress=progress.append))
    except BudgetExceeded as exc:
        report.error("fit", f"raised BudgetExceeded without a time budget: {exc}")
        return
    except EmbenchError as exc:
        cause = cause_of(exc)
        check = "embedding" if isinstance(cause, ContractError) else "fit"
        message = str(exc) if isinstance(exc, PluginError) else f"{report.who} raised in fit: {exc}"
        report.error(check, f"{message}{where_raised(cause, entry.cls)}")
        return
    seconds = time.perf_counter() - start
    if not (
        np.array_equal(before[0], split.train.indptr)
        and np.array_equal(before[1], split.train.songs)
    ):
        report.error("corpus", "fit modified the training corpus in place")
    train_songs = np.unique(split.train.songs)
    report.notes.append(
        f"fit on dataset '{dataset.name}' ({dataset.n_songs} songs, {len(split.train)} training "
        f"sequences, {len(train_songs)} distinct training songs): {len(embedding)} vectors of "
        f"dimension {embedding.dim} in {seconds:.2f}s"
    )
    check_coverage(embedding, dataset, train_songs, report)
    check_progress(progress, report)
    try:
        again = fit(TrainingMonitor())
    except (EmbenchError, BudgetExceeded) as exc:
        report.error("reproducible", f"the second fit with the same seed failed: {exc}")
    else:
        same = np.array_equal(again.song_index, embedding.song_index) and np.allclose(
            again.vectors, embedding.vectors, rtol=1e-4, atol=1e-5
        )
        if not same:
            report.warning(
                "reproducible",
                f"two fits with seed {seed} (1 thread) gave different embeddings: results "
                "cannot be reproduced from the seed",
            )
    check_work(entry, params, split, report)
    try:
        fit(TrainingMonitor(deadline=lambda: True))
        report.notes.append("time budget: fit ignores monitor.should_stop() (finishes anyway)")
    except BudgetExceeded:
        report.notes.append(
            "time budget: fit stops early (BudgetExceeded) when the budget is spent"
        )
    except EmbenchError as exc:
        report.error("time budget", f"fit under a spent time budget failed: {exc}")


def check_work(entry: Entry, params, split: Split, report: CheckReport) -> None:
    """``work()``, when declared: a finite number >= 0 for the params, deterministic, and in
    proportion to ``epochs`` when the embedder has epochs (``time_mode = "equal"``)."""
    if not declares_work(entry.cls):
        report.notes.append("work: no work model (budgets fall back to wall-clock seconds)")
        return
    stats = corpus_stats(split.train)
    embedder = entry.cls()
    try:
        work = embedder.work(params, stats)
        again = embedder.work(params, stats)
    except Exception as exc:
        report.error("work", f"work() raised {type(exc).__name__}: {exc}")
        return
    if (
        isinstance(work, bool)
        or not isinstance(work, int | float)
        or not (math.isfinite(work) and work >= 0)
    ):
        report.error("work", f"work() returned {work!r}; expected a finite number >= 0")
        return
    if again != work:
        report.error("work", f"work() is not deterministic: {work!r}, then {again!r}")
        return
    epochs = getattr(params, "epochs", None)
    if isinstance(epochs, int) and not isinstance(epochs, bool):
        doubled = embedder.work(params.model_copy(update={"epochs": 2 * epochs}), stats)
        if not math.isclose(float(doubled), 2 * float(work), rel_tol=1e-6):
            report.error(
                "work",
                f"work() does not grow in proportion to epochs ({work!r} for {epochs} epochs, "
                f"{doubled!r} for {2 * epochs})",
            )
            return
    report.notes.append(f"work: {float(work):.4g} units for the default params")


def check_coverage(
    embedding: Embedding, dataset: Dataset, train_songs: np.ndarray, report: CheckReport
) -> None:
    """Coverage of the training songs, vectors of unseen songs, zero vectors (warnings)."""
    if len(embedding) == 0:
        report.error("coverage", "the embedding has no vectors at all")
        return
    ids = dataset.songs["song_id"].to_numpy()
    has = np.zeros(dataset.n_songs, dtype=bool)
    has[embedding.song_index] = True
    missing = train_songs[~has[train_songs]]
    if len(missing):
        report.warning(
            "coverage",
            f"{len(missing)} of {len(train_songs)} training songs have no vector "
            f"(metrics count them as misses): {contract.few(ids[missing])}",
        )
    in_train = np.zeros(dataset.n_songs, dtype=bool)
    in_train[train_songs] = True
    unseen = embedding.song_index[~in_train[embedding.song_index]]
    if len(unseen):
        report.warning(
            "coverage",
            f"{len(unseen)} songs that never occur in the training corpus have vectors "
            f"(held-out data used for training?): {contract.few(ids[unseen])}",
        )
    zero = ~np.any(embedding.vectors != 0, axis=1)
    if zero.any():
        report.warning(
            "vectors",
            f"{int(zero.sum())} zero vectors (no cosine direction; their neighbours are "
            f"arbitrary): {contract.few(ids[embedding.song_index[zero]])}",
        )


def check_progress(progress: list[float], report: CheckReport) -> None:
    """``monitor.progress`` was called, with fractions in 0..1 that never go back (warnings)."""
    if not progress:
        report.warning("progress", "fit never called monitor.progress (no progress bar)")
        return
    bad = [p for p in progress if not (isinstance(p, int | float) and 0 <= p <= 1)]
    if bad:
        report.warning("progress", f"monitor.progress got values outside 0..1: {contract.few(bad)}")
    elif any(b < a for a, b in zip(progress, progress[1:], strict=False)):
        report.warning("progress", "monitor.progress went backwards")
