"""The built-in plugin commands: ``report``, ``compare``, ``check``, ``neighbours`` and
``check-plugin``.

This module is a plugin of the ``embench`` entry-point group (see ``pyproject.toml``): the command
line gets these commands through the ``register_commands`` hook, as it would a third party's.
"""

from __future__ import annotations

from embench import plugin_check
from embench.commands import neighbours, report
from embench.hookspecs import hookimpl
from embench.registry import Command


@hookimpl
def register_commands(register):
    register(
        Command(
            "report",
            "rebuild a run's report.html and plots from its files (no training)",
            report.add_report_arguments,
            report.run_report,
        )
    )
    register(
        Command(
            "compare",
            "two runs' metrics side by side, with paired significance tests",
            report.add_compare_arguments,
            report.run_compare,
        )
    )
    register(
        Command(
            "check",
            "check a run's metrics against thresholds (exit 1 on a violation)",
            report.add_check_arguments,
            report.run_check,
        )
    )
    register(
        Command(
            "neighbours",
            "a song's nearest neighbours in each configuration of a finished run (no training)",
            neighbours.add_arguments,
            neighbours.run,
        )
    )
    register(
        Command(
            "check-plugin",
            "run one embedder or metric on a tiny built-in dataset and report contract breaks",
            plugin_check.add_arguments,
            plugin_check.run,
        )
    )
