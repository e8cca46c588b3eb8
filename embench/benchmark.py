"""Binds a validated benchmark file to plugins: each plugin validates its own options."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from embench import contract
from embench.api import DatasetLoader, Dimension, Embedder, Metric, declares_work
from embench.config import (
    BenchmarkConfig,
    StudySection,
    bool_for_number,
    format_location,
    format_validation_error,
    load_config,
    study_result_pattern,
)
from embench.data.dataset import Dataset
from embench.errors import ConfigError, DataError, EmbenchError, PluginError, did_you_mean
from embench.index import IndexChoice
from embench.plugins import Plugins, get_plugin_manager
from embench.registry import Entry
from embench.report.check import parse_thresholds


@dataclass
class Configuration:
    """One embedder configuration: its plugin and fully validated parameters."""

    name: str
    embedder: Entry
    params: BaseModel

    @property
    def instance(self) -> Embedder:
        return self.embedder.cls()


@dataclass
class Objective:
    """One quantity a study optimises: a metric value key and whether higher is better."""

    key: str
    direction: str


@dataclass
class StudyPlan:
    """A ``[[study]]`` with its plugins looked up, options validated and space resolved."""

    section: StudySection
    optimiser: Entry
    optimiser_options: BaseModel
    embedder: Entry
    fixed: dict[str, Any]
    space: dict[str, Dimension]
    objectives: list[Objective]
    source: str

    @property
    def name(self) -> str:
        return self.section.name

    def params(self, suggested: dict[str, Any]) -> BaseModel:
        """The embedder's validated params for suggested values (integers rounded)."""
        values = {**self.fixed}
        for key, value in suggested.items():
            values[key] = self.space[key].clip(value) if key in self.space else value
        return validate_options(
            self.embedder.cls.Options, values, self.source, ("study", self.name, "params")
        )

    def default_params(self) -> BaseModel:
        return self.params({})


@dataclass
class Benchmark:
    """A benchmark ready to run: validated config plus resolved plugins and their options."""

    config: BenchmarkConfig
    source: str
    base_dir: Path
    dataset: Entry
    dataset_options: BaseModel
    configurations: list[Configuration]
    metrics: list[tuple[str, Metric, BaseModel]]
    plugins: Plugins
    studies: list[StudyPlan]
    index: IndexChoice = field(default_factory=IndexChoice)

    @property
    def seed(self) -> int:
        return self.config.benchmark.seed

    def load_dataset(self) -> Dataset:
        """The dataset plugin's data; whatever goes wrong is a one-line error naming the
        plugin (exit code 2), never an internal error."""
        loader: DatasetLoader = self.dataset.cls()
        who = contract.describe("dataset", self.dataset.name, self.dataset.origin)
        try:
            dataset = loader.load(self.dataset_options, seed=self.seed, base_dir=self.base_dir)
        except EmbenchError:
            raise
        except MemoryError:
            raise DataError(f"{who}: not enough memory to load the data") from None
        except Exception as exc:
            raise DataError(
                f"{who} failed to load the data ({type(exc).__name__}: {exc}); check "
                f"[dataset.options] in {self.source} and the files they name"
            ) from exc
        if not isinstance(dataset, Dataset):
            raise PluginError(f"{who} returned {type(dataset).__name__}, not an embench Dataset")
        return dataset

    def resolved(self) -> dict[str, Any]:
        """The configuration with every default filled in (written beside the results)."""
        out = self.config.model_dump(mode="json")
        out["dataset"]["options"] = self.dataset_options.model_dump(mode="json")
        out["metrics"] = {name: opts.model_dump(mode="json") for name, _, opts in self.metrics}
        out["index"]["options"] = self.index.options.model_dump(mode="json")
        for section, configuration in zip(out["configuration"], self.configurations, strict=True):
            section["params"] = configuration.params.model_dump(mode="json")
        return out


def validate_options(
    model: type[BaseModel], values: dict[str, Any], source: str, where: tuple
) -> BaseModel:
    """Validate a plugin's TOML section (at ``where`` in the file) with its ``Options`` model,
    after :func:`check_values`."""
    check_values(model, values, source, where)
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, model, prefix=where)) from None


def check_values(model: type[BaseModel], values: dict[str, Any], source: str, where: tuple):
    """What a plugin's ``Options`` model lets through but JSON or the user did not mean: no
    ``inf``/``nan`` anywhere (JSON, hence the journal and ``config.json``, cannot record them)
    and no boolean for a number (pydantic reads ``vector_size = true`` as 1)."""
    for path, value in _leaves(values, where):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(
                f"{source}: [{format_location(path)}]: expected a finite number, found {value}"
            )
    for key, value in values.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is not None and bool_for_number(field.annotation, value):
            shown = str(value).lower() if isinstance(value, bool) else repr(value)
            raise ConfigError(
                f"{source}: [{format_location((*where, key))}]: expected a number, found "
                f"{shown} (a boolean is not a number)"
            )


