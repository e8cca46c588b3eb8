"""The ``embench`` command line: run | plugins | data prepare | data stats | hardneg."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from embench.errors import DataError, EmbenchError

DEBUG_ENV = "EMBENCH_DEBUG"
COMMAND_MODULES = ("embench.report.commands", "embench.plugin_check")


def _load_benchmark(path: str):
    from embench.benchmark import resolve
    from embench.config import load_config
    from embench.plugins import get_plugin_manager

    config, _ = load_config(path)
    plugins = get_plugin_manager()
    return resolve(config, plugins, source=path, base_dir=Path(path).resolve().parent)


def cmd_run(args: argparse.Namespace) -> int:
    from embench.report.console import results_table
    from embench.runner import Runner

    benchmark = _load_benchmark(args.benchmark)
    output = Path(args.output or Path("runs") / benchmark.config.benchmark.name)
    console = Console(stderr=True, quiet=args.quiet)
    runner = Runner(
        benchmark, output, console=console, threads=args.threads, fail_fast=args.fail_fast
    )
    summary = runner.run(budget=args.budget)
    Console().print(results_table(summary["configurations"], title=f"{summary['benchmark']}"))
    console.print(f"results written to {output}/")
    failed = [c["name"] for c in summary["configurations"] if c["status"] != "ok"]
    if failed:
        console.print(f"[red]{len(failed)} configuration(s) failed: {', '.join(failed)}[/red]")
    if args.check:
        from embench.report.commands import run_check

        return max(run_check(output), int(bool(failed)))
    return int(bool(failed))


def cmd_plugins(args: argparse.Namespace) -> int:
    from embench.plugins import get_plugin_manager

    plugins = get_plugin_manager()
    table = Table(title="embench plugins")
    for column in ("kind", "name", "plugin", "package", "version"):
        table.add_column(column, no_wrap=True)
    table.add_column("description")
    for kind, registry in plugins.registries().items():
        for entry in registry:
            doc = (entry.cls.__doc__ or "").strip().splitlines()
            table.add_row(
                kind,
                entry.name,
                entry.origin.plugin,
                entry.origin.package,
                entry.origin.version,
                doc[0] if doc else "",
            )
    Console().print(table)
    return 0


def cmd_data_prepare(args: argparse.Namespace) -> int:
    from embench.data.parquet import write_parquet

    benchmark = _load_benchmark(args.benchmark)
    dataset = benchmark.load_dataset()
    write_parquet(dataset, Path(args.output))
    Console(stderr=True).print(
        f"wrote {len(dataset.sequences):,} sequences and {dataset.n_songs:,} songs to {args.output}/"
    )
    return 0


def cmd_data_stats(args: argparse.Namespace) -> int:
    from embench.data.stats import dataset_stats

    benchmark = _load_benchmark(args.benchmark)
    stats = dataset_stats(benchmark.load_dataset())
    table = Table(title=f"dataset of {args.benchmark}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in stats.items():
        shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        table.add_row(key, shown)
    Console().print(table)
    return 0


def find_song(dataset, query: str) -> int:
    """A song by exact id, else by a unique case-insensitive title match."""
    songs = dataset.songs
    exact = (songs["song_id"] == query).to_numpy()
    if exact.any():
        return int(exact.argmax())
    titles = songs["title"].fillna("").str.lower()
    matches = titles.str.contains(query.lower(), regex=False).to_numpy().nonzero()[0]
    if len(matches) == 1:
        return int(matches[0])
    if not len(matches):
        raise DataError(f"no song with id or title '{query}' in dataset '{dataset.name}'")
    shown = ", ".join(
        f"{songs.song_id[i]} ({songs.title[i]} - {songs.artist[i]})" for i in matches[:5]
    )
    raise DataError(f"'{query}' matches {len(matches)} titles, give a song id: {shown}")


def cmd_hardneg(args: argparse.Namespace) -> int:
    from embench.data.split import make_split
    from embench_plugins.hardneg import HardNegOptions, hard_negatives_of

    benchmark = _load_benchmark(args.benchmark)
    dataset = benchmark.load_dataset()
    config = benchmark.config
    split = make_split(dataset, config.split.fractions, seed=benchmark.seed)
    values = config.metrics.get("hardneg", {})
    options = HardNegOptions.model_validate({k: v for k, v in values.items()})
    song = find_song(dataset, args.song)
    table = hard_negatives_of(dataset, split.train, song, options).head(args.limit)
    row = dataset.songs.iloc[song]
    out = Table(title=f"hard negatives of {row.title} - {row.artist} ({row.song_id})")
    for column in ("song_id", "title", "artist", "cooccurrences", "chi2"):
        out.add_column(column, justify="right" if column in ("cooccurrences", "chi2") else "left")
    for r in table.itertuples():
        out.add_row(
            str(r.song_id), str(r.title), str(r.artist), f"{r.cooccurrences}", f"{r.chi2:.3f}"
        )
    Console().print(out)
    if table.empty:
        Console(stderr=True).print("no hard negatives: every co-occurring partner is associated")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embench", description="Evaluate and optimise behavioural song embeddings."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="train, evaluate (and search) what a benchmark file lists")
    run.add_argument("benchmark", help="benchmark .toml file")
    run.add_argument("--output", "-o", help="output directory (default: runs/NAME)")
    run.add_argument("--threads", type=int, help="override [benchmark] threads")
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    run.add_argument("--budget", type=int, help="override every study's budget (trials)")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    run.add_argument(
        "--check", action="store_true", help="then check the benchmark's [thresholds] (exit 1)"
    )
    run.set_defaults(func=cmd_run)

    plugins = sub.add_parser(
        "plugins", help="list registered embedders, metrics, optimisers, datasets"
    )
    plugins.set_defaults(func=cmd_plugins)

    data = sub.add_parser("data", help="dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    prepare = data_sub.add_parser(
        "prepare", help="convert a benchmark's dataset to canonical Parquet"
    )
    prepare.add_argument("benchmark", help="benchmark .toml file whose [dataset] to convert")
    prepare.add_argument("output", help="directory for sequences.parquet and songs.parquet")
    prepare.set_defaults(func=cmd_data_prepare)
    stats = data_sub.add_parser("stats", help="print a dataset's figures (the paper's Table 2)")
    stats.add_argument("benchmark", help="benchmark .toml file whose [dataset] to describe")
    stats.set_defaults(func=cmd_data_stats)

    hardneg = sub.add_parser(
        "hardneg", help="list a song's hard negatives: frequent but unassociated partners"
    )
    hardneg.add_argument(
        "benchmark", help="benchmark .toml file (dataset, split, [metrics.hardneg])"
    )
    hardneg.add_argument("song", help="song id, or a unique part of its title")
    hardneg.add_argument("--limit", type=int, default=20, help="rows shown (default 20)")
    hardneg.set_defaults(func=cmd_hardneg)

    for module in COMMAND_MODULES:  # commands living beside the code they drive
        importlib.import_module(module).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    err = Console(stderr=True, highlight=False)
    try:
        return args.func(args)
    except EmbenchError as exc:
        err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted: finished trials are saved; run the same command to resume")
        return 130
    except Exception as exc:  # a bug in embench itself
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        err.print(
            f"[bold red]internal error:[/bold red] {type(exc).__name__}: {escape(str(exc))}\n"
            f"(set {DEBUG_ENV}=1 for the traceback, and please report it)"
        )
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
