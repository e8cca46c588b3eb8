"""The scale benchmark (benchmarks/scale.toml), timed and measured stage by stage.

Runs the benchmark exactly as ``embench run`` does (the same Runner), at one of three sizes, and
prints the wall time and the peak resident memory (RSS) of each stage: load, split, the data
fingerprint, train, the shared neighbour search, each metric, and the writing of the results
(embeddings and per-query files, explorer, report, summary). "other" is the time between
stages. Peak RSS per stage comes from the kernel's high-water mark, reset at the start of each
stage (Linux; elsewhere the column holds the process peak so far).

    python benchmarks/bench_scale.py --size 100k             # 100k songs, ~10M plays
    python benchmarks/bench_scale.py --size 1m --threads 2   # 1M songs, ~100M plays
    python benchmarks/bench_scale.py --size 100k --json out.json --epochs 1

Sizes: 100k (100k songs / 10M plays), 300k (300k / 30M), 1m (1M / 100M, the TOML as written);
20k (20k / 1M) is a quick smoke test.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import re
import resource
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import embench.benchmark
import embench.evaluation
import embench.fingerprint
import embench.runner
import embench.trial
from embench.benchmark import load_benchmark
from embench.context import EvalContext
from embench.runner import Runner
from embench.summary import RunSummary

HERE = Path(__file__).parent
SCALE_TOML = HERE / "scale.toml"
MEAN_SESSION = 47.3  # plays per synthetic session (exp(3.40 + 0.955^2 / 2))
SIZES = {
    "20k": (20_000, 1_000_000),  # a smoke test
    "100k": (100_000, 10_000_000),
    "300k": (300_000, 30_000_000),
    "1m": (1_000_000, 100_000_000),
}
STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def peak_rss_kib() -> int:
    """The peak RSS since the last reset (VmHWM), else the process's peak (ru_maxrss)."""
    try:
        return int(re.search(r"VmHWM:\s+(\d+) kB", STATUS.read_text()).group(1))
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak() -> None:
    with contextlib.suppress(OSError):
        CLEAR_REFS.write_text("5")  # resets the high-water mark to the current RSS


class Stages:
    """Wall time and peak RSS of each stage; nested stages count in the outer one."""

    def __init__(self) -> None:
        self.rows: dict[str, list[float]] = {}  # name -> [seconds, peak KiB, calls]
        self.depth = 0
        self.overall_peak = 0

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.depth:
            yield
            return
        self.overall_peak = max(self.overall_peak, peak_rss_kib())  # the gap before it
        reset_peak()
        self.depth += 1
        start = time.perf_counter()
        try:
            yield
        finally:
            self.depth -= 1
            seconds, peak = time.perf_counter() - start, peak_rss_kib()
            self.overall_peak = max(self.overall_peak, peak)
            row = self.rows.setdefault(name, [0.0, 0, 0])
            row[0] += seconds
            row[1] = max(row[1], peak)
            row[2] += 1

    def wrap(self, owner: Any, attribute: str, name: str | Callable[..., str]) -> None:
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            label = name(*args, **kwargs) if callable(name) else name
            with self.stage(label):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)


def instrument(stages: Stages) -> None:
    """Time the stages of a run by wrapping the functions the Runner calls."""
    stages.wrap(embench.benchmark.Benchmark, "load_dataset", "load")
    stages.wrap(embench.runner, "make_split", "split")
    stages.wrap(embench.fingerprint, "dataset_digest", "fingerprint")
    stages.wrap(embench.trial, "train", "train")
    stages.wrap(EvalContext, "compute_neighbours", "neighbours")
    # A metric's neighbour declaration and its compute both go through evaluation._call.
    stages.wrap(embench.evaluation, "_call", lambda name, what, function: f"metric {name}")
    stages.wrap(Runner, "write", "write: embeddings, per-query")
    stages.wrap(embench.runner, "write_explorer_after_run", "write: explorer")
    stages.wrap(embench.runner, "write_report_after_run", "write: report")
    stages.wrap(RunSummary, "to_disk", "write: summary")


