"""Typed registries of plugin classes and of commands: duplicate names are errors, unknown
names get a hint."""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Callable, Iterator
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


@dataclass(frozen=True)
class Command:
    """One ``embench NAME`` command: ``add_arguments(parser)`` declares its arguments on its own
    argparse sub-parser, ``run(args)`` does the work and returns the exit code (0 for success).

    ``run`` raises :class:`embench.errors.EmbenchError` (or a subclass) for anything the user can
    fix: the command line prints its message and exits with 2.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class CommandEntry:
    name: str
    command: Command
    origin: Origin


class Commands:
    """Registered commands, by name."""

    def __init__(self) -> None:
        self._entries: dict[str, CommandEntry] = {}

    def add(self, command: Command, origin: Origin) -> None:
        """Validate and record ``command``; raises :class:`PluginError` naming the plugin."""
        where = f"plugin '{origin.plugin}' ({origin.package} {origin.version})"
        if not isinstance(command, Command):
            raise PluginError(
                f"{where} registered {command!r} as a command, but it is not an embench.Command"
            )
        if not NAME.match(command.name):
            raise PluginError(
                f"{where}: a command needs a name of lower-case letters, digits, '_' or '-' "
                f"(got {command.name!r})"
            )
        for part in ("add_arguments", "run"):
            if not callable(getattr(command, part)):
                raise PluginError(f"{where}: command '{command.name}' has no callable `{part}`")
        if command.name in self._entries:
            first = self._entries[command.name].origin
            raise PluginError(
                f"command name '{command.name}' is registered twice: by plugin "
                f"'{first.plugin}' ({first.package}) and by {where}"
            )
        self._entries[command.name] = CommandEntry(command.name, command, origin)

    def get(self, name: str) -> CommandEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise PluginError(
                f"unknown command '{name}'{did_you_mean(name, self._entries)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[CommandEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)
