"""Checks of one embedder or metric on a tiny dataset, for plugin authors' tests and the CLI.

In the manner of scikit-learn's ``check_estimator``: ``check_embedder(MyEmbedder)`` in a test
raises :class:`CheckFailed` on a contract break; ``check_metric("my-metric", {"k": 10})``
checks a registered metric with options and returns the :class:`CheckReport` (warnings too).

An embedder is fitted on :func:`~embench.data.tiny.make_tiny_dataset` (split 80/10/10) through
the harness's own :func:`embench.trial.train`, twice with the same seed and once with a time
budget that is already spent. A metric is computed through :func:`embench.evaluation.evaluate`
on the same dataset (with a seeded play log) for a random embedding of every training song,
again with the same seed, and for a random embedding missing a fifth of the songs. The rules
are :mod:`embench.contract`'s. Each finding is a :class:`Problem`: an ``error`` breaks the
contract, a ``warning`` is worth a look. ``embench check-plugin NAME`` prints the same report.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from embench import contract
from embench.api import BudgetExceeded, Embedder, Metric, TrainingMonitor, declares_work
from embench.benchmark import Configuration
from embench.config import format_validation_error
from embench.context import EvalContext
from embench.cost import corpus_stats
from embench.data.dataset import Dataset
from embench.data.split import Split, make_split
from embench.data.tiny import make_tiny_dataset
from embench.embedding import ContractError, Embedding
from embench.errors import ConfigError, EmbenchError, PluginError, did_you_mean
from embench.evaluation import evaluate
from embench.plugins import Plugins, get_plugin_manager
from embench.registry import Entry, Origin, Registry
from embench.trial import train

__all__ = [
    "CheckFailed",
    "CheckReport",
    "Problem",
    "check_embedder",
    "check_metric",
    "check_plugin",
]

KINDS = ("embedder", "metric")
CHECK_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass
class Problem:
    """One finding: ``check`` names what was checked, ``message`` what is wrong."""

    severity: str  # "error" | "warning"
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity} [{self.check}] {self.message}"


@dataclass
class CheckReport:
    """What a check found about one plugin: problems and notes (what was run, how long)."""

    kind: str
    name: str
    plugin: str
    package: str
    version: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def who(self) -> str:
        return contract.describe(
            self.kind, self.name, Origin(self.plugin, self.package, self.version)
        )

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings do not count)."""
        return not self.errors

    def error(self, check: str, message: str) -> None:
        self.problems.append(Problem("error", check, message))

    def warning(self, check: str, message: str) -> None:
        self.problems.append(Problem("warning", check, message))

    def __str__(self) -> str:
        count = len(self.errors)
        verdict = f"{count} contract violation{'s' if count != 1 else ''}" if count else "ok"
        return "\n".join([f"{self.who}: {verdict}", *map(str, self.problems), *self.notes])


class CheckFailed(PluginError):
    """Raised by :func:`check_embedder` / :func:`check_metric` when a plugin breaks the contract;
    ``report`` is the full :class:`CheckReport`."""

    def __init__(self, report: CheckReport) -> None:
        super().__init__(str(report))
        self.report = report


# -- public helpers ----------------------------------------------------------------------------
def check_embedder(
    embedder: type[Embedder] | str,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    seed: int = 0,
    plugins: Plugins | None = None,
    raise_on_error: bool = True,
) -> CheckReport:
    """Check an embedder class (or the registered embedder of that name) on the tiny dataset.

    ``options`` (a mapping validated by its ``Options``, or an ``Options`` instance) default to
    the defaults. Raises :class:`CheckFailed` when the contract is broken (unless
    ``raise_on_error`` is false), :class:`~embench.errors.PluginError` for an unknown name or a
    class the registry refuses, :class:`~embench.errors.ConfigError` for invalid options.
    """
    return _check(_entry(embedder, "embedder", plugins), "embedder", options, seed, raise_on_error)


def check_metric(
    metric: type[Metric] | str,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    seed: int = 0,
    plugins: Plugins | None = None,
    raise_on_error: bool = True,
) -> CheckReport:
    """Check a metric class (or the registered metric of that name) on the tiny dataset; the
    arguments and errors are :func:`check_embedder`'s."""
    return _check(_entry(metric, "metric", plugins), "metric", options, seed, raise_on_error)


def check_plugin(
    name: str,
    kind: str | None = None,
    options: Mapping[str, Any] | None = None,
    *,
    plugins: Plugins | None = None,
    seed: int = 0,
) -> CheckReport:
    """Check the registered embedder or metric ``name`` (``kind`` when ambiguous); the report
    is returned whatever it holds (``embench check-plugin``)."""
    plugins = plugins or get_plugin_manager()
    entry, kind = find_entry(plugins, name, kind)
    return _check(entry, kind, options, seed, raise_on_error=False)