def _leaves(value: Any, path: tuple) -> Iterator[tuple[tuple, Any]]:
    """Every (location, value) below a TOML value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    else:
        yield path, value


def load_benchmark(path: str | Path, plugins: Plugins | None = None) -> Benchmark:
    """Read, validate and resolve a benchmark file (with the installed plugins by default)."""
    config, _ = load_config(path)
    plugins = plugins if plugins is not None else get_plugin_manager()
    return resolve(config, plugins, source=str(path), base_dir=Path(path).resolve().parent)


def resolve(config: BenchmarkConfig, plugins: Plugins, source: str, base_dir: Path) -> Benchmark:
    """Look up every plugin the file names (with "did you mean") and validate its options."""

    def lookup(registry, name: str, where: str) -> Entry:
        try:
            return registry.get(name)
        except PluginError as exc:
            raise ConfigError(f"{source}: [{where}]: {exc}") from None

    dataset = lookup(plugins.datasets, config.dataset.plugin, "dataset.plugin")
    dataset_options = validate_options(
        dataset.cls.Options, config.dataset.options, source, ("dataset", "options")
    )
    for name, shared in config.embedders.items():
        embedder = lookup(plugins.embedders, name, f"embedders.{name}")
        check_values(embedder.cls.Options, shared, source, ("embedders", name))
    configurations = []
    for i, section in enumerate(config.configuration):
        entry = lookup(plugins.embedders, section.embedder, f"configuration #{i + 1}.embedder")
        contract.accept_class("embedder", entry)
        merged = {**config.embedders.get(section.embedder, {}), **section.params}
        params = validate_options(entry.cls.Options, merged, source, ("configuration", i, "params"))
        configurations.append(Configuration(section.name, entry, params))
    metrics = []
    for name, values in config.metrics.items():
        entry = lookup(plugins.metrics, name, f"metrics.{name}")
        contract.accept_class("metric", entry)
        options = validate_options(entry.cls.Options, values, source, ("metrics", name))
        metrics.append((name, entry.cls(), options))
    contract.validate_unique_values((name, metric) for name, metric, _ in metrics)
    index_entry = lookup(plugins.indexes, config.index.plugin, "index.plugin")
    contract.accept_class("index", index_entry)
    index = IndexChoice(
        index_entry.name,
        index_entry.cls,
        validate_options(
            index_entry.cls.Options, config.index.options, source, ("index", "options")
        ),
        config.index.recall_queries,
    )
    directions: dict[str, str] = {}
    for _, metric, _ in metrics:
        directions.update({key: value.direction for key, value in metric.values.items()})
    if config.thresholds:  # checked now, not after hours of training (`run --check`)
        check_thresholds(config, directions, source)
    studies = [
        resolve_study(i, section, config, plugins, directions, source, lookup)
        for i, section in enumerate(config.study)
    ]
    return Benchmark(
        config,
        source,
        base_dir,
        dataset,
        dataset_options,
        configurations,
        metrics,
        plugins,
        studies,
        index,
    )


def check_thresholds(config: BenchmarkConfig, directions: dict[str, str], source: str) -> None:
    """``[thresholds]``: valid bounds, on value keys a configured metric reports, for
    configurations the run will have (a listed one or a study's result)."""
    rules = parse_thresholds(config.thresholds, f"{source}: [thresholds]")
    listed = [c.name for c in config.configuration]
    studies = [s.name for s in config.study]
    for rule in rules:
        if rule.metric not in directions:
            raise ConfigError(
                f"{source}: [thresholds.{rule.metric}]: no metric under [metrics] reports "
                f"'{rule.metric}'{did_you_mean(rule.metric, directions)}"
            )
        for name in rule.threshold.configurations or []:
            if name in listed or any(
                study_result_pattern(study).fullmatch(name.casefold()) for study in studies
            ):
                continue
            raise ConfigError(
                f"{source}: [thresholds.{rule.metric}].configuration: the run has no "
                f"configuration '{name}'{did_you_mean(name, [*listed, *studies])}"
            )


def resolve_space(
    declared: dict[str, Dimension], overrides: dict, fields: list[str], where: str
) -> dict[str, Dimension]:
    """The embedder's declared space, narrowed or extended by ``[study.space]``."""
    space = dict(declared)
    for name, override in overrides.items():
        if name not in fields:
            raise ConfigError(f"{where}: unknown parameter '{name}'{did_you_mean(name, fields)}")
        base = space.get(name)
        low = override.low if override.low is not None else (base.low if base else None)
        high = override.high if override.high is not None else (base.high if base else None)
        if low is None or high is None:
            raise ConfigError(f"{where}.{name}: a new dimension needs both low and high")
        try:
            space[name] = Dimension(
                low,
                high,
                log=override.log if override.log is not None else bool(base and base.log),
                integer=(
                    override.integer
                    if override.integer is not None
                    else bool(base and base.integer)
                ),
            )
        except ValueError as exc:
            raise ConfigError(f"{where}.{name}: {exc}") from None
        if not math.isfinite(space[name].high - space[name].low):
            raise ConfigError(
                f"{where}.{name}: the range [{space[name].low:g}, {space[name].high:g}] is too "
                "wide to sample (its width is not a finite number)"
            )
    return space


def resolve_study(index, section, config, plugins, directions, source, lookup) -> StudyPlan:
    where = f"study #{index + 1}"
    optimiser = lookup(plugins.optimisers, section.optimiser, f"{where}.optimiser")
    options = validate_options(
        optimiser.cls.Options, section.options, source, ("study", index, "options")
    )
    embedder = lookup(plugins.embedders, section.embedder, f"{where}.embedder")
    contract.accept_class("embedder", embedder)
    fixed = {**config.embedders.get(section.embedder, {}), **section.params}
    fields = list(embedder.cls.Options.model_fields)
    space = resolve_space(
        embedder.cls.search_space, section.space, fields, f"{source}: [{where}.space]"
    )
    space = {k: v for k, v in space.items() if k not in section.params}
    if not space:
        raise ConfigError(f"{source}: [{where}]: the search space is empty")

    def objective(key: str, direction: str | None = None) -> Objective:
        if key not in directions:
            raise ConfigError(
                f"{source}: [{where}]: no configured metric reports '{key}'"
                f"{did_you_mean(key, directions)}; add its metric under [metrics]"
            )
        return Objective(key, direction or directions[key])

    if section.objective is not None:
        objectives = [objective(section.objective, section.direction)]
    elif section.scalarised:
        objective(section.scalarised.hitrate)
        objective(section.scalarised.vrc)
        objectives = [Objective("lambda", "max")]
    else:
        objectives = [objective(key) for key in section.objectives]
    if len(objectives) > 1 and not optimiser.cls.multi_objective:
        multi = [e.name for e in plugins.optimisers if e.cls.multi_objective]
        raise ConfigError(
            f"{source}: [{where}]: optimiser '{optimiser.name}' handles one objective; "
            f"use a multi-objective one ({', '.join(multi) or 'none installed'})"
        )
    check_budget_settings(section, embedder, optimiser, options, space, f"{source}: [{where}]")
    plan = StudyPlan(section, optimiser, options, embedder, fixed, space, objectives, source)
    plan.default_params()  # fixed params are validated now, not at the first trial
    return plan


def check_budget_settings(section, embedder, optimiser, options, space, where: str) -> None:
    """``time_mode = "equal"`` and a multi-fidelity optimiser's reduced epochs set the
    embedder's ``epochs``: it must have one, not searched; they cannot be combined."""
    fidelities = optimiser.cls.fidelities(options)
    fields = embedder.cls.Options.model_fields
    needs_epochs = []
    if section.time_mode == "equal":
        if not declares_work(embedder.cls):
            raise ConfigError(
                f"{where}: time_mode = 'equal' sets each trial's epochs from the work its params "
                f"imply, but embedder '{embedder.name}' declares no work(); use 'work' or 'wall'"
            )
        needs_epochs.append("time_mode = 'equal'")
        if "epochs" in fidelities:
            raise ConfigError(
                f"{where}: time_mode = 'equal' and optimiser '{optimiser.name}' both set the "
                "epochs; choose one (e.g. fidelity = 'subsample')"
            )
    if "epochs" in fidelities:
        needs_epochs.append(f"optimiser '{optimiser.name}' (fidelity in epochs)")
    for who in needs_epochs:
        if "epochs" not in fields:
            raise ConfigError(f"{where}: {who} needs an 'epochs' param; '{embedder.name}' has none")
        if "epochs" in space:
            raise ConfigError(
                f"{where}: {who} sets the epochs, so 'epochs' cannot be searched; remove it "
                "from [study.space]"
            )
