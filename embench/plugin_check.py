"""``embench check-plugin NAME``: the command around :func:`embench.checks.check_plugin`.

Its arguments (``add_arguments``) and its run (``run``: parse ``--set``, check, print the
notes and a table of problems): exit 0 when the plugin keeps the contract (warnings allowed),
1 when it breaks it. An unknown name or invalid options raise an ``EmbenchError`` (exit 2).
"""

from __future__ import annotations

import argparse
import tomllib
from typing import Any

from rich.console import Console
from rich.table import Table

from embench.checks import KINDS, CheckReport, check_plugin
from embench.errors import ConfigError

HELP = "run one embedder or metric on a tiny built-in dataset and report contract breaks"


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``["k=10", "name=x"]`` -> ``{"k": 10, "name": "x"}`` (values read as TOML, else text)."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            values[key] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            values[key] = raw
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``embench check-plugin``."""
    parser.add_argument("name", metavar="NAME", help="the embedder or metric name")
    parser.add_argument("--kind", choices=KINDS, help="when NAME is ambiguous")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the plugin (value read as TOML), repeatable",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of data, split and fit (0)")


def problems_table(report: CheckReport) -> Table:
    table = Table(title=f"problems of {report.who}")
    table.add_column("severity", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("problem")
    for problem in report.problems:
        colour = "red" if problem.severity == "error" else "yellow"
        table.add_row(f"[{colour}]{problem.severity}[/{colour}]", problem.check, problem.message)
    return table


def run(args: argparse.Namespace) -> int:
    """``embench check-plugin``: 0 when the plugin keeps the contract, 1 when it breaks it."""
    report = check_plugin(args.name, args.kind, parse_assignments(args.set), seed=args.seed)
    out = Console(highlight=False)
    for note in report.notes:
        out.print(note, soft_wrap=True, markup=False)
    if not out.is_terminal:  # a pipe or a log: one full line per problem, nothing cut
        for problem in report.problems:
            out.print(str(problem), soft_wrap=True, markup=False)
    elif report.problems:
        out.print(problems_table(report))
    if report.ok:
        warnings = len(report.problems)
        tail = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
        out.print(f"[green]{report.who}: no contract violations{tail}[/green]", soft_wrap=True)
        return 0
    count = len(report.errors)
    out.print(
        f"[red]{report.who}: {count} contract violation{'s' if count != 1 else ''}[/red]",
        soft_wrap=True,
    )
    return 1
