"""``embench check-plugin NAME``: run one plugin on a tiny dataset and report contract breaks.

An embedder is fitted on :func:`embench.testing.make_tiny_dataset` (split 80/10/10) through the
same code path as ``embench run`` (:func:`embench.runner.train`), twice with the same seed and
once with a time budget that is already spent. A metric is computed on the same dataset (with a
seeded play log added) for a random embedding of every training song, again with the same seed,
and for a random embedding that misses a fifth of the songs. Each finding is a
:class:`Problem`: an ``error`` breaks the contract (exit 1), a ``warning`` is worth a look (exit 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import math
import time
import tomllib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embench.errors import ConfigError, EmbenchError, PluginError, did_you_mean

KINDS = ("embedder", "metric")
CHECK_FRACTIONS = (0.8, 0.1, 0.1)
SHOWN = 5


@dataclass
class Problem:
    """One finding: ``check`` names what was checked, ``message`` what is wrong."""

    severity: str  # "error" | "warning"
    check: str
    message: str


@dataclass
class CheckReport:
    """What ``check_plugin`` found about one plugin."""

    kind: str
    name: str
    plugin: str
    package: str
    version: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def who(self) -> str:
        return f"{self.kind} '{self.name}' (plugin {self.plugin}, {self.package} {self.version})"

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, check: str, message: str) -> None:
        self.problems.append(Problem("error", check, message))

    def warning(self, check: str, message: str) -> None:
        self.problems.append(Problem("warning", check, message))


# -- the check dataset ---------------------------------------------------------------------
def check_dataset(seed: int = 0):
    """The tiny dataset with a seeded play log (so play-log metrics run too)."""
    from embench.testing import make_tiny_dataset

    dataset = make_tiny_dataset(seed=seed)
    rng = np.random.default_rng([seed, 7])
    n = dataset.n_songs
    pairs = 400
    organic = rng.integers(1, 400, size=pairs)
    dataset.play_log = pd.DataFrame(
        {
            "seed_song": rng.integers(0, n, size=pairs),
            "recommended_song": rng.integers(0, n, size=pairs),
            "organic_plays": organic,
            "successful_plays": rng.binomial(organic, rng.uniform(0.05, 0.6, size=pairs)),
        }
    )
    return dataset


def training_corpus(split, dataset):
    """The training corpus as the harness passes it to ``fit``: with the dataset's song ids."""
    corpus = split.train
    if corpus.song_ids is None:
        corpus = dataclasses.replace(corpus, song_ids=dataset.songs["song_id"].to_numpy())
    return corpus


# -- options -------------------------------------------------------------------------------
def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``["k=10", "name=x"]`` -> ``{"k": 10, "name": "x"}`` (values read as TOML, else text)."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            values[key] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            values[key] = raw
    return values


def plugin_options(entry, values: dict[str, Any], kind: str):
    """Validate ``values`` with the plugin's Options model (ConfigError naming what to set)."""
    from pydantic import ValidationError

    from embench.config import format_validation_error

    try:
        return entry.cls.Options.model_validate(values)
    except ValidationError as exc:
        required = [
            name
            for name, info in entry.cls.Options.model_fields.items()
            if info.is_required() and name not in values
        ]
        hint = (
            f"\n{kind} '{entry.name}' has required options ({', '.join(required)}): "
            "give them with --set KEY=VALUE"
            if required
            else ""
        )
        message = format_validation_error(exc, f"{kind} '{entry.name}'", entry.cls.Options)
        message = message.replace(": invalid benchmark (", ": invalid options (", 1)
        raise ConfigError(message + hint) from None


# -- plugin lookup -------------------------------------------------------------------------
def find_entry(plugins, name: str, kind: str | None):
    """The registry entry of ``name`` (of ``kind`` when given) and its kind."""
    if kind is not None:
        registry = plugins.embedders if kind == "embedder" else plugins.metrics
        other = plugins.metrics if kind == "embedder" else plugins.embedders
        if name not in registry and name in other:
            raise PluginError(
                f"'{name}' is not a{'n' if kind == 'embedder' else ''} {kind} "
                f"but a{'n' if kind == 'metric' else ''} "
                f"{'metric' if kind == 'embedder' else 'embedder'}"
            )
        return registry.get(name), kind  # unknown: PluginError with "did you mean"
    found = [
        k for k in KINDS if name in (plugins.embedders if k == "embedder" else plugins.metrics)
    ]
    if len(found) == 2:
        raise PluginError(f"'{name}' is both an embedder and a metric: pass --kind")
    if found:
        registry = plugins.embedders if found[0] == "embedder" else plugins.metrics
        return registry.get(name), found[0]
    for other, registry in (("optimiser", plugins.optimisers), ("dataset", plugins.datasets)):
        if name in registry:
            raise PluginError(
                f"'{name}' is a{'n' if other[0] in 'aeiou' else ''} {other}; "
                "check-plugin checks embedders and metrics"
            )
    registered = [
        e.name
        for k in KINDS
        for e in (plugins.embedders if k == "embedder" else plugins.metrics)
        if e.origin.plugin == name
    ]
    if registered:
        raise PluginError(
            f"'{name}' is a plugin (entry point) that registers {', '.join(registered)}: "
            "check one of those"
        )
    names = plugins.embedders.names() + plugins.metrics.names()
    raise PluginError(f"unknown embedder or metric '{name}'{did_you_mean(name, names)}")


