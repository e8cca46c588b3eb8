"""What a worker runs for one trial: its task, its fidelity's training corpus, training and
scoring on the validation part, and the standard errors of its values."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from embench.api import Suggestion
from embench.benchmark import Configuration
from embench.data.dataset import Dataset
from embench.data.split import Split, subsample_ids
from embench.errors import EmbenchError
from embench.index import IndexChoice
from embench.io import to_jsonable
from embench.records import TrialRecord
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
