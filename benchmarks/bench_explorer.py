"""How big the report's neighbour explorer gets, and how long its export takes, by catalogue size.

    python benchmarks/bench_explorer.py                       # 1M songs, 5 configurations
    python benchmarks/bench_explorer.py --songs 20000 --configurations 3

A synthetic dataset (``embench.data.synthetic``) and random song vectors stand in for trained
configurations: random neighbours are all different songs, the worst case for the page (every
neighbour adds a song to the embedded list). The export runs as ``embench run`` runs it
(HardNeg's hard-negative flag included), then the explorer's part of the page is built as
``embench report`` builds it. Printed: the export time, the size of ``explorer/`` on disk, and
the bytes the explorer and the map add to ``report.html``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from embench.data.split import make_split
from embench.data.synthetic import generate
from embench.embedding import Embedding
from embench.report import explorer, explorer_data
from embench.report.explorer_section import explorer_section
from embench.report.load import Run
from embench_plugins.hardneg import HardNeg, HardNegOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=1_000_000)
    parser.add_argument("--sequences", type=int, default=100_000)
    parser.add_argument("--configurations", type=int, default=5)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--map", choices=("pca", "tsne"), default="pca")
    args = parser.parse_args()

    start = time.perf_counter()
    dataset = generate(songs=args.songs, sequences=args.sequences, seed=1)
    split = make_split(dataset, (0.98, 0.01, 0.01), seed=1)
    print(
        f"dataset: {dataset.n_songs:,} songs, {dataset.sequences.n_events:,} plays "
        f"({time.perf_counter() - start:.1f} s)"
    )
    played = np.unique(split.train.songs)
    rng = np.random.default_rng(0)
    embeddings = {
        f"c{i}": Embedding(played, rng.normal(size=(len(played), args.dim)).astype(np.float32))
        for i in range(args.configurations)
    }
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        start = time.perf_counter()
        explorer.export_explorer(
            run_dir,
            embeddings,
            dataset,
            split,
            metrics=[("hardneg", HardNeg(), HardNegOptions())],
            settings=explorer.Settings(map=args.map),
            seed=1,
            part="test",
            threads=args.threads,
        )
        seconds = time.perf_counter() - start
        files = {p.name: p.stat().st_size for p in (run_dir / explorer_data.EXPLORER).iterdir()}
        run = Run(
            path=run_dir,
            summary={"configurations": [{"name": n} for n in embeddings], "compared_with": "c0"},
            config={},
        )
        start = time.perf_counter()
        section = explorer_section(run)
        page_seconds = time.perf_counter() - start
        data = explorer_data.page_data(explorer_data.load_explorer(run_dir))
    print(
        f"export: {seconds:.1f} s for {args.configurations} configurations ({args.map} map); "
        "explorer/ on disk: "
        + ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in sorted(files.items()))
    )
    print(
        f"page: {len(section.encode()) / 1e6:.2f} MB added to report.html "
        f"({len(data['seeds'])} songs to explore, {len(data['songs']):,} songs named, "
        f"{sum(len(p) for p in data['map'].values()):,} map points; built in {page_seconds:.1f} s)"
    )


if __name__ == "__main__":
    main()