def check_plugin(
    name: str,
    kind: str | None = None,
    options: dict[str, Any] | None = None,
    *,
    plugins=None,
    seed: int = 0,
) -> CheckReport:
    """Run the checks of one embedder or metric; unknown names raise :class:`PluginError`."""
    from embench.plugins import get_plugin_manager

    plugins = plugins or get_plugin_manager()
    entry, kind = find_entry(plugins, name, kind)
    params = plugin_options(entry, options or {}, kind)
    report = CheckReport(
        kind, entry.name, entry.origin.plugin, entry.origin.package, entry.origin.version
    )
    if kind == "embedder":
        check_embedder(entry, params, report, seed=seed)
    else:
        check_metric(entry, params, report, seed=seed)
    return report


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


def _few(values) -> str:
    values = list(values)
    shown = ", ".join(str(v) for v in values[:SHOWN])
    return shown + (f" and {len(values) - SHOWN} more" if len(values) > SHOWN else "")


# -- embedders -----------------------------------------------------------------------------
def check_search_space(entry, params, report: CheckReport) -> None:
    """Every searchable dimension is an option, and its bounds validate as that option."""
    from pydantic import ValidationError

    from embench.api import Dimension

    space = entry.cls.search_space
    if not isinstance(space, dict):
        report.error("search_space", f"search_space must be a dict, found {type(space).__name__}")
        return
    fields = list(entry.cls.Options.model_fields)
    for key, dimension in space.items():
        if key not in fields:
            report.error(
                "search_space",
                f"search_space names '{key}', which is not an option{did_you_mean(key, fields)}",
            )
            continue
        if not isinstance(dimension, Dimension):
            report.error(
                "search_space",
                f"search_space['{key}'] must be an embench.Dimension, "
                f"found {type(dimension).__name__}",
            )
            continue
        middle = dimension.clip((dimension.low + dimension.high) / 2)
        for label, value in (
            ("low", dimension.clip(dimension.low)),
            ("middle", middle),
            ("high", dimension.clip(dimension.high)),
        ):
            try:
                entry.cls.Options.model_validate({**params.model_dump(), key: value})
            except ValidationError as exc:
                message = exc.errors()[0]["msg"]
                report.error(
                    "search_space",
                    f"search_space['{key}'] {label} value {value!r} is rejected by the Options "
                    f"model: {message}",
                )
                break


def _fit(entry, params, split, dataset, *, seed, monitor):
    from embench.benchmark import Configuration
    from embench.runner import train

    configuration = Configuration(f"check-{entry.name}", entry, params)
    corpus_split = dataclasses.replace(split, train=training_corpus(split, dataset))
    return train(configuration, corpus_split, dataset, seed=seed, threads=1, monitor=monitor)


def _fit_problem(exc: BaseException, entry, report: CheckReport) -> None:
    """Turn what ``train`` raised into a problem naming the plugin and, if found, the line."""
    from embench.api import BudgetExceeded, ContractError

    if isinstance(exc, BudgetExceeded):
        report.error("fit", f"raised BudgetExceeded without a time budget: {exc}")
        return
    cause = exc.__cause__ if isinstance(exc, PluginError) and exc.__cause__ else exc
    location = where_raised(cause, entry.cls)
    if isinstance(cause, ContractError) or (isinstance(exc, PluginError) and cause is exc):
        report.error("embedding", f"{exc}{location}")
    elif isinstance(cause, EmbenchError):
        report.error("fit", f"{report.who} raised in fit: {cause}{location}")
    else:
        report.error("fit", f"{exc}{location}")


