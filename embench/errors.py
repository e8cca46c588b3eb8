"""User-facing errors: each one is printed as a single clear message by the CLI."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EmbenchError(Exception):
    """An error the user can fix; the CLI prints it without a traceback and exits with 2."""

    exit_code = 2


class ConfigError(EmbenchError):
    """The benchmark file is missing, malformed or invalid."""


class DataError(EmbenchError):
    """A data file is missing, unreadable or inconsistent."""


class PluginError(EmbenchError):
    """A plugin is unknown, misdeclared, or broke its contract."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` when a close match exists, plus the available names."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    available = ", ".join(choices) if choices else "none"
    return f"{hint} (available: {available})"
