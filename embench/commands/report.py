"""The report commands: ``embench report``, ``embench compare`` and ``embench check``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from embench.io import to_jsonable
from embench.report.check import check_run, gather_rules, violations_table
from embench.report.compare import compare_runs, comparison_table
from embench.report.console import print_full
from embench.report.html import write_report
from embench.report.load import load_run


# -- embench report ------------------------------------------------------------------------
def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="output directory of embench run")
    parser.add_argument(
        "--best",
        metavar="NAME",
        help="configuration shown against the default in the popularity and play-prediction "
        "figures (default: the highest HitRate)",
    )


def run_report(args: argparse.Namespace) -> int:
    path = write_report(Path(args.run_dir), best=args.best)
    Console(stderr=True).print(f"report written to {path}")
    return 0


# -- embench compare -----------------------------------------------------------------------
def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A", help="first run directory (A)")
    parser.add_argument("run_b", metavar="RUN_B", help="second run directory (B)")
    parser.add_argument(
        "--configuration",
        "-c",
        action="append",
        metavar="NAME",
        help="compare only this configuration (repeatable; default: all in both runs)",
    )
    parser.add_argument(
        "--alpha", type=float, default=0.01, help="significance level (default 0.01)"
    )
    parser.add_argument(
        "--all", action="store_true", help="every value key, including per-part and per-bucket"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")


def run_compare(args: argparse.Namespace) -> int:
    a = load_run(args.run_a, journals=False)
    b = load_run(args.run_b, journals=False)
    comparison = compare_runs(a, b, args.configuration or None, alpha=args.alpha, all_keys=args.all)
    if args.json:
        records = comparison.table.to_dict(orient="records")
        print(json.dumps(to_jsonable({"rows": records, "notes": comparison.notes}), indent=2))
        return 0
    print_full(comparison_table(comparison, a, b))
    err = Console(stderr=True, highlight=False)
    for note in comparison.notes:
        err.print(f"note: {note}", soft_wrap=True)
    return 0


# -- embench check -------------------------------------------------------------------------
def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="output directory of embench run")
    parser.add_argument(
        "--thresholds",
        metavar="FILE.toml",
        help="a TOML file with a [thresholds] table, applied besides the benchmark's own",
    )
    parser.add_argument(
        "--baseline",
        metavar="RUN_DIR",
        help="run whose values the relative bounds (min_relative, max_relative) refer to",
    )
    parser.add_argument("--json", action="store_true", help="print every check as JSON")


def check_thresholds(run_dir, thresholds=None, baseline=None, *, as_json=False) -> int:
    """Check a run directory; 0 when every bound holds, 1 with a table of the violations."""
    run = load_run(run_dir, journals=False)
    rules = gather_rules(run, thresholds)
    base = load_run(baseline, journals=False) if baseline is not None else None
    result = check_run(run, rules, base)
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return 0 if result.passed else 1
    out = Console(highlight=False)
    if not result.passed:
        print_full(violations_table(result), out)
    for skipped in result.skipped:
        out.print(f"skipped: {skipped}", soft_wrap=True)
    colour = "green" if result.passed else "red"
    out.print(f"[{colour}]{result.summary_line()}[/{colour}]", soft_wrap=True)
    return 0 if result.passed else 1


def run_check(args: argparse.Namespace) -> int:
    return check_thresholds(args.run_dir, args.thresholds, args.baseline, as_json=args.json)