def check_embedder(entry, params, report: CheckReport, *, seed: int = 0) -> None:
    """Fit on the tiny dataset and check the embedding; problems go into ``report``."""
    from embench.api import BudgetExceeded, TrainingMonitor
    from embench.data.split import make_split

    check_search_space(entry, params, report)
    dataset = check_dataset(seed)
    split = make_split(dataset, CHECK_FRACTIONS, seed=seed)
    before = (split.train.indptr.copy(), split.train.songs.copy())
    progress: list[float] = []
    start = time.perf_counter()
    try:
        embedding = _fit(
            entry,
            params,
            split,
            dataset,
            seed=seed,
            monitor=TrainingMonitor(on_progress=progress.append),
        )
    except (EmbenchError, BudgetExceeded) as exc:
        _fit_problem(exc, entry, report)
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
    check_embedding(embedding, dataset, train_songs, report)
    check_progress(progress, report)
    try:
        again = _fit(entry, params, split, dataset, seed=seed, monitor=TrainingMonitor())
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
    stopped = TrainingMonitor(deadline=lambda: True)
    try:
        _fit(entry, params, split, dataset, seed=seed, monitor=stopped)
        report.notes.append("time budget: fit ignores monitor.should_stop() (finishes anyway)")
    except BudgetExceeded:
        report.notes.append(
            "time budget: fit stops early (BudgetExceeded) when the budget is spent"
        )
    except EmbenchError as exc:
        report.error("time budget", f"fit under a spent time budget failed: {exc}")


def check_embedding(embedding, dataset, train_songs: np.ndarray, report: CheckReport) -> None:
    """Coverage of the training songs, vectors of unseen songs, zero vectors."""
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
            f"(metrics count them as misses): {_few(ids[missing])}",
        )
    in_train = np.zeros(dataset.n_songs, dtype=bool)
    in_train[train_songs] = True
    unseen = embedding.song_index[~in_train[embedding.song_index]]
    if len(unseen):
        report.warning(
            "coverage",
            f"{len(unseen)} songs that never occur in the training corpus have vectors "
            f"(held-out data used for training?): {_few(ids[unseen])}",
        )
    zero = ~np.any(embedding.vectors != 0, axis=1)
    if zero.any():
        report.warning(
            "vectors",
            f"{int(zero.sum())} zero vectors (no cosine direction; their neighbours are "
            f"arbitrary): {_few(ids[embedding.song_index[zero]])}",
        )


def check_progress(progress: list[float], report: CheckReport) -> None:
    if not progress:
        report.warning("progress", "fit never called monitor.progress (no progress bar)")
        return
    bad = [p for p in progress if not (isinstance(p, int | float) and 0 <= p <= 1)]
    if bad:
        report.warning("progress", f"monitor.progress got values outside 0..1: {_few(bad)}")
    elif any(b < a for a, b in zip(progress, progress[1:], strict=False)):
        report.warning("progress", "monitor.progress went backwards")


# -- metrics -------------------------------------------------------------------------------
def random_embedding(songs: np.ndarray, seed: int, dim: int = 16):
    from embench.api import Embedding

    vectors = np.random.default_rng([seed, 11]).standard_normal((len(songs), dim))
    return Embedding(np.asarray(songs, dtype=np.int64), vectors)


