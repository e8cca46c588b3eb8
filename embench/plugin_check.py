"""``embench check-plugin NAME``: run one plugin on a tiny dataset and report contract breaks."""

from __future__ import annotations


def add_commands(sub) -> None:
    """Register this module's subcommands on the ``embench`` parser."""
