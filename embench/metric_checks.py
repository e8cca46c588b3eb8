"""The checks of one metric (:func:`embench.checks.check_metric`): its declaration, then
:func:`embench.evaluation.evaluate` on the check data for full, repeated and partial random
embeddings."""

from __future__ import annotations

import math
import time

import numpy as np

from embench import contract
from embench.check_report import CheckReport, cause_of, check_data, where_raised
from embench.context import EvalContext
from embench.embedding import ContractError, Embedding
from embench.errors import EmbenchError
from embench.evaluation import evaluate
from embench.registry import Entry


def random_embedding(songs: np.ndarray, seed: int, dim: int = 16) -> Embedding:
    """Seeded Gaussian vectors for ``songs``."""
    vectors = np.random.default_rng([seed, 11]).standard_normal((len(songs), dim))
    return Embedding(np.asarray(songs, dtype=np.int64), vectors.astype(np.float32))


def run_metric_checks(entry: Entry, options, report: CheckReport, *, seed: int = 0) -> None:
    """Declaration, then compute through ``evaluate`` on full and partial random embeddings."""
    metric_cls = entry.cls
    try:
        contract.validate_metric_class(metric_cls)
    except ContractError as exc:
        report.error("declaration", str(exc))
        return
    dataset, split = check_data(seed)
    missing_labels = sorted(c for c in metric_cls.requires if not dataset.has_labels(c))
    if missing_labels:
        report.warning(
            "requires",
            f"needs song label(s) {missing_labels} that the check dataset lacks "
            "(it has artist and genre): not computed",
        )
        return
    try:
        metric = metric_cls()
    except Exception as exc:
        report.error("declaration", f"{report.who} cannot be created: {type(exc).__name__}: {exc}")
        return
    train_songs = np.unique(split.train.songs)
    rng = np.random.default_rng([seed, 13])
    partial = np.sort(rng.permutation(train_songs)[: max(2, int(0.8 * len(train_songs)))])
    runs = {
        "full": random_embedding(train_songs, seed),
        "again": random_embedding(train_songs, seed),
        "partial": random_embedding(partial, seed),
    }
    results = {}
    for label, embedding in runs.items():
        ctx = EvalContext(
            dataset=dataset, split=split, embedding=embedding, part="validation", seed=seed
        )
        start = time.perf_counter()
        try:
            evaluation = evaluate(ctx, [(entry.name, metric, options)])
        except EmbenchError as exc:
            what = "an embedding that misses songs" if label == "partial" else "a random embedding"
            report.error(
                "compute",
                f"{report.who} failed on {what}: {exc}{where_raised(cause_of(exc), metric_cls)}",
            )
            return
        results[label] = evaluation.results[entry.name]
        if label == "full":
            report.notes.append(
                f"computed on dataset '{dataset.name}' ({dataset.n_songs} songs, validation "
                f"part) for random vectors of {len(train_songs)} training songs in "
                f"{time.perf_counter() - start:.2f}s: {_values(results[label].values)}"
            )
    full = results["full"]
    try:
        contract.validate_metric_result(full, metric_cls, allow_nan=False)
    except ContractError as exc:
        report.error("values", f"on a healthy dataset: {exc}")
    if not full.values:
        report.error("values", "returned no values")
    silent = [k for k in metric_cls.values if k not in full.values]
    if silent:
        report.warning("values", f"declared key(s) {silent} were not reported")
    nan = [k for k, v in results["partial"].values.items() if math.isnan(v)]
    if nan:
        report.error(
            "missing songs",
            f"NaN value(s) {nan} when a fifth of the songs have no vector "
            "(songs without a vector must count as misses)",
        )
    if not _same(full.values, results["again"].values):
        report.warning(
            "reproducible",
            f"two computations with seed {seed} gave different values: "
            f"{_values(full.values)} vs {_values(results['again'].values)}",
        )


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(
        (math.isnan(a[k]) and math.isnan(b[k])) or math.isclose(a[k], b[k], rel_tol=1e-6) for k in a
    )


def _values(values: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in values.items())
