"""Typed registries of plugin classes: duplicate names are errors, unknown names get a hint."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from embench.errors import PluginError, did_you_mean

T = TypeVar("T", bound=type)
NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


@dataclass(frozen=True)
class Origin:
    """Where a registered plugin came from."""

    plugin: str  # the plugin (entry point / module) name
    package: str  # the distribution that installed it
    version: str


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    cls: T
    origin: Origin


class Registry(Generic[T]):
    """Registered plugin classes of one kind (``embedder``, ``metric``, ...)."""

    def __init__(self, kind: str, base: type) -> None:
        self.kind = kind
        self.base = base
        self._entries: dict[str, Entry[T]] = {}

    def add(self, cls: T, origin: Origin) -> None:
        """Validate and record ``cls``; raises :class:`PluginError` naming the plugin."""
        where = f"plugin '{origin.plugin}' ({origin.package} {origin.version})"
        if not (inspect.isclass(cls) and issubclass(cls, self.base)):
            raise PluginError(
                f"{where} registered {cls!r} as a {self.kind}, "
                f"but it is not a subclass of embench.{self.base.__name__}"
            )
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not NAME.match(name):
            raise PluginError(
                f"{where}: {self.kind} {cls.__name__} needs a `name` of lower-case letters, "
                f"digits, '_' or '-' (got {name!r})"
            )
        options = getattr(cls, "Options", None)
        if not (inspect.isclass(options) and issubclass(options, BaseModel)):
            raise PluginError(f"{where}: {self.kind} '{name}' has no pydantic `Options` model")
        if name in self._entries:
            first = self._entries[name].origin
            raise PluginError(
                f"{self.kind} name '{name}' is registered twice: by plugin '{first.plugin}' "
                f"({first.package}) and by {where}"
            )
        self._entries[name] = Entry(name, cls, origin)

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise PluginError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._entries)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return sorted(self._entries)