def _check(entry: Entry, kind: str, options, seed: int, raise_on_error: bool) -> CheckReport:
    params = plugin_options(entry, options, kind)
    report = CheckReport(
        kind, entry.name, entry.origin.plugin, entry.origin.package, entry.origin.version
    )
    if kind == "embedder":
        run_embedder_checks(entry, params, report, seed=seed)
    else:
        run_metric_checks(entry, params, report, seed=seed)
    if raise_on_error and not report.ok:
        raise CheckFailed(report)
    return report


# -- plugin lookup and options -----------------------------------------------------------------
def _entry(
    plugin: type[Embedder] | type[Metric] | str, kind: str, plugins: Plugins | None
) -> Entry:
    """The registry entry of a registered name, or of a class validated as the registry would."""
    if isinstance(plugin, str):
        return find_entry(plugins or get_plugin_manager(), plugin, kind)[0]
    if plugins is not None:
        for entry in plugins.embedders if kind == "embedder" else plugins.metrics:
            if entry.cls is plugin:
                return entry
    module = getattr(plugin, "__module__", "?")
    registry: Registry = Registry(kind, Embedder if kind == "embedder" else Metric)
    registry.add(plugin, Origin(module, module, "local"))  # the registry's own validation
    return registry.get(plugin.name)


def find_entry(plugins: Plugins, name: str, kind: str | None) -> tuple[Entry, str]:
    """The registry entry of ``name`` (of ``kind`` when given) and its kind."""
    registries = {"embedder": plugins.embedders, "metric": plugins.metrics}
    if kind is not None:
        other = "metric" if kind == "embedder" else "embedder"
        if name not in registries[kind] and name in registries[other]:
            raise PluginError(f"'{name}' is not {_a(kind)} but {_a(other)}")
        return registries[kind].get(name), kind  # unknown: PluginError with "did you mean"
    found = [k for k in KINDS if name in registries[k]]
    if len(found) == 2:
        raise PluginError(f"'{name}' is both an embedder and a metric: pass --kind")
    if found:
        return registries[found[0]].get(name), found[0]
    for other, registry in (("optimiser", plugins.optimisers), ("dataset", plugins.datasets)):
        if name in registry:
            raise PluginError(f"'{name}' is {_a(other)}; check-plugin checks embedders and metrics")
    registered = [e.name for k in KINDS for e in registries[k] if e.origin.plugin == name]
    if registered:
        raise PluginError(
            f"'{name}' is a plugin (entry point) that registers {', '.join(registered)}: "
            "check one of those"
        )
    names = plugins.embedders.names() + plugins.metrics.names()
    raise PluginError(f"unknown embedder or metric '{name}'{did_you_mean(name, names)}")


def _a(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def plugin_options(entry: Entry, values: Mapping[str, Any] | BaseModel | None, kind: str):
    """``values`` validated by the plugin's Options model (ConfigError naming what to set)."""
    model = entry.cls.Options
    if isinstance(values, model):
        return values
    values = dict(values.model_dump() if isinstance(values, BaseModel) else values or {})
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        required = [
            name
            for name, info in model.model_fields.items()
            if info.is_required() and name not in values
        ]
        hint = (
            f"\n{kind} '{entry.name}' has required options ({', '.join(required)}): "
            "give them with --set KEY=VALUE"
            if required
            else ""
        )
        message = format_validation_error(exc, f"{kind} '{entry.name}'", model)
        message = message.replace(": invalid benchmark (", ": invalid options (", 1)
        raise ConfigError(message + hint) from None


def where_raised(exc: BaseException, cls: type) -> str:
    """`` at FILE:LINE`` of the innermost traceback frame in the plugin's source file."""
    try:
        source = Path(inspect.getsourcefile(cls) or "").resolve()
    except TypeError:
        return ""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == source
    ]
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _cause(exc: BaseException) -> BaseException:
    return exc.__cause__ if isinstance(exc, PluginError) and exc.__cause__ else exc


# -- the check data ----------------------------------------------------------------------------
def check_data(seed: int) -> tuple[Dataset, Split]:
    """The tiny dataset (with a play log) and its 80/10/10 split; the training corpus carries
    the dataset's song ids, as the harness passes it to ``fit``."""
    dataset = make_tiny_dataset(seed=seed, play_log=True)
    split = make_split(dataset, CHECK_FRACTIONS, seed=seed)
    if split.train.song_ids is None:
        corpus = dataclasses.replace(split.train, song_ids=dataset.songs["song_id"].to_numpy())
        split = dataclasses.replace(split, train=corpus)
    return dataset, split


# -- embedders ---------------------------------------------------------------------------------
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
        cause = _cause(exc)
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


# -- metrics -----------------------------------------------------------------------------------
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
                f"{report.who} failed on {what}: {exc}{where_raised(_cause(exc), metric_cls)}",
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
