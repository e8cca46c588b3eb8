"""CLI commands of reporting: report, compare, check (added by embench.cli)."""

from __future__ import annotations


def add_commands(sub) -> None:
    """Register this module's subcommands on the ``embench`` parser."""
