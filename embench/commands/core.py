"""The core's own commands: ``embench run``, ``embench plugins``, ``embench data prepare|stats``.

They are there whatever plugins load (``EMBENCH_LOAD_PLUGINS`` included); every other command
comes through the ``register_commands`` hook.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from embench.benchmark import load_benchmark
from embench.commands.report import check_thresholds
from embench.data.parquet import write_parquet
from embench.data.stats import dataset_stats
from embench.plugins import get_plugin_manager
from embench.registry import Command
from embench.report.console import print_full, results_table
from embench.runner import Runner


# -- embench run ---------------------------------------------------------------------------
def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (argparse then exits with code 2 and the usage)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, found {value}")
    return value


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("benchmark", help="benchmark .toml file")
    parser.add_argument("--output", "-o", help="output directory (default: runs/NAME)")
    parser.add_argument("--threads", type=positive_int, help="override [benchmark] threads")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    parser.add_argument(
        "--budget", type=positive_int, help="override every study's budget (trials)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    parser.add_argument(
        "--check", action="store_true", help="then check the benchmark's [thresholds] (exit 1)"
    )


def run_run(args: argparse.Namespace) -> int:
    benchmark = load_benchmark(args.benchmark)
    output = Path(args.output or Path("runs") / benchmark.config.benchmark.name)
    console = Console(stderr=True, quiet=args.quiet)
    runner = Runner(
        benchmark, output, console=console, threads=args.threads, fail_fast=args.fail_fast
    )
    summary = runner.run(budget=args.budget)
    print_full(
        results_table(
            summary["configurations"],
            title=f"{summary['benchmark']}",
            studies=summary.get("studies"),
        )
    )
    console.print(f"results written to {output}/")
    failed = [c["name"] for c in summary["configurations"] if c["status"] != "ok"]
    if failed:
        console.print(f"[red]{len(failed)} configuration(s) failed: {', '.join(failed)}[/red]")
    if args.check:
        return max(check_thresholds(output), int(bool(failed)))
    return int(bool(failed))


# -- embench plugins -----------------------------------------------------------------------
def run_plugins(args: argparse.Namespace) -> int:
    plugins = get_plugin_manager()
    table = Table(title="embench plugins")
    for column in ("kind", "name", "plugin", "package", "version"):
        table.add_column(column, no_wrap=True)
    table.add_column("description")
    for kind, registry in plugins.registries().items():
        for entry in registry:
            doc = (entry.cls.__doc__ or "").strip().splitlines()
            origin = entry.origin
            first = doc[0] if doc else ""
            table.add_row(kind, entry.name, origin.plugin, origin.package, origin.version, first)
    for command in sorted(plugins.commands, key=lambda c: c.name):
        origin, help_text = command.origin, command.command.help
        table.add_row(
            "command", command.name, origin.plugin, origin.package, origin.version, help_text
        )
    print_full(table)
    return 0


# -- embench data prepare | stats ------------------------------------------------------------
def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    prepare = sub.add_parser("prepare", help="convert a benchmark's dataset to canonical Parquet")
    prepare.add_argument("benchmark", help="benchmark .toml file whose [dataset] to convert")
    prepare.add_argument("output", help="directory for sequences.parquet and songs.parquet")
    prepare.set_defaults(data_run=run_data_prepare)
    stats = sub.add_parser("stats", help="print a dataset's figures (the paper's Table 2)")
    stats.add_argument("benchmark", help="benchmark .toml file whose [dataset] to describe")
    stats.set_defaults(data_run=run_data_stats)


def run_data(args: argparse.Namespace) -> int:
    return args.data_run(args)


def run_data_prepare(args: argparse.Namespace) -> int:
    dataset = load_benchmark(args.benchmark).load_dataset()
    write_parquet(dataset, Path(args.output))
    Console(stderr=True).print(
        f"wrote {len(dataset.sequences):,} sequences and {dataset.n_songs:,} songs to {args.output}/"
    )
    return 0


def run_data_stats(args: argparse.Namespace) -> int:
    stats = dataset_stats(load_benchmark(args.benchmark).load_dataset())
    table = Table(title=f"dataset of {args.benchmark}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in stats.items():
        shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        table.add_row(key, shown)
    print_full(table)
    return 0


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command without arguments."""


CORE_COMMANDS = (
    Command(
        "run",
        "train, evaluate (and search) what a benchmark file lists",
        add_run_arguments,
        run_run,
    ),
    Command(
        "plugins",
        "list registered embedders, metrics, optimisers, datasets and commands",
        _no_arguments,
        run_plugins,
    ),
    Command("data", "dataset tools", add_data_arguments, run_data),
)
