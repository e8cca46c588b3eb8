"""Plugin loading: a factory builds a fresh pluggy manager and the typed registries.

Built-in plugins are loaded through the ``embench`` entry-point group exactly like third-party
ones. ``EMBENCH_LOAD_PLUGINS=a,b`` restricts loading to the entry points (or distributions) named.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from embench import hookspecs
from embench.api import DatasetLoader, Embedder, Metric, Optimiser
from embench.errors import PluginError
from embench.index import ExactIndex, NeighbourIndex
from embench.registry import Command, Commands, Origin, Registry

GROUP = "embench"
ENV_LOAD = "EMBENCH_LOAD_PLUGINS"

# Plugins added for the duration of a ``temporary_plugin`` block (tests, notebooks).
_temporary: list[tuple[str, object]] = []


@contextmanager
def temporary_plugin(name: str, plugin: object):
    """Make ``plugin`` (a module or object with hook implementations) visible to every
    :func:`get_plugin_manager` call inside the block, as if it were installed."""
    _temporary.append((name, plugin))
    try:
        yield plugin
    finally:
        _temporary.remove((name, plugin))


@dataclass
class Plugins:
    """The loaded plugin manager, one registry per plugin kind and the plugins' commands."""

    manager: pluggy.PluginManager
    embedders: Registry
    metrics: Registry
    optimisers: Registry
    datasets: Registry
    commands: Commands
    indexes: Registry

    def registries(self) -> dict[str, Registry]:
        return {
            "embedder": self.embedders,
            "metric": self.metrics,
            "optimiser": self.optimisers,
            "dataset": self.datasets,
            "index": self.indexes,
        }


def _selected(entry_point: metadata.EntryPoint, wanted: set[str] | None) -> bool:
    if wanted is None:
        return True
    dist = entry_point.dist.name if entry_point.dist else ""
    return entry_point.name in wanted or dist in wanted


def get_plugin_manager(
    extra: list[tuple[str, object]] | None = None, *, load_entry_points: bool = True
) -> Plugins:
    """Build a fresh manager: entry-point plugins (filtered by ``EMBENCH_LOAD_PLUGINS``) plus
    ``extra`` ``(name, module_or_object)`` plugins, then fill the registries."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    origins: dict[str, Origin] = {}

    if load_entry_points:
        raw = os.environ.get(ENV_LOAD)
        wanted = None if raw is None else {p.strip() for p in raw.split(",") if p.strip()}
        for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
            if not _selected(ep, wanted) or pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken third-party package must not hide the others
                raise PluginError(
                    f"plugin '{ep.name}' ({ep.value}) failed to import: {type(exc).__name__}: "
                    f"{exc} (to go on without it, list the plugins to load in {ENV_LOAD})"
                ) from exc
            pm.register(plugin, name=ep.name)
            dist = ep.dist
            origins[ep.name] = Origin(
                ep.name, dist.name if dist else "?", dist.version if dist else "?"
            )
    for name, plugin in [*_temporary, *(extra or [])]:
        pm.register(plugin, name=name)
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        origins[name] = Origin(name, module, "local")

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin '{pm.get_name(exc.plugin)}': {exc}") from None

    plugins = Plugins(
        pm,
        Registry("embedder", Embedder),
        Registry("metric", Metric),
        Registry("optimiser", Optimiser),
        Registry("dataset", DatasetLoader),
        Commands(),
        Registry("index", NeighbourIndex),
    )
    # The exact neighbour search is the core's own kernel: always there, whatever is loaded.
    plugins.indexes.add(ExactIndex, Origin("embench", "embench", _core_version()))
    hooks = {
        "embedder": pm.hook.register_embedders,
        "metric": pm.hook.register_metrics,
        "optimiser": pm.hook.register_optimisers,
        "dataset": pm.hook.register_datasets,
        "index": pm.hook.register_indexes,
    }
    for kind, registry in plugins.registries().items():
        for impl in hooks[kind].get_hookimpls():
            _collect(impl, kind, origins[impl.plugin_name], registry.add)
    for impl in pm.hook.register_commands.get_hookimpls():
        _collect(impl, "command", origins[impl.plugin_name], plugins.commands.add)
    return plugins


def _core_version() -> str:
    try:
        return metadata.version("embench")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source checkout
        return "?"


def _collect(
    impl: pluggy.HookImpl, kind: str, origin: Origin, add: Callable[[Any, Origin], None]
) -> None:
    """Call one ``register_*`` implementation with a ``register`` callback bound to its origin."""

    def register(item: type | Command) -> None:
        add(item, origin)

    try:
        impl.function(register=register)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(
            f"plugin '{origin.plugin}' ({origin.package}) raised while registering "
            f"{kind}s: {type(exc).__name__}: {exc}"
        ) from exc
