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
The findings are :mod:`embench.check_report`'s, the checks themselves
:mod:`embench.embedder_checks`' and :mod:`embench.metric_checks`'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from embench.api import Embedder, Metric
from embench.check_report import CheckFailed, CheckReport, Problem
from embench.config import format_validation_error
from embench.embedder_checks import run_embedder_checks
from embench.errors import ConfigError, PluginError, did_you_mean
from embench.metric_checks import run_metric_checks
from embench.plugins import Plugins, get_plugin_manager
from embench.registry import Entry, Origin, Registry

__all__ = [
    "CheckFailed",
    "CheckReport",
    "Problem",
    "check_embedder",
    "check_metric",
    "check_plugin",
]

KINDS = ("embedder", "metric")


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