def check_metric(entry, options, report: CheckReport, *, seed: int = 0) -> None:
    """Compute on the tiny dataset (full and partial random embeddings); problems into report."""
    from embench.data.split import make_split
    from embench.evaluation import EvalContext, evaluate

    metric_cls = entry.cls
    from embench.api import Value

    declared = metric_cls.values
    if not isinstance(declared, dict) or not declared:
        report.error("values", "declares no value keys in `values` (key -> Value(max|min))")
        declared = {}
    for key, value in declared.items():
        if not isinstance(value, Value):
            report.error(
                "values", f"'{key}' must be declared as a Value(direction), found {value!r}"
            )
    dataset = check_dataset(seed)
    missing_labels = [c for c in metric_cls.requires if not dataset.has_labels(c)]
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
        report.error("declaration", f"{report.who}: {type(exc).__name__}: {exc}")
        return
    split = make_split(dataset, CHECK_FRACTIONS, seed=seed)
    train_songs = np.unique(split.train.songs)
    runs = {
        "full": random_embedding(train_songs, seed),
        "again": random_embedding(train_songs, seed),
        "partial": random_embedding(
            np.sort(
                np.random.default_rng([seed, 13]).permutation(train_songs)[
                    : max(2, int(0.8 * len(train_songs)))
                ]
            ),
            seed,
        ),
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
            cause = exc.__cause__ or exc
            what = "an embedding that misses songs" if label == "partial" else "a random embedding"
            report.error(
                "compute",
                f"{report.who} failed on {what}: {exc}{where_raised(cause, metric_cls)}",
            )
            return
        results[label] = evaluation.results[entry.name]
        if label == "full":
            report.notes.append(
                f"computed on dataset '{dataset.name}' ({dataset.n_songs} songs, validation "
                f"part) for random vectors of {len(train_songs)} training songs in "
                f"{time.perf_counter() - start:.2f}s: {_values(results[label].values)}"
            )
    check_result(results["full"], metric_cls, report)
    bad = [k for k, v in results["partial"].values.items() if not _finite(v)]
    if bad:
        report.error(
            "missing songs",
            f"non-finite value(s) {bad} when a fifth of the songs have no vector "
            "(songs without a vector must count as misses)",
        )
    if not _same(results["full"].values, results["again"].values):
        report.warning(
            "reproducible",
            f"two computations with seed {seed} gave different values: "
            f"{_values(results['full'].values)} vs {_values(results['again'].values)}",
        )


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(
        (not _finite(a[k]) and not _finite(b[k])) or math.isclose(a[k], b[k], rel_tol=1e-6)
        for k in a
    )


def _values(values: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if _finite(v) else f"{k}={v}" for k, v in values.items())


def check_result(result, metric_cls, report: CheckReport) -> None:
    """Value keys against ``values``, finiteness, per-query columns and tables."""
    directions = metric_cls.values if isinstance(metric_cls.values, dict) else {}
    values = result.values
    if not values:
        report.error("values", "returned no values")
    undeclared = [k for k in values if k not in directions]
    if undeclared:
        report.error(
            "values",
            f"value key(s) {undeclared} are not declared in `values` "
            f"(declared: {sorted(directions) or 'none'})",
        )
    silent = [k for k in directions if k not in values]
    if silent:
        report.warning("values", f"declared key(s) {silent} were not reported")
    bad = {k: v for k, v in values.items() if not _finite(v)}
    if bad:
        report.error("values", f"non-finite value(s) on a healthy dataset: {bad}")
    per_query = result.per_query
    if per_query is not None and not isinstance(per_query, pd.DataFrame):
        report.error(
            "per_query", f"per_query must be a pandas DataFrame, found {type(per_query).__name__}"
        )
        per_query = None
    columns = set(per_query.columns) if per_query is not None else set()
    for key, declared in directions.items():
        column = getattr(declared, "per_query", None)
        if column is None:
            continue
        if column not in columns:
            report.error(
                "per_query",
                f"values['{key}'].per_query names column '{column}', which per_query lacks"
                + (
                    f" (columns: {sorted(columns)})" if per_query is not None else " (no per_query)"
                ),
            )
    lacking = [c for c in metric_cls.query_keys if c not in columns]
    if lacking:
        report.error("per_query", f"query_keys {lacking} are not columns of per_query")
    if not isinstance(result.tables, dict):
        report.error("tables", f"tables must be a dict, found {type(result.tables).__name__}")
    else:
        for name, table in result.tables.items():
            if not isinstance(table, pd.DataFrame):
                report.error(
                    "tables",
                    f"table '{name}' must be a pandas DataFrame, found {type(table).__name__}",
                )


# -- the command ---------------------------------------------------------------------------
def problems_table(report: CheckReport):
    from rich.table import Table

    table = Table(title=f"problems of {report.who}")
    table.add_column("severity", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("problem")
    for problem in report.problems:
        colour = "red" if problem.severity == "error" else "yellow"
        table.add_row(f"[{colour}]{problem.severity}[/{colour}]", problem.check, problem.message)
    return table


def cmd_check_plugin(args: argparse.Namespace) -> int:
    from rich.console import Console

    report = check_plugin(args.name, args.kind, parse_assignments(args.set), seed=args.seed)
    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = max(out.width, 160)
    for note in report.notes:
        out.print(note, soft_wrap=True, markup=False)
    if report.problems:
        out.print(problems_table(report))
    if report.ok:
        warnings = len(report.problems)
        tail = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
        out.print(f"[green]{report.who}: no contract violations{tail}[/green]", soft_wrap=True)
        return 0
    count = len(report.errors)
    out.print(
        f"[red]{report.who}: {count} contract violation{'s' if count != 1 else ''}[/red]",
        soft_wrap=True,
    )
    return 1


def add_commands(sub) -> None:
    """Register this module's subcommands on the ``embench`` parser."""
    check = sub.add_parser(
        "check-plugin",
        help="run one embedder or metric on a tiny built-in dataset and report contract breaks",
    )
    check.add_argument("name", metavar="NAME", help="the embedder or metric name")
    check.add_argument("--kind", choices=KINDS, help="when NAME is ambiguous")
    check.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the plugin (value read as TOML), repeatable",
    )
    check.add_argument("--seed", type=int, default=0, help="seed of data, split and fit (0)")
    check.set_defaults(func=cmd_check_plugin)
