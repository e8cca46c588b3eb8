"""``embench neighbours RUN SONG``: a song's nearest neighbours in a finished run, training nothing.

The same table as the report's neighbour explorer, computed from the run's exported vectors
(``embeddings/NAME/vectors.npy`` + ``songs.parquet``) with the same exact top-k. Same artist
and same genre come from the run's song table; the flags that need the training data (the true
next song, a metric's flags such as HardNeg's hard negative) come from the explorer's export
(``explorer/neighbours.parquet``), so they are known for the report's songs and their top-k;
they are left out for other songs and shown as ``?`` beyond the exported top-k.
"""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from embench.report.console import print_full
from embench.report.load import load_run
from embench.report.neighbour_tables import NeighbourTable, neighbour_tables


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="output directory of embench run")
    parser.add_argument(
        "song", metavar="SONG", help="song id, or its title or artist (a unique match)"
    )
    parser.add_argument(
        "--configuration",
        "-c",
        metavar="NAME",
        help="only this configuration (default: every configuration with exported vectors)",
    )
    parser.add_argument(
        "--k", type=int, default=None, help="neighbours shown (default: the report's k, 10)"
    )
    parser.add_argument("--json", action="store_true", help="print the tables as JSON")


def flag_text(table: NeighbourTable, flags: dict[str, bool | None]) -> str:
    shown = []
    for flag in table.flags:
        state = flags.get(flag["key"])
        if state:
            shown.append(flag["label"])
        elif state is None:
            shown.append(f"{flag['label']}?")
    return ", ".join(shown)


def render(table: NeighbourTable) -> Table:
    song = table.song
    title = f"{song['title'] or '?'} - {song['artist'] or '?'} ({song['song_id']})"
    out = Table(title=f"{table.configuration}: neighbours of {title}")
    for column in ("rank", "song_id", "title", "artist", "genre", "cosine", "plays", "flags"):
        numeric = column in ("rank", "cosine", "plays")
        out.add_column(column, justify="right" if numeric else "left")
    for row in table.rows:
        out.add_row(
            str(row["rank"]),
            row["song_id"],
            row["title"] or "",
            row["artist"] or "",
            row["genre"] or "",
            f"{row['cosine']:.3f}",
            "" if row["plays"] is None else f"{row['plays']:,}",
            flag_text(table, row["flags"]),
        )
    return out


def run(args: argparse.Namespace) -> int:
    run_dir = load_run(args.run_dir, journals=False)
    tables = neighbour_tables(run_dir, args.song, args.configuration, args.k)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "configuration": t.configuration,
                        "song": t.song,
                        "neighbours": t.rows,
                        "note": t.note,
                    }
                    for t in tables
                ],
                indent=1,
            )
        )
        return 0
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    for table in tables:
        print_full(render(table), console)
        if table.note:
            err.print(table.note)
    if not tables:
        return 0
    legend = "; ".join(f"{f['label']}: {f['description']}" for f in tables[0].flags)
    if legend:
        err.print(f"flags: {legend}")
    if tables[0].missing:
        labels = ", ".join(f"'{f['label']}'" for f in tables[0].missing)
        err.print(
            f"not shown: {labels}: these flags need the training data; the run exports them "
            "for the report's explorer songs only (explorer/neighbours.parquet), and this "
            "song is not one of them"
        )
    if any(v is None for t in tables for r in t.rows for v in r["flags"].values()):
        err.print(
            "a flag shown with '?' is unknown: the run exports it for the report's top-k "
            "neighbours only; ask for fewer neighbours (--k) to see it"
        )
    return 0
