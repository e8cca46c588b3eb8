"""CLI commands of reporting: report, compare, check (added by embench.cli)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console


def wide_console() -> Console:
    """stdout; CI logs (not a terminal) get wide tables instead of 80 columns."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 160)
    return console


def cmd_report(args: argparse.Namespace) -> int:
    from embench.report.html import write_report

    path = write_report(Path(args.run_dir), best=args.best)
    Console(stderr=True).print(f"report written to {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from embench.report.compare import compare_runs, comparison_table
    from embench.report.files import _jsonable
    from embench.report.load import load_run

    a = load_run(args.run_a, journals=False)
    b = load_run(args.run_b, journals=False)
    comparison = compare_runs(a, b, args.configuration or None, alpha=args.alpha, all_keys=args.all)
    if args.json:
        records = comparison.table.to_dict(orient="records")
        print(json.dumps(_jsonable({"rows": records, "notes": comparison.notes}), indent=2))
        return 0
    wide_console().print(comparison_table(comparison, a, b))
    err = Console(stderr=True, highlight=False)
    for note in comparison.notes:
        err.print(f"note: {note}", soft_wrap=True)
    return 0


def run_check(run_dir, thresholds=None, baseline=None, *, as_json=False) -> int:
    """Check a run directory; 0 when every bound holds, 1 with a table of the violations."""
    from embench.report.check import check_run, gather_rules, violations_table
    from embench.report.load import load_run

    run = load_run(run_dir, journals=False)
    rules = gather_rules(run, thresholds)
    base = load_run(baseline, journals=False) if baseline is not None else None
    result = check_run(run, rules, base)
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return 0 if result.passed else 1
    out = wide_console()
    if not result.passed:
        out.print(violations_table(result))
    for skipped in result.skipped:
        out.print(f"skipped: {skipped}", soft_wrap=True)
    colour = "green" if result.passed else "red"
    out.print(f"[{colour}]{result.summary_line()}[/{colour}]", soft_wrap=True)
    return 0 if result.passed else 1


def cmd_check(args: argparse.Namespace) -> int:
    return run_check(args.run_dir, args.thresholds, args.baseline, as_json=args.json)


def add_commands(sub) -> None:
    """Register this module's subcommands on the ``embench`` parser."""
    report = sub.add_parser(
        "report", help="rebuild a run's report.html and plots from its files (no training)"
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="output directory of embench run")
    report.add_argument(
        "--best",
        metavar="NAME",
        help="configuration shown against the default in the popularity and play-prediction "
        "figures (default: the highest HitRate)",
    )
    report.set_defaults(func=cmd_report)

    compare = sub.add_parser(
        "compare", help="two runs' metrics side by side, with paired significance tests"
    )
    compare.add_argument("run_a", metavar="RUN_A", help="first run directory (A)")
    compare.add_argument("run_b", metavar="RUN_B", help="second run directory (B)")
    compare.add_argument(
        "--configuration",
        "-c",
        action="append",
        metavar="NAME",
        help="compare only this configuration (repeatable; default: all in both runs)",
    )
    compare.add_argument(
        "--alpha", type=float, default=0.01, help="significance level (default 0.01)"
    )
    compare.add_argument(
        "--all", action="store_true", help="every value key, including per-part and per-bucket"
    )
    compare.add_argument("--json", action="store_true", help="print the rows as JSON")
    compare.set_defaults(func=cmd_compare)

    check = sub.add_parser(
        "check", help="check a run's metrics against thresholds (exit 1 on a violation)"
    )
    check.add_argument("run_dir", metavar="RUN_DIR", help="output directory of embench run")
    check.add_argument(
        "--thresholds",
        metavar="FILE.toml",
        help="a TOML file with a [thresholds] table, applied besides the benchmark's own",
    )
    check.add_argument(
        "--baseline",
        metavar="RUN_DIR",
        help="run whose values the relative bounds (min_relative, max_relative) refer to",
    )
    check.add_argument("--json", action="store_true", help="print every check as JSON")
    check.set_defaults(func=cmd_check)