def benchmark_file(size: str, epochs: int | None, directory: Path) -> Path:
    """scale.toml resized to ``size`` (and ``epochs``), written into ``directory``."""
    config = tomllib.loads(SCALE_TOML.read_text(encoding="utf-8"))
    songs, plays = SIZES[size]
    config["dataset"]["options"].update(songs=songs, sequences=round(plays / MEAN_SESSION))
    if epochs is not None:
        config.setdefault("embedders", {}).setdefault("word2vec", {})["epochs"] = epochs
    path = directory / f"scale-{size}.toml"
    path.write_text(dump_toml(config), encoding="utf-8")
    return path


def dump_toml(config: dict[str, Any], prefix: str = "") -> str:
    """Enough of TOML for scale.toml: tables of scalars, arrays of tables."""
    lines, tables = [], []
    for key, value in config.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines.append(f"[[{prefix}{key}]]")
                lines.append(dump_toml(item, f"{prefix}{key}.").strip())
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    for key, value in tables:
        lines.append(f"[{prefix}{key}]")
        lines.append(dump_toml(value, f"{prefix}{key}."))
    return "\n".join(line for line in lines if line) + "\n"


def report(stages: Stages, total: float, summary: dict[str, Any], size: str) -> dict[str, Any]:
    def rank(name: str) -> int:  # the order of a run; metrics in the benchmark's order
        first = ["load", "split", "fingerprint", "train", "neighbours"]
        return first.index(name) if name in first else 5 if name.startswith("metric ") else 6

    rows = sorted(
        ((name, *values) for name, values in stages.rows.items()), key=lambda row: rank(row[0])
    )
    accounted = sum(row[1] for row in rows)
    stats = summary["dataset"]["stats"]
    print(
        f"\nscale benchmark, size {size}: {stats.get('songs', '?'):,} songs, "
        f"{stats.get('events', stats.get('plays', '?')):,} plays, "
        f"threads {summary['threads']}"
    )
    print(f"{'stage':34} {'seconds':>10} {'peak RSS MiB':>13}")
    for name, seconds, peak, _ in rows:
        print(f"{name:34} {seconds:10.1f} {peak / 1024:13.0f}")
    print(f"{'other (between stages)':34} {total - accounted:10.1f}")
    print(f"{'total':34} {total:10.1f} {stages.overall_peak / 1024:13.0f}")
    seconds = {name: values[0] for name, values in stages.rows.items()}
    train = seconds.get("train", float("nan"))
    evaluation = seconds.get("neighbours", 0.0) + sum(
        s for name, s in seconds.items() if name.startswith("metric ")
    )
    data = seconds.get("load", 0.0) + seconds.get("split", 0.0)
    print(f"evaluation (neighbours + metrics) / train: {evaluation / train:.1%}")
    print(f"load + split / train: {data / train:.1%}")
    return {
        "size": size,
        "songs": stats.get("songs"),
        "plays": stats.get("events", stats.get("plays")),
        "threads": summary["threads"],
        "stages": {
            name: {"seconds": v[0], "peak_rss_mib": v[1] / 1024} for name, v in stages.rows.items()
        },
        "total_seconds": total,
        "peak_rss_mib": stages.overall_peak / 1024,
        "evaluation_over_train": evaluation / train,
        "data_over_train": data / train,
        "metrics": summary["configurations"][0].get("metrics", {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="100k")
    parser.add_argument("--threads", type=int, help="override [benchmark] threads")
    parser.add_argument("--epochs", type=int, help="Word2Vec epochs (default: 5, the TOML's)")
    parser.add_argument("--output", help="run directory (default: a temporary one, removed)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="embench-scale-"))
    output = Path(args.output) if args.output else work / "run"
    try:
        benchmark = load_benchmark(benchmark_file(args.size, args.epochs, work))
        stages = Stages()
        instrument(stages)
        start = time.perf_counter()
        summary = Runner(benchmark, output, threads=args.threads).run()
        total = time.perf_counter() - start
    finally:
        if not args.output:
            shutil.rmtree(work, ignore_errors=True)
    failed = [c for c in summary["configurations"] if c["status"] != "ok"]
    if failed:
        print(f"configuration failed: {failed[0].get('error')}", file=sys.stderr)
        return 1
    figures = report(stages, total, summary, args.size)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
