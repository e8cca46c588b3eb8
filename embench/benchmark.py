"""Binds a validated benchmark file to plugins: each plugin validates its own options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from embench.api import DatasetLoader, Embedder, Metric
from embench.config import BenchmarkConfig, format_validation_error
from embench.errors import ConfigError, PluginError
from embench.plugins import Plugins
from embench.registry import Entry


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

    @property
    def seed(self) -> int:
        return self.config.benchmark.seed

    def load_dataset(self):
        loader: DatasetLoader = self.dataset.cls()
        return loader.load(self.dataset_options, seed=self.seed, base_dir=self.base_dir)

    def resolved(self) -> dict[str, Any]:
        """The configuration with every default filled in (written beside the results)."""
        out = self.config.model_dump(mode="json")
        out["dataset"]["options"] = self.dataset_options.model_dump(mode="json")
        out["metrics"] = {name: opts.model_dump(mode="json") for name, _, opts in self.metrics}
        for section, configuration in zip(out["configuration"], self.configurations, strict=True):
            section["params"] = configuration.params.model_dump(mode="json")
        return out


def validate_options(
    model: type[BaseModel], values: dict[str, Any], source: str, where: tuple
) -> BaseModel:
    """Validate a plugin's TOML section (at ``where`` in the file) with its ``Options`` model."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, model, prefix=where)) from None


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
    for name in config.embedders:
        lookup(plugins.embedders, name, f"embedders.{name}")
    configurations = []
    for i, section in enumerate(config.configuration):
        entry = lookup(plugins.embedders, section.embedder, f"configuration #{i + 1}.embedder")
        merged = {**config.embedders.get(section.embedder, {}), **section.params}
        params = validate_options(entry.cls.Options, merged, source, ("configuration", i, "params"))
        configurations.append(Configuration(section.name, entry, params))
    metrics = []
    for name, values in config.metrics.items():
        entry = lookup(plugins.metrics, name, f"metrics.{name}")
        options = validate_options(entry.cls.Options, values, source, ("metrics", name))
        metrics.append((name, entry.cls(), options))
    return Benchmark(
        config, source, base_dir, dataset, dataset_options, configurations, metrics, plugins
    )
